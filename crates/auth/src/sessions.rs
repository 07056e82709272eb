//! Browser sessions (login, refresh, logout) and principal resolution.
//!
//! * Login issues three random secrets: the access secret (`recozik_session` cookie, 1 h), the
//!   refresh secret (`recozik_refresh`, 7 days or 30 with "remember") and the CSRF token
//!   (`recozik_csrf`, which lives as long as the refresh cookie so refresh and logout keep
//!   working). Only SHA-256 digests of the first two are stored.
//! * Refresh rotates both secrets inside the same session family. Presenting an already
//!   rotated refresh secret again, however soon after the rotation, revokes the whole family
//!   (OAuth 2.0 security BCP, refresh token rotation): the server cannot tell the owner from a
//!   thief who refreshed first, so both lose the session and the owner logs in again. There is
//!   deliberately no grace period for two tabs refreshing at once: such a window is exactly
//!   when a thief's replay would go unpunished. Of several concurrent refreshes of one secret
//!   at most one rotates it, and the others, being replays, revoke the family.
//! * A family never lives longer than `max_session_age_secs` after its login: expiries are
//!   capped at that instant.

use chrono::{DateTime, Utc};
use recozik_storage::sessions::{self, NewSession, RotateOutcome, Rotation, Session};
use recozik_storage::users::{self, User};
use serde::Serialize;

use crate::Auth;
use crate::error::{AuthError, Result};
use crate::principal::{
    CSRF_COOKIE, CookieSpec, CredentialSource, Principal, REFRESH_COOKIE, SESSION_COOKIE, SameSite,
    clear_cookies, is_unsafe_method,
};
use crate::secret::{SECRET_BYTES, constant_time_eq, digest, random_secret};
use crate::settings::AuthSettings;

/// A freshly issued (login) or rotated (refresh) session, with its raw secrets. The secrets
/// go into cookies and are never stored.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The user, as stored (note: it holds the password hash; do not serialise it).
    pub user: User,
    /// Session row id.
    pub session_id: i64,
    /// Session family id.
    pub family_id: String,
    /// Raw access secret (`recozik_session` cookie).
    pub access_token: String,
    /// Raw refresh secret (`recozik_refresh` cookie).
    pub refresh_token: String,
    /// CSRF token (`recozik_csrf` cookie; the client echoes it in `X-CSRF-Token`).
    pub csrf_token: String,
    /// When now + the access lifetime is over (capped by the absolute session age).
    pub access_expires_at: DateTime<Utc>,
    /// When the refresh lifetime is over (capped by the absolute session age).
    pub refresh_expires_at: DateTime<Utc>,
    /// The "remember" flag.
    pub remember: bool,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
}

/// The JSON body of login and refresh responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Username.
    pub username: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// The user's stored feature list, as stored (empty means all features).
    pub allowed_features: Vec<String>,
    /// Access expiry (RFC 3339 UTC).
    pub access_expires_at: DateTime<Utc>,
    /// Refresh expiry (RFC 3339 UTC).
    pub refresh_expires_at: DateTime<Utc>,
}

impl IssuedSession {
    /// The response body.
    pub fn response(&self) -> LoginResponse {
        LoginResponse {
            username: self.user.username.clone(),
            roles: self.user.roles.clone(),
            allowed_features: self.user.allowed_features.clone(),
            access_expires_at: self.access_expires_at,
            refresh_expires_at: self.refresh_expires_at,
        }
    }

    /// The three cookies to set: session (access lifetime), refresh and CSRF (refresh
    /// lifetime). All `Path=/`; `Secure` and `SameSite=Strict` in production, else `Lax`;
    /// `HttpOnly` except the CSRF cookie.
    pub fn cookies(&self, settings: &AuthSettings) -> [CookieSpec; 3] {
        let secure = settings.production_mode;
        let same_site = if secure {
            SameSite::Strict
        } else {
            SameSite::Lax
        };
        let spec = |name, value: &str, expires: DateTime<Utc>, http_only| CookieSpec {
            name,
            value: value.to_owned(),
            path: "/",
            max_age_secs: (expires - self.issued_at).num_seconds().max(0),
            expires,
            http_only,
            secure,
            same_site,
        };
        [
            spec(
                SESSION_COOKIE,
                &self.access_token,
                self.access_expires_at,
                true,
            ),
            spec(
                REFRESH_COOKIE,
                &self.refresh_token,
                self.refresh_expires_at,
                true,
            ),
            spec(
                CSRF_COOKIE,
                &self.csrf_token,
                self.refresh_expires_at,
                false,
            ),
        ]
    }
}

/// A session as listed by the admin endpoints (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Issue time of this row.
    pub created_at: DateTime<Utc>,
    /// Access expiry.
    pub expires_at: DateTime<Utc>,
    /// Refresh expiry.
    pub refresh_expires_at: DateTime<Utc>,
    /// Remember flag.
    pub remember: bool,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id,
            user_id: s.user_id,
            created_at: s.created_at,
            expires_at: s.access_expires_at,
            refresh_expires_at: s.refresh_expires_at,
            remember: s.remember,
        }
    }
}

/// Revokes the family of a replayed (already rotated) refresh secret and returns the error to
/// answer with.
fn revoke_replayed_family(
    conn: &mut recozik_storage::Conn,
    replayed: &Session,
) -> Result<AuthError> {
    let revoked = sessions::delete_family(conn, &replayed.family_id)?;
    tracing::warn!(
        user_id = replayed.user_id,
        family = %replayed.family_id,
        revoked,
        "replayed refresh token: session family revoked"
    );
    Ok(AuthError::RefreshReused)
}

impl Auth {
    fn expiries(
        &self,
        now: DateTime<Utc>,
        family_started_at: DateTime<Utc>,
        remember: bool,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let cap = family_started_at + self.settings.max_session_age();
        let access = (now + self.settings.access_ttl()).min(cap);
        let refresh = (now + self.settings.refresh_ttl(remember)).min(cap);
        (access, refresh)
    }

    /// Checks a username and password and opens a session. Blocking (Argon2).
    ///
    /// * unknown user or wrong password: [`AuthError::InvalidCredentials`], in the same time
    ///   (an unknown user is verified against a dummy hash);
    /// * right password of a deactivated user: [`AuthError::UserDisabled`];
    /// * the stored hash is upgraded when the hashing parameters changed.
    ///
    /// The caller runs the `Login` rate limit first and sets [`IssuedSession::cookies`].
    pub fn login(&self, username: &str, password: &str, remember: bool) -> Result<IssuedSession> {
        let mut conn = self.db.conn()?;
        let Some(user) = users::find_by_username(&mut conn, username)? else {
            self.hasher.verify_dummy(password);
            return Err(AuthError::InvalidCredentials);
        };
        if !self.hasher.verify(password, &user.password_hash) {
            return Err(AuthError::InvalidCredentials);
        }
        if !user.is_active {
            return Err(AuthError::UserDisabled);
        }
        if self.hasher.needs_rehash(&user.password_hash) {
            let new_hash = self.hasher.hash(password)?;
            let update = users::UserUpdate {
                password_hash: Some(new_hash),
                ..users::UserUpdate::default()
            };
            users::update(&mut conn, user.id, &update)?;
            tracing::info!(user = %user.username, "password rehashed with the current parameters");
        }
        let now = self.now();
        let access = random_secret(SECRET_BYTES);
        let refresh = random_secret(SECRET_BYTES);
        let (access_expires_at, refresh_expires_at) = self.expiries(now, now, remember);
        let session = sessions::create(
            &mut conn,
            &NewSession {
                user_id: user.id,
                access_digest: digest(&access),
                refresh_digest: digest(&refresh),
                remember,
                access_expires_at,
                refresh_expires_at,
            },
        )?;
        Ok(IssuedSession {
            user,
            session_id: session.id,
            family_id: session.family_id,
            access_token: access,
            refresh_token: refresh,
            csrf_token: random_secret(SECRET_BYTES),
            access_expires_at,
            refresh_expires_at,
            remember,
            issued_at: now,
        })
    }

    /// Rotates the session of a refresh secret. The caller runs the `Refresh` rate limit and
    /// the CSRF check first. Errors, in order: [`AuthError::MissingRefreshToken`],
    /// [`AuthError::InvalidRefreshToken`] (unknown secret, e.g. of a revoked family),
    /// [`AuthError::RefreshReused`] (replay of a rotated secret, including a refresh that lost
    /// a race with a concurrent one: the family is revoked),
    /// [`AuthError::RefreshExpired`] (refresh lifetime or absolute session age over),
    /// [`AuthError::UserMissing`], [`AuthError::UserDisabled`].
    pub fn refresh(&self, refresh_cookie: Option<&str>) -> Result<IssuedSession> {
        let Some(secret) = refresh_cookie.filter(|s| !s.is_empty()) else {
            return Err(AuthError::MissingRefreshToken);
        };
        let presented = digest(secret);
        let now = self.now();
        let mut conn = self.db.conn()?;
        let Some(old) = sessions::find_by_refresh_digest(&mut conn, &presented)? else {
            return Err(AuthError::InvalidRefreshToken);
        };
        if !constant_time_eq(&old.refresh_digest, &presented) {
            return Err(AuthError::InvalidRefreshToken);
        }
        if old.rotated_at.is_some() {
            return Err(revoke_replayed_family(&mut conn, &old)?);
        }
        if old.refresh_expires_at <= now
            || old.family_started_at + self.settings.max_session_age() <= now
        {
            sessions::delete_family(&mut conn, &old.family_id)?;
            return Err(AuthError::RefreshExpired);
        }
        let user = match users::get(&mut conn, old.user_id)? {
            None => {
                sessions::delete_family(&mut conn, &old.family_id)?;
                return Err(AuthError::UserMissing);
            }
            Some(u) if !u.is_active => {
                sessions::delete_family(&mut conn, &old.family_id)?;
                return Err(AuthError::UserDisabled);
            }
            Some(u) => u,
        };
        let access = random_secret(SECRET_BYTES);
        let refresh = random_secret(SECRET_BYTES);
        let (access_expires_at, refresh_expires_at) =
            self.expiries(now, old.family_started_at, old.remember);
        let rotation = Rotation {
            access_digest: digest(&access),
            refresh_digest: digest(&refresh),
            access_expires_at,
            refresh_expires_at,
        };
        match sessions::rotate(&mut conn, &presented, &rotation, now)? {
            RotateOutcome::Rotated { new, .. } => Ok(IssuedSession {
                user,
                session_id: new.id,
                family_id: new.family_id,
                access_token: access,
                refresh_token: refresh,
                csrf_token: random_secret(SECRET_BYTES),
                access_expires_at,
                refresh_expires_at,
                remember: new.remember,
                issued_at: now,
            }),
            // Another request rotated this secret between our read and our write: as far as
            // the server can tell, one of the two is a replay.
            RotateOutcome::Replayed(rotated) => Err(revoke_replayed_family(&mut conn, &rotated)?),
            RotateOutcome::NotFound => Err(AuthError::InvalidRefreshToken),
            RotateOutcome::Expired(_) => Err(AuthError::RefreshExpired),
        }
    }

    /// Ends the login(s) the cookies belong to: the whole family of the access cookie and of
    /// the refresh cookie. Unknown or missing cookies are fine. The caller checks CSRF first
    /// and clears the cookies with [`Auth::clear_cookies`].
    pub fn logout(&self, session_cookie: Option<&str>, refresh_cookie: Option<&str>) -> Result<()> {
        let mut conn = self.db.conn()?;
        if let Some(secret) = session_cookie.filter(|s| !s.is_empty())
            && let Some(s) = sessions::find_by_access_digest(&mut conn, &digest(secret))?
        {
            sessions::delete_family(&mut conn, &s.family_id)?;
        }
        if let Some(secret) = refresh_cookie.filter(|s| !s.is_empty())
            && let Some(s) = sessions::find_by_refresh_digest(&mut conn, &digest(secret))?
        {
            sessions::delete_family(&mut conn, &s.family_id)?;
        }
        Ok(())
    }

    /// The six `Set-Cookie`s that clear the auth cookies (see [`clear_cookies`]).
    pub fn clear_cookies(&self) -> Vec<CookieSpec> {
        clear_cookies(self.now())
    }

    /// The principal of a session cookie: `Ok(None)` when the cookie is unknown, rotated or
    /// expired (callers fall through), [`AuthError::UserDisabled`] for a deactivated user.
    pub fn resolve_session(&self, session_cookie: &str) -> Result<Option<Principal>> {
        if session_cookie.is_empty() {
            return Ok(None);
        }
        let presented = digest(session_cookie);
        let mut conn = self.db.conn()?;
        let Some((session, user)) =
            sessions::find_by_access_digest_with_user(&mut conn, &presented)?
        else {
            return Ok(None);
        };
        let now = self.now();
        if !constant_time_eq(&session.access_digest, &presented)
            || !session.access_valid_at(now)
            || session.family_started_at + self.settings.max_session_age() <= now
        {
            return Ok(None);
        }
        if !user.is_active {
            sessions::delete_for_user(&mut conn, user.id)?;
            return Err(AuthError::UserDisabled);
        }
        Ok(Some(Principal::from_session(
            &user,
            session.id,
            &session.family_id,
        )))
    }

    /// The principal of a request to a principal-based endpoint (HTTP and WebSocket alike):
    ///
    /// 1. a valid `recozik_session` cookie wins; for an unsafe method the CSRF double submit
    ///    must then pass ([`AuthError::CsrfFailed`]);
    /// 2. otherwise (an invalid session cookie falls through quietly) `X-API-Token`: missing →
    ///    [`AuthError::MissingAuth`]; unknown, expired or orphaned →
    ///    [`AuthError::InvalidToken`]. Token requests never need CSRF.
    ///
    /// Deactivated users get [`AuthError::UserDisabled`]. The caller runs the `Api` rate limit
    /// first.
    pub fn resolve_principal(&self, source: &CredentialSource<'_>) -> Result<Principal> {
        if let Some(cookie) = source.session()
            && let Some(principal) = self.resolve_session(cookie)?
        {
            if is_unsafe_method(source.method) {
                source.check_csrf()?;
            }
            return Ok(principal);
        }
        let Some(token) = source.token() else {
            return Err(AuthError::MissingAuth);
        };
        self.resolve_token(token)
    }

    /// For session-only endpoints (register, change-password, `/admin/users…`): for an unsafe
    /// method the CSRF check runs **first** (even without a session), then the session cookie
    /// is resolved; `X-API-Token` is ignored. `Ok(None)` without a valid session: follow with
    /// [`crate::require_session`] or [`crate::require_session_admin`].
    pub fn resolve_session_only(&self, source: &CredentialSource<'_>) -> Result<Option<Principal>> {
        if is_unsafe_method(source.method) {
            source.check_csrf()?;
        }
        match source.session() {
            Some(cookie) => self.resolve_session(cookie),
            None => Ok(None),
        }
    }

    /// A user's sessions that can still be used or refreshed, newest first.
    /// [`AuthError::UserNotFound`] for an unknown user.
    pub fn list_user_sessions(&self, user_id: i64) -> Result<Vec<SessionInfo>> {
        let mut conn = self.db.conn()?;
        if users::get(&mut conn, user_id)?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        let list = sessions::list_active_for_user(&mut conn, user_id, self.now())?;
        Ok(list.iter().map(SessionInfo::from).collect())
    }

    /// Deletes every session of a user; returns how many rows went.
    /// [`AuthError::UserNotFound`] for an unknown user.
    pub fn revoke_user_sessions(&self, user_id: i64) -> Result<usize> {
        let mut conn = self.db.conn()?;
        if users::get(&mut conn, user_id)?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        Ok(sessions::delete_for_user(&mut conn, user_id)?)
    }

    /// Housekeeping (startup and hourly): deletes sessions whose refresh lifetime is over.
    pub fn purge_expired_sessions(&self) -> Result<usize> {
        let mut conn = self.db.conn()?;
        Ok(sessions::purge_expired(&mut conn, self.now())?)
    }
}
