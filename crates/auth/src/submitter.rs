//! Deferred work on someone's behalf: a durable *reference* to the principal that submitted
//! it ([`Submitter`]), and the re-check that turns it back into a [`Principal`] when the work
//! runs ([`Auth::recheck_submitter`]).
//!
//! A reference, never a principal snapshot: roles, features and quotas are re-read when the
//! work runs, so a revoked or expired token, a deleted or deactivated user or a narrowed
//! feature list applies to work still waiting in a queue. The same user-active and
//! token-expiry rules as request authentication apply; a session that ended since is fine (a
//! job outlives a logout).

use recozik_storage::StorageError;
use recozik_storage::{tokens, users};
use serde::{Deserialize, Serialize};

use crate::Auth;
use crate::principal::{AuthMethod, Principal};

/// How the submitter authenticated. Serialised inside job payloads: the field names and the
/// `kind` tags are a stored format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubmittedVia {
    /// The session cookie (the session itself may have ended since).
    Session {
        /// Session row id.
        session_id: i64,
        /// Session family.
        family_id: String,
    },
    /// An API token, by its public id (the work is refused if the token was revoked).
    Token {
        /// Public id of the token.
        token_id: String,
    },
}

/// Who submitted a piece of deferred work. A stored format (see [`SubmittedVia`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitter {
    /// Immutable user id.
    pub user_id: i64,
    /// How they authenticated.
    pub via: SubmittedVia,
}

impl Submitter {
    /// The reference to `principal`.
    pub fn of(principal: &Principal) -> Self {
        let via = match &principal.method {
            AuthMethod::Session {
                session_id,
                family_id,
            } => SubmittedVia::Session {
                session_id: *session_id,
                family_id: family_id.clone(),
            },
            AuthMethod::Token { token_id } => SubmittedVia::Token {
                token_id: token_id.clone(),
            },
        };
        Self {
            user_id: principal.user_id,
            via,
        }
    }
}

/// Why a submitter's principal cannot be rebuilt. The texts are shown to the work's owner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecheckError {
    /// The user was deleted.
    #[error("The account that submitted this job no longer exists")]
    UserGone,
    /// The user was deactivated.
    #[error("The account that submitted this job is disabled")]
    UserDisabled,
    /// The token was revoked (or never belonged to this user).
    #[error("The API token that submitted this job has been revoked")]
    TokenRevoked,
    /// The token's expiry has passed.
    #[error("The API token that submitted this job has expired")]
    TokenExpired,
    /// The auth database could not be read (an internal failure, not the owner's doing).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RecheckError {
    /// Whether the refusal is about the submitter (its text may be shown to them), as opposed
    /// to a failure of this server.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Storage(_))
    }
}

impl Auth {
    /// Rebuilds `submitter`'s principal from the auth database as it is now, applying the
    /// user-active and token-expiry rules at this service's clock. Blocking (two indexed
    /// reads at most).
    pub fn recheck_submitter(&self, submitter: &Submitter) -> Result<Principal, RecheckError> {
        let mut conn = self.database().conn()?;
        let user = users::get(&mut conn, submitter.user_id)?.ok_or(RecheckError::UserGone)?;
        if !user.is_active {
            return Err(RecheckError::UserDisabled);
        }
        match &submitter.via {
            SubmittedVia::Session {
                session_id,
                family_id,
            } => Ok(Principal::from_session(&user, *session_id, family_id)),
            SubmittedVia::Token { token_id } => {
                let token = tokens::find_by_public_id(&mut conn, token_id)?
                    .filter(|token| token.user_id == user.id)
                    .ok_or(RecheckError::TokenRevoked)?;
                if token.is_expired_at(self.now()) {
                    return Err(RecheckError::TokenExpired);
                }
                Ok(Principal::from_token(&token, &user))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_format_is_unchanged() {
        let submitter = Submitter {
            user_id: 7,
            via: SubmittedVia::Token {
                token_id: "tok_abc".to_owned(),
            },
        };
        let text = serde_json::to_string(&submitter).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"user_id":7,"via":{"kind":"token","token_id":"tok_abc"}}"#
        );
        let session: Result<Submitter, _> = serde_json::from_str(
            r#"{"user_id":1,"via":{"kind":"session","session_id":3,"family_id":"f"}}"#,
        );
        assert!(
            session.is_ok_and(|s| matches!(s.via, SubmittedVia::Session { session_id: 3, .. }))
        );
    }
}
