//! API tokens: creation (generated or admin-chosen values), listing with public ids and hints,
//! revocation, expiry, last-used time, and resolution (one indexed lookup of the SHA-256
//! digest plus a constant-time compare: the cost does not depend on how many tokens exist).

use chrono::{DateTime, Utc};
use recozik_storage::StorageError;
use recozik_storage::tokens::{self, ApiToken, NewApiToken};
use recozik_storage::users::{self, User};
use serde::Serialize;

use crate::Auth;
use crate::error::{AuthError, Result, ValidationError};
use crate::model::{
    Feature, RawQuotaLimits, features_from_stored, holds_role, normalize_features,
    normalize_quota_limits, normalize_roles,
};
use crate::principal::Principal;
use crate::secret::{constant_time_eq, digest, display_hint, generate_api_token, hint_of};

/// `POST /admin/tokens` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTokenRequest {
    /// An admin-chosen value; `None` or empty: a value is generated. In production mode a
    /// chosen value must have at least `min_token_length_production` (24) characters.
    pub token: Option<String>,
    /// Owner.
    pub user_id: i64,
    /// Label (required, trimmed).
    pub display_name: String,
    /// Roles; every one must also be held by the owner (an `admin` owner holds every role).
    pub roles: Vec<String>,
    /// Features (validated, de-duplicated, sorted), each held by the owner. Empty: every
    /// feature of the owner (stored as the owner's list when the owner's is restricted).
    pub allowed_features: Vec<String>,
    /// Quota limits (scopes validated, limits ≥ 0, `None` = unlimited).
    pub quota_limits: RawQuotaLimits,
    /// Optional expiry (must be in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Stable public id (for `DELETE /admin/tokens/{id}`).
    pub id: String,
    /// `****` + the last 4 characters of the value.
    pub token_hint: String,
    /// Owner.
    pub user_id: i64,
    /// Label.
    pub display_name: String,
    /// Stored roles (effective roles are capped by the owner's at use).
    pub roles: Vec<String>,
    /// Stored features (empty = all).
    pub allowed_features: Vec<String>,
    /// Stored quota limits.
    pub quota_limits: RawQuotaLimits,
    /// Seed marker (`admin`, `readonly`) for tokens managed by seeding.
    pub seed: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (written at most once per `token_last_used_interval_secs`).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for TokenInfo {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.public_id.clone(),
            token_hint: display_hint(&t.hint),
            user_id: t.user_id,
            display_name: t.display_name.clone(),
            roles: t.roles.clone(),
            allowed_features: t.allowed_features.clone(),
            quota_limits: t.quota_limits.clone(),
            seed: t.seed.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
        }
    }
}

/// A created token: the raw value, shown this once, and its listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedToken {
    /// The raw value. Not stored; cannot be shown again.
    pub token: String,
    /// The stored token.
    pub info: TokenInfo,
}

/// Checks an admin-chosen token value: no whitespace/control characters; in production at
/// least `min_len` characters.
pub(crate) fn check_chosen_value(
    value: &str,
    production: bool,
    min_len: usize,
) -> Result<(), ValidationError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::TokenInvalidCharacters);
    }
    if production && value.chars().count() < min_len {
        return Err(ValidationError::TokenTooShort(min_len));
    }
    Ok(())
}

/// The feature list to store for a token of `owner`: the requested features when the owner
/// holds them all, the owner's own list for an empty request ("every feature", which must not
/// mean more than the owner has), else [`ValidationError::FeatureNotHeldByOwner`]. An owner
/// with an empty list holds every feature.
fn capped_by_owner(requested: &[Feature], owner: &User) -> Result<Vec<String>, ValidationError> {
    let owner_features = features_from_stored(&owner.allowed_features, &owner.username);
    if owner_features.is_empty() {
        return Ok(names(requested));
    }
    if requested.is_empty() {
        return Ok(names(&owner_features));
    }
    match requested.iter().find(|f| !owner_features.contains(f)) {
        Some(missing) => Err(ValidationError::FeatureNotHeldByOwner(*missing)),
        None => Ok(names(requested)),
    }
}

fn names(features: &[Feature]) -> Vec<String> {
    features.iter().map(|f| f.as_str().to_owned()).collect()
}

impl Auth {
    /// Creates an API token. Checks, in order: the owner exists
    /// ([`AuthError::TokenOwnerNotFound`], 404); features, quota scopes, roles, display name,
    /// expiry and a chosen value are valid ([`AuthError::Validation`], 400), and the owner holds
    /// every role ([`ValidationError::RoleNotHeldByOwner`]; `admin` implies every role) and
    /// every feature ([`ValidationError::FeatureNotHeldByOwner`]) given to the token; the value
    /// is not already in use ([`AuthError::DuplicateToken`], 409).
    pub fn create_token(&self, request: &NewTokenRequest) -> Result<CreatedToken> {
        let mut conn = self.db.conn()?;
        let Some(owner) = users::get(&mut conn, request.user_id)? else {
            return Err(AuthError::TokenOwnerNotFound(request.user_id));
        };
        let requested_features = normalize_features(&request.allowed_features)?;
        let allowed_features = capped_by_owner(&requested_features, &owner)?;
        let quota_limits = normalize_quota_limits(&request.quota_limits)?;
        let roles = normalize_roles(&request.roles)?;
        if let Some(role) = roles.iter().find(|r| !holds_role(&owner.roles, r)) {
            return Err(ValidationError::RoleNotHeldByOwner(role.clone()).into());
        }
        let display_name = request.display_name.trim();
        if display_name.is_empty() {
            return Err(ValidationError::DisplayNameRequired.into());
        }
        if let Some(expiry) = request.expires_at
            && expiry <= self.now()
        {
            return Err(ValidationError::ExpiryInPast.into());
        }
        let raw = match request.token.as_deref().filter(|t| !t.is_empty()) {
            Some(chosen) => {
                check_chosen_value(
                    chosen,
                    self.settings.production_mode,
                    self.settings.min_token_length_production,
                )?;
                chosen.to_owned()
            }
            None => generate_api_token(),
        };
        let new = NewApiToken {
            user_id: owner.id,
            digest: digest(&raw),
            hint: hint_of(&raw),
            display_name: display_name.to_owned(),
            roles,
            allowed_features,
            quota_limits,
            seed: None,
            expires_at: request.expires_at,
        };
        let stored = match tokens::create(&mut conn, &new) {
            Ok(t) => t,
            Err(StorageError::Conflict(_)) => return Err(AuthError::DuplicateToken),
            Err(StorageError::MissingReference(_)) => {
                return Err(AuthError::TokenOwnerNotFound(request.user_id));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(CreatedToken {
            token: raw,
            info: TokenInfo::from(&stored),
        })
    }

    /// Every token, in creation order.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let mut conn = self.db.conn()?;
        Ok(tokens::list(&mut conn)?
            .iter()
            .map(TokenInfo::from)
            .collect())
    }

    /// A user's tokens, in creation order.
    pub fn list_user_tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>> {
        let mut conn = self.db.conn()?;
        Ok(tokens::list_for_user(&mut conn, user_id)?
            .iter()
            .map(TokenInfo::from)
            .collect())
    }

    /// Revokes a token by public id; [`AuthError::TokenNotFound`] if there is none. The value
    /// stops working at once.
    pub fn revoke_token(&self, public_id: &str) -> Result<()> {
        let mut conn = self.db.conn()?;
        if tokens::delete_by_public_id(&mut conn, public_id)? {
            Ok(())
        } else {
            Err(AuthError::TokenNotFound)
        }
    }

    /// The principal of an `X-API-Token` value: one indexed query on the digest (token and
    /// owner together), a constant-time compare, then the expiry and the owner's active flag.
    /// [`AuthError::MissingAuth`] for an empty value, [`AuthError::InvalidToken`] for an
    /// unknown or expired one, [`AuthError::UserDisabled`] for a deactivated owner.
    pub fn resolve_token(&self, raw: &str) -> Result<Principal> {
        if raw.is_empty() {
            return Err(AuthError::MissingAuth);
        }
        let presented = digest(raw);
        let mut conn = self.db.conn()?;
        let Some((token, user)) = tokens::find_by_digest_with_user(&mut conn, &presented)? else {
            return Err(AuthError::InvalidToken);
        };
        let now = self.now();
        if !constant_time_eq(&token.digest, &presented) || token.is_expired_at(now) {
            return Err(AuthError::InvalidToken);
        }
        if !user.is_active {
            return Err(AuthError::UserDisabled);
        }
        let interval = self.settings.token_last_used_interval();
        let stale = token
            .last_used_at
            .is_none_or(|t| (now - t).to_std().is_ok_and(|elapsed| elapsed >= interval));
        if stale && let Err(e) = tokens::touch_last_used(&mut conn, token.id, now, interval) {
            tracing::warn!(error = %e, token = %token.public_id, "could not record token use");
        }
        Ok(Principal::from_token(&token, &user))
    }
}
