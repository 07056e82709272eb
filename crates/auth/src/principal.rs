//! Principals (who a request runs as), how a request finds its principal, CSRF, and the
//! framework-free feature and role checks.

use std::collections::BTreeMap;

use recozik_storage::tokens::ApiToken;
use recozik_storage::users::User;
use serde::Serialize;

use crate::error::AuthError;
use crate::model::{
    ADMIN_ROLE, Feature, QuotaScope, features_from_stored, holds_role, limits_from_stored,
    meter_audd_scopes_together,
};
use crate::secret::constant_time_eq;

/// Name of the access (session) cookie.
pub const SESSION_COOKIE: &str = "recozik_session";
/// Name of the refresh cookie.
pub const REFRESH_COOKIE: &str = "recozik_refresh";
/// Name of the CSRF cookie (readable by scripts).
pub const CSRF_COOKIE: &str = "recozik_csrf";
/// Header carrying an API token.
pub const API_TOKEN_HEADER: &str = "X-API-Token";
/// Header carrying the CSRF token (must equal the CSRF cookie).
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// How the principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthMethod {
    /// The session cookie.
    Session {
        /// Session row id.
        session_id: i64,
        /// Session family (one login and its rotations).
        family_id: String,
    },
    /// An `X-API-Token` header.
    Token {
        /// Public id of the token.
        token_id: String,
    },
}

/// The identity a request runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Immutable user id (ownership of jobs and quota usage).
    pub user_id: i64,
    /// The user's username (upstream's `user_id` field in `/whoami`).
    pub username: String,
    /// The user's e-mail.
    pub email: String,
    /// Session: the user's display name. Token: the token's display name (as upstream).
    pub display_name: Option<String>,
    /// Effective roles. Session: the user's. Token: the token's roles that the owner also holds
    /// (a token never exceeds its owner; an `admin` owner holds every role).
    pub roles: Vec<String>,
    /// Allowed features, sorted by name. **Empty means every feature.** Session: the user's
    /// list. Token: the token's list. Unknown stored names are ignored.
    pub allowed_features: Vec<Feature>,
    /// Effective quota limits per scope (scopes absent here are unlimited). Session: the
    /// user's. Token: the token's limit, else the user's; when both are set, the smaller. A
    /// limit on one AudD scope closes the other one (limit 0) unless it has its own.
    pub quota_limits: BTreeMap<QuotaScope, i64>,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The limits a principal is held to, from its stored ones (see
/// [`meter_audd_scopes_together`]).
fn effective_limits(mut limits: BTreeMap<QuotaScope, i64>) -> BTreeMap<QuotaScope, i64> {
    meter_audd_scopes_together(&mut limits);
    limits
}

impl Principal {
    /// A session principal for `user`.
    pub fn from_session(user: &User, session_id: i64, family_id: &str) -> Self {
        Self {
            user_id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            roles: user.roles.clone(),
            allowed_features: features_from_stored(&user.allowed_features, &user.username),
            quota_limits: effective_limits(limits_from_stored(&user.quota_limits, &user.username)),
            method: AuthMethod::Session {
                session_id,
                family_id: family_id.to_owned(),
            },
        }
    }

    /// A token principal for `token` owned by `user`.
    pub fn from_token(token: &ApiToken, user: &User) -> Self {
        let owner = &user.username;
        let roles = token
            .roles
            .iter()
            .filter(|r| holds_role(&user.roles, r))
            .cloned()
            .collect();
        let mut limits = limits_from_stored(&user.quota_limits, owner);
        for (scope, limit) in limits_from_stored(&token.quota_limits, owner) {
            limits
                .entry(scope)
                .and_modify(|l| *l = (*l).min(limit))
                .or_insert(limit);
        }
        Self {
            user_id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            display_name: Some(token.display_name.clone()),
            roles,
            allowed_features: features_from_stored(&token.allowed_features, owner),
            quota_limits: effective_limits(limits),
            method: AuthMethod::Token {
                token_id: token.public_id.clone(),
            },
        }
    }

    /// Whether the principal has the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN_ROLE)
    }

    /// Whether `feature` is allowed (always, when the feature list is empty).
    pub fn allows(&self, feature: Feature) -> bool {
        self.allowed_features.is_empty() || self.allowed_features.contains(&feature)
    }

    /// The effective limit of `scope`; `None` means unlimited.
    pub fn quota_limit(&self, scope: QuotaScope) -> Option<i64> {
        self.quota_limits.get(&scope).copied()
    }

    /// Whether the principal came from the session cookie.
    pub fn is_session(&self) -> bool {
        matches!(self.method, AuthMethod::Session { .. })
    }

    /// Feature names for `/whoami` (sorted; empty means all).
    pub fn allowed_feature_names(&self) -> Vec<&'static str> {
        self.allowed_features.iter().map(|f| f.as_str()).collect()
    }
}

/// The access policy: `Ok` when `principal` may use `feature`, else
/// [`AuthError::FeatureDenied`] ("`<feature>` not permitted for this token"). An empty feature
/// list allows everything.
pub fn check_feature(principal: &Principal, feature: Feature) -> Result<(), AuthError> {
    if principal.allows(feature) {
        Ok(())
    } else {
        Err(AuthError::FeatureDenied(feature))
    }
}

/// Principal-based admin endpoints (`/admin/tokens`): [`AuthError::AdminOnly`] unless admin.
pub fn require_admin(principal: &Principal) -> Result<(), AuthError> {
    if principal.is_admin() {
        Ok(())
    } else {
        Err(AuthError::AdminOnly)
    }
}

/// Session-only admin endpoints (`/admin/users…`, register): the session principal if it is
/// an admin, else [`AuthError::AdminRequired`] (also when there is no session).
pub fn require_session_admin(principal: Option<Principal>) -> Result<Principal, AuthError> {
    match principal {
        Some(p) if p.is_admin() => Ok(p),
        _ => Err(AuthError::AdminRequired),
    }
}

/// Session-only endpoints for any user (change-password): the session principal, else
/// [`AuthError::AuthRequired`].
pub fn require_session(principal: Option<Principal>) -> Result<Principal, AuthError> {
    principal.ok_or(AuthError::AuthRequired)
}

/// Whether an HTTP method changes state (anything but GET, HEAD, OPTIONS, TRACE), so that a
/// cookie-authenticated request needs the CSRF check.
pub fn is_unsafe_method(method: &str) -> bool {
    !matches!(
        method.to_ascii_uppercase().as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE"
    )
}

/// The double-submit check: the CSRF cookie and the `X-CSRF-Token` header must both be
/// non-empty and equal (compared in constant time). Else [`AuthError::CsrfFailed`].
pub fn check_csrf(cookie: Option<&str>, header: Option<&str>) -> Result<(), AuthError> {
    match (cookie, header) {
        (Some(c), Some(h)) if !c.is_empty() && !h.is_empty() && constant_time_eq(c, h) => Ok(()),
        _ => Err(AuthError::CsrfFailed),
    }
}

/// Whether a cookie-authenticated WebSocket handshake comes from an allowed page: its
/// `Origin` (the raw header value) is one of `cors_origins` or names `host`, the request's own
/// `Host`. A handshake without `Origin` comes from a non-browser client (browsers always send
/// it), which cross-site hijacking cannot use; an `Origin` that is not visible ASCII is refused.
/// WebSockets get no CSRF header, so this is their cross-site check.
pub fn websocket_origin_allowed(
    origin: Option<&[u8]>,
    host: Option<&str>,
    cors_origins: &[String],
) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    // Visible ASCII or tab, as HTTP header text.
    if !origin
        .iter()
        .all(|byte| *byte == b'\t' || (0x20..0x7f).contains(byte))
    {
        return false;
    }
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if cors_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h.trim()))
}

/// The credentials a request carries, as the HTTP layer extracted them. Empty strings count
/// as absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialSource<'a> {
    /// HTTP method (`GET`, `POST`, …); decides whether CSRF applies.
    pub method: &'a str,
    /// Value of the `recozik_session` cookie.
    pub session_cookie: Option<&'a str>,
    /// Value of the `X-API-Token` header.
    pub api_token: Option<&'a str>,
    /// Value of the `recozik_csrf` cookie.
    pub csrf_cookie: Option<&'a str>,
    /// Value of the `X-CSRF-Token` header.
    pub csrf_header: Option<&'a str>,
}

impl CredentialSource<'_> {
    pub(crate) fn session(&self) -> Option<&str> {
        self.session_cookie.filter(|s| !s.is_empty())
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.api_token.filter(|s| !s.is_empty())
    }

    /// Runs [`check_csrf`] on this request's cookie and header.
    pub fn check_csrf(&self) -> Result<(), AuthError> {
        check_csrf(self.csrf_cookie, self.csrf_header)
    }
}

/// One cookie to set, for the HTTP layer to turn into its own cookie type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec {
    /// Cookie name.
    pub name: &'static str,
    /// Cookie value (empty when clearing).
    pub value: String,
    /// Always `/`.
    pub path: &'static str,
    /// `Max-Age` in seconds (0 when clearing).
    pub max_age_secs: i64,
    /// `Expires` (the same instant as `Max-Age`, for old clients).
    pub expires: chrono::DateTime<chrono::Utc>,
    /// `HttpOnly` (false only for the CSRF cookie, which scripts read).
    pub http_only: bool,
    /// `Secure` (production mode).
    pub secure: bool,
    /// `SameSite`.
    pub same_site: SameSite,
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict` (production mode).
    Strict,
    /// `SameSite=Lax` (development).
    Lax,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
        }
    }
}

/// The six `Set-Cookie`s that clear the three auth cookies (logout, change-password): each
/// cookie once without and once with `Secure`, `Max-Age=0`, `Expires` now, `Path=/`,
/// `SameSite=Lax`; the session and refresh cookies `HttpOnly`.
pub fn clear_cookies(now: chrono::DateTime<chrono::Utc>) -> Vec<CookieSpec> {
    let mut out = Vec::with_capacity(6);
    for (name, http_only) in [
        (SESSION_COOKIE, true),
        (REFRESH_COOKIE, true),
        (CSRF_COOKIE, false),
    ] {
        for secure in [false, true] {
            out.push(CookieSpec {
                name,
                value: String::new(),
                path: "/",
                max_age_secs: 0,
                expires: now,
                http_only,
                secure,
                same_site: SameSite::Lax,
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn websocket_origins_are_the_cors_list_or_the_own_host() {
        let cors = vec!["https://app.example".to_owned()];
        let allowed = |origin: Option<&str>, host: Option<&str>| {
            websocket_origin_allowed(origin.map(str::as_bytes), host, &cors)
        };
        assert!(allowed(None, None), "no Origin: not a browser");
        assert!(allowed(Some("https://APP.example/"), None));
        assert!(allowed(
            Some("http://api.local:8000"),
            Some("api.local:8000")
        ));
        assert!(!allowed(
            Some("https://evil.example"),
            Some("api.local:8000")
        ));
        assert!(!allowed(Some("null"), Some("api.local")));
        assert!(!allowed(Some("https://"), Some("")));
        assert!(!websocket_origin_allowed(
            Some("https://app.example\u{e9}".as_bytes()),
            None,
            &cors
        ));
    }

    #[test]
    fn csrf_requires_both_non_empty_and_equal() {
        assert!(check_csrf(Some("abc"), Some("abc")).is_ok());
        for (c, h) in [
            (None, None),
            (Some("abc"), None),
            (None, Some("abc")),
            (Some(""), Some("")),
            (Some("abc"), Some("abd")),
            (Some("abc"), Some("abcd")),
        ] {
            let err = check_csrf(c, h).unwrap_err();
            assert_eq!(err.to_string(), "CSRF token missing or invalid");
            assert_eq!(err.kind(), crate::ErrorKind::Forbidden);
        }
    }

    #[test]
    fn unsafe_methods() {
        for m in ["POST", "PUT", "DELETE", "PATCH", "post"] {
            assert!(is_unsafe_method(m), "{m}");
        }
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "get"] {
            assert!(!is_unsafe_method(m), "{m}");
        }
    }

    #[test]
    fn clearing_sets_six_cookies() {
        let now = chrono::Utc::now();
        let c = clear_cookies(now);
        assert_eq!(c.len(), 6);
        assert!(
            c.iter()
                .all(|c| c.max_age_secs == 0 && c.path == "/" && c.value.is_empty())
        );
        assert_eq!(c.iter().filter(|c| c.secure).count(), 3);
        assert!(
            c.iter()
                .filter(|c| c.name == CSRF_COOKIE)
                .all(|c| !c.http_only)
        );
        assert!(
            c.iter()
                .filter(|c| c.name != CSRF_COOKIE)
                .all(|c| c.http_only)
        );
    }
}
