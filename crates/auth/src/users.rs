//! User administration and password changes. Every write path validates roles, features,
//! quota scopes, e-mail and username, so a stored value can never break a later request.

use chrono::{DateTime, Utc};
use recozik_storage::StorageError;
use recozik_storage::sessions;
use recozik_storage::users::{self, GuardedChange, NewUser, User, UserUpdate};
use serde::Serialize;

use crate::Auth;
use crate::error::{AuthError, Result, ValidationError};
use crate::model::{
    ADMIN_ROLE, RawQuotaLimits, USER_ROLE, normalize_feature_names, normalize_quota_limits,
    normalize_roles,
};
use crate::password::{check_password_strength, normalize_email, normalize_username};

/// A user as the API shows it (`UserResponse`; never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    /// Immutable id.
    pub id: i64,
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Active flag.
    pub is_active: bool,
    /// Roles.
    pub roles: Vec<String>,
    /// Features (empty = all).
    pub allowed_features: Vec<String>,
    /// Quota limits.
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub quota_limits: RawQuotaLimits,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            is_active: u.is_active,
            roles: u.roles.clone(),
            allowed_features: u.allowed_features.clone(),
            quota_limits: u.quota_limits.clone(),
            created_at: u.created_at,
        }
    }
}

/// `POST /auth/register` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUserRequest {
    /// Username (trimmed; 1–150 characters, no whitespace).
    pub username: String,
    /// E-mail (validated, lower-cased).
    pub email: String,
    /// Display name (blank = none).
    pub display_name: Option<String>,
    /// Password (strength rules).
    pub password: String,
    /// Roles; `None` gives `["user"]`.
    pub roles: Option<Vec<String>>,
    /// Features (validated; empty = all).
    pub allowed_features: Vec<String>,
    /// Quota limits (validated).
    pub quota_limits: RawQuotaLimits,
}

/// `PUT /admin/users/{id}` input: `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New e-mail (validated, lower-cased).
    pub email: Option<String>,
    /// New display name; `Some("")` (blank) clears it.
    pub display_name: Option<String>,
    /// Activate/deactivate; deactivating also deletes the user's sessions.
    pub is_active: Option<bool>,
    /// New roles (validated).
    pub roles: Option<Vec<String>>,
    /// New features (validated).
    pub allowed_features: Option<Vec<String>>,
    /// New quota limits (validated).
    pub quota_limits: Option<RawQuotaLimits>,
}

fn blank_to_none(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Auth {
    /// Creates a user (admin action). Checks, in order: username format, username free
    /// ([`AuthError::UsernameExists`]), password strength, e-mail, roles, features, quota
    /// scopes (all [`AuthError::Validation`]); a unique violation on insert gives
    /// [`AuthError::EmailOrUsernameExists`]. Blocking (Argon2).
    pub fn register(&self, request: &NewUserRequest) -> Result<UserInfo> {
        let username = normalize_username(&request.username)?;
        let mut conn = self.db.conn()?;
        if users::find_by_username(&mut conn, &username)?.is_some() {
            return Err(AuthError::UsernameExists);
        }
        check_password_strength(&request.password)?;
        let email = normalize_email(&request.email)?;
        let roles = match &request.roles {
            Some(r) => normalize_roles(r)?,
            None => vec![USER_ROLE.to_owned()],
        };
        let allowed_features = normalize_feature_names(&request.allowed_features)?;
        let quota_limits = normalize_quota_limits(&request.quota_limits)?;
        let password_hash = self.hasher.hash(&request.password)?;
        let new = NewUser {
            username,
            email,
            display_name: blank_to_none(request.display_name.as_deref()),
            password_hash,
            is_active: true,
            roles,
            allowed_features,
            quota_limits,
        };
        match users::create(&mut conn, &new) {
            Ok(u) => Ok(UserInfo::from(&u)),
            Err(StorageError::Conflict(_)) => Err(AuthError::EmailOrUsernameExists),
            Err(e) => Err(e.into()),
        }
    }

    /// One user; [`AuthError::UserNotFound`].
    pub fn get_user(&self, user_id: i64) -> Result<UserInfo> {
        let mut conn = self.db.conn()?;
        users::get(&mut conn, user_id)?
            .as_ref()
            .map(UserInfo::from)
            .ok_or(AuthError::UserNotFound)
    }

    /// Users by ascending id. `limit` is clamped to 1..=500 and `offset` to ≥ 0.
    pub fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<UserInfo>> {
        let mut conn = self.db.conn()?;
        Ok(users::list(&mut conn, limit.clamp(1, 500), offset.max(0))?
            .iter()
            .map(UserInfo::from)
            .collect())
    }

    /// Partial update (admin action). [`AuthError::UserNotFound`]; validation errors (400);
    /// [`AuthError::EmailExists`] on an e-mail clash; [`ValidationError::LastAdmin`] when the
    /// change would leave no active admin. Deactivation deletes the user's sessions (their
    /// tokens stop working too, since token resolution checks the active flag).
    pub fn update_user(&self, user_id: i64, patch: &UserPatch) -> Result<UserInfo> {
        let mut conn = self.db.conn()?;
        // An unknown user is a 404 before any validation error.
        if users::get(&mut conn, user_id)?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        let email = patch.email.as_deref().map(normalize_email).transpose()?;
        let roles = patch.roles.as_deref().map(normalize_roles).transpose()?;
        let allowed_features = patch
            .allowed_features
            .as_deref()
            .map(normalize_feature_names)
            .transpose()?;
        let quota_limits = patch
            .quota_limits
            .as_ref()
            .map(normalize_quota_limits)
            .transpose()?;
        let update = UserUpdate {
            email,
            display_name: patch
                .display_name
                .as_deref()
                .map(|d| blank_to_none(Some(d))),
            password_hash: None,
            is_active: patch.is_active,
            roles,
            allowed_features,
            quota_limits,
        };
        // The last-admin check and the write are one atomic storage step: two requests
        // demoting or deactivating two different admins at once cannot both pass.
        let updated = match users::update_keeping_role(&mut conn, user_id, &update, ADMIN_ROLE) {
            Ok(GuardedChange::Done(u)) => u,
            Ok(GuardedChange::NotFound) => return Err(AuthError::UserNotFound),
            Ok(GuardedChange::LastHolder) => return Err(ValidationError::LastAdmin.into()),
            Err(StorageError::Conflict(_)) => return Err(AuthError::EmailExists),
            Err(e) => return Err(e.into()),
        };
        if !updated.is_active {
            sessions::delete_for_user(&mut conn, user_id)?;
        }
        Ok(UserInfo::from(&updated))
    }

    /// Deletes a user with their sessions, tokens and quota usage (cascade).
    /// [`AuthError::UserNotFound`]; [`ValidationError::LastAdmin`] for the last active admin.
    pub fn delete_user(&self, user_id: i64) -> Result<()> {
        let mut conn = self.db.conn()?;
        match users::delete_keeping_role(&mut conn, user_id, ADMIN_ROLE)? {
            GuardedChange::Done(()) => Ok(()),
            GuardedChange::NotFound => Err(AuthError::UserNotFound),
            GuardedChange::LastHolder => Err(ValidationError::LastAdmin.into()),
        }
    }

    /// Changes the password of a (session) user: wrong old password →
    /// [`AuthError::InvalidCredentials`] (a missing user costs the same time), then the
    /// strength rules; on success every session of the user is deleted (the caller clears the
    /// cookies). API tokens are kept. Blocking (Argon2).
    pub fn change_password(
        &self,
        user_id: i64,
        old_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let mut conn = self.db.conn()?;
        let Some(user) = users::get(&mut conn, user_id)? else {
            self.hasher.verify_dummy(old_password);
            return Err(AuthError::InvalidCredentials);
        };
        if !self.hasher.verify(old_password, &user.password_hash) {
            return Err(AuthError::InvalidCredentials);
        }
        check_password_strength(new_password)?;
        self.set_password(&mut conn, user_id, new_password)
    }

    /// Sets a new password (admin action): [`AuthError::UserNotFound`], then the strength
    /// rules; every session of the user is deleted. Blocking (Argon2).
    pub fn reset_password(&self, user_id: i64, new_password: &str) -> Result<()> {
        let mut conn = self.db.conn()?;
        if users::get(&mut conn, user_id)?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        check_password_strength(new_password)?;
        self.set_password(&mut conn, user_id, new_password)
    }

    fn set_password(
        &self,
        conn: &mut recozik_storage::Conn,
        user_id: i64,
        password: &str,
    ) -> Result<()> {
        let update = UserUpdate {
            password_hash: Some(self.hasher.hash(password)?),
            ..UserUpdate::default()
        };
        if users::update(conn, user_id, &update)?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        sessions::delete_for_user(conn, user_id)?;
        Ok(())
    }
}
