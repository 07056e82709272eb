//! What an upload job carries in its durable payload, and how a worker turns it back into a
//! principal and an identify request when the job runs.
//!
//! The payload stores the request options of `POST /identify/upload` and a *reference* to the
//! principal (user id plus how it authenticated), never a principal snapshot: roles, features
//! and quotas are re-read when the job runs, so a revoked token, a deleted or deactivated user
//! or a narrowed feature list applies to jobs still waiting in the queue.

use std::path::Path;

use recozik_auth::{AuthMethod, Principal};
use recozik_core::IdentifyRequest;
use recozik_storage::{Database, tokens, users};
use serde::{Deserialize, Serialize};

use crate::pipeline::{IdentifyOptions, build_request};
use crate::settings::Settings;

/// Current payload format version.
pub const PAYLOAD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubmittedVia {
    /// The session cookie (the session itself may have ended since: a job outlives a logout).
    Session { session_id: i64, family_id: String },
    /// An API token, by its public id (the job fails if the token was revoked meanwhile).
    Token { token_id: String },
}

/// Who submitted the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitter {
    pub user_id: i64,
    pub via: SubmittedVia,
}

impl Submitter {
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

/// The JSON stored in `jobs.payload` for an upload job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    pub version: u32,
    pub options: IdentifyOptions,
    pub submitter: Submitter,
}

impl JobPayload {
    pub fn new(options: IdentifyOptions, principal: &Principal) -> Self {
        Self {
            version: PAYLOAD_VERSION,
            options,
            submitter: Submitter::of(principal),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of plain fields always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Why the submitter's principal cannot be rebuilt; the texts are shown to the job's owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("The account that submitted this job no longer exists")]
    UserGone,
    #[error("The account that submitted this job is disabled")]
    UserDisabled,
    #[error("The API token that submitted this job has been revoked")]
    TokenRevoked,
    #[error("The API token that submitted this job has expired")]
    TokenExpired,
    /// The database could not be read (logged; the job fails as an unexpected error).
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<recozik_storage::StorageError> for PrincipalError {
    fn from(error: recozik_storage::StorageError) -> Self {
        Self::Storage(error.to_string())
    }
}

/// Rebuilds the submitter's principal from the auth database as it is now. Blocking.
pub fn reload_principal(
    auth_db: &Database,
    submitter: &Submitter,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Principal, PrincipalError> {
    let mut conn = auth_db.conn()?;
    let user = users::get(&mut conn, submitter.user_id)?.ok_or(PrincipalError::UserGone)?;
    if !user.is_active {
        return Err(PrincipalError::UserDisabled);
    }
    match &submitter.via {
        SubmittedVia::Session {
            session_id,
            family_id,
        } => Ok(Principal::from_session(&user, *session_id, family_id)),
        SubmittedVia::Token { token_id } => {
            let token = tokens::find_by_public_id(&mut conn, token_id)?
                .filter(|token| token.user_id == user.id)
                .ok_or(PrincipalError::TokenRevoked)?;
            if token.is_expired_at(now) {
                return Err(PrincipalError::TokenExpired);
            }
            Ok(Principal::from_token(&token, &user))
        }
    }
}

/// The identify request of an upload job (web-api.md §9.1): the upload's options, with the
/// cache settings taken from the server settings.
pub fn identify_request(
    settings: &Settings,
    audio_path: &Path,
    options: &IdentifyOptions,
) -> IdentifyRequest {
    build_request(settings, audio_path.to_owned(), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_keeps_defaults() {
        let payload = JobPayload {
            version: PAYLOAD_VERSION,
            options: IdentifyOptions {
                prefer_audd: true,
                enable_audd: Some(false),
                ..IdentifyOptions::default()
            },
            submitter: Submitter {
                user_id: 7,
                via: SubmittedVia::Token {
                    token_id: "tok_abc".to_owned(),
                },
            },
        };
        let text = payload.to_json();
        assert!(text.contains(r#""kind":"token""#), "{text}");
        assert_eq!(JobPayload::from_json(&text).ok(), Some(payload));
        let partial = r#"{"version":1,"options":{},"submitter":{"user_id":1,"via":{"kind":"session","session_id":3,"family_id":"f"}}}"#;
        let parsed = JobPayload::from_json(partial).ok();
        assert_eq!(parsed.map(|p| p.options), Some(IdentifyOptions::default()));
    }

    #[test]
    fn audd_needs_a_token_whatever_the_option() {
        let mut settings = Settings::default();
        let options = IdentifyOptions {
            enable_audd: Some(true),
            ..IdentifyOptions::default()
        };
        let request = identify_request(&settings, Path::new("/x.mp3"), &options);
        assert!(!request.audd.enabled);
        settings.audd_token = Some("tok".to_owned());
        let request = identify_request(&settings, Path::new("/x.mp3"), &IdentifyOptions::default());
        assert!(request.audd.enabled);
        assert!(request.musicbrainz.enabled);
        let off = IdentifyOptions {
            enable_audd: Some(false),
            ..IdentifyOptions::default()
        };
        assert!(
            !identify_request(&settings, Path::new("/x.mp3"), &off)
                .audd
                .enabled
        );
    }
}
