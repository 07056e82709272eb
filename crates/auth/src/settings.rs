//! What the auth crate needs from the configuration, as plain data with defaults.
//!
//! The API's settings (figment, `RECOZIK_WEB_*`) embed or convert into [`AuthSettings`]; field
//! names follow the `RECOZIK_WEB_*` variables of `docs/configuration.md` where one exists.

use std::time::Duration;

use serde::Deserialize;

/// Default seeded admin token (refused in production mode).
pub const DEFAULT_ADMIN_TOKEN: &str = "dev-admin";
/// Default seeded admin password (refused in production mode).
pub const DEFAULT_ADMIN_PASSWORD: &str = "dev-password";
/// Default admin username.
pub const DEFAULT_ADMIN_USERNAME: &str = "admin";

/// Argon2id cost parameters. The defaults are the OWASP minimum used upstream (m = 19 MiB,
/// t = 2, p = 1); tests use cheaper ones. Changing them makes the next successful login rehash
/// the user's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PasswordParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    /// Very cheap parameters for tests (never for production).
    pub fn insecure_for_tests() -> Self {
        Self {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Everything `recozik_auth` reads from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)]
pub struct AuthSettings {
    /// `PRODUCTION_MODE`: refuses default/weak secrets, `Secure` + `SameSite=Strict` cookies,
    /// admin-chosen tokens of at least [`AuthSettings::min_token_length_production`] characters.
    pub production_mode: bool,
    /// `ADMIN_USERNAME`.
    pub admin_username: String,
    /// `ADMIN_PASSWORD`: used only when the admin account is first created.
    pub admin_password: String,
    /// `ADMIN_TOKEN`: raw value of the seeded admin token.
    pub admin_token: String,
    /// `READONLY_TOKEN`: when set and non-empty, a `readonly` user and token are seeded; when
    /// unset, a previously seeded readonly token is removed.
    pub readonly_token: Option<String>,
    /// `READONLY_QUOTA_ACOUSTID`.
    pub readonly_quota_acoustid: Option<i64>,
    /// `READONLY_QUOTA_MUSICBRAINZ`.
    pub readonly_quota_musicbrainz: Option<i64>,
    /// `READONLY_QUOTA_AUDD_STANDARD` (also grants `audd` to the readonly token when AudD is
    /// configured). Unset: the standard endpoint is closed to the readonly token (limit 0).
    pub readonly_quota_audd_standard: Option<i64>,
    /// `READONLY_QUOTA_AUDD_ENTERPRISE` (also grants `audd` when AudD is configured). Unset:
    /// the enterprise endpoint, which receives whole files and is billed as such, is closed to
    /// the readonly token (limit 0).
    pub readonly_quota_audd_enterprise: Option<i64>,
    /// `MUSICBRAINZ_ENABLED`: seeded tokens get `musicbrainz_enrich`.
    pub musicbrainz_enabled: bool,
    /// Whether an AudD token is configured (`AUDD_TOKEN` non-empty): seeded tokens get `audd`.
    pub audd_enabled: bool,

    /// `RATE_LIMIT_ENABLED`: master switch of every limiter.
    pub rate_limit_enabled: bool,
    /// `RATE_LIMIT_PER_MINUTE`: authenticated API calls per minute and client IP.
    pub rate_limit_per_minute: u32,
    /// Login, register and change-password attempts per minute and IP (each its own bucket).
    pub rate_limit_auth_per_minute: u32,
    /// Refresh calls per minute and IP.
    pub rate_limit_refresh_per_minute: u32,
    /// `RATE_LIMIT_TRUSTED_PROXIES`: how many reverse proxies in front of us append to
    /// `X-Forwarded-For`. 0: forwarding headers are ignored.
    pub rate_limit_trusted_proxies: usize,

    /// Access (session cookie) lifetime, seconds. Default 1 h.
    pub access_ttl_secs: u64,
    /// Refresh lifetime without "remember", seconds. Default 7 days.
    pub refresh_ttl_secs: u64,
    /// Refresh lifetime with "remember", seconds. Default 30 days.
    pub remember_refresh_ttl_secs: u64,
    /// Absolute maximum age of a login (a session family), however often it is refreshed.
    /// Default 90 days.
    pub max_session_age_secs: u64,

    /// Minimum length of admin-chosen token values in production mode. Default 24.
    pub min_token_length_production: usize,
    /// `last_used_at` of a token is written at most once per this many seconds. Default 60.
    pub token_last_used_interval_secs: u64,

    /// Argon2id parameters.
    pub password: PasswordParams,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            production_mode: false,
            admin_username: DEFAULT_ADMIN_USERNAME.to_owned(),
            admin_password: DEFAULT_ADMIN_PASSWORD.to_owned(),
            admin_token: DEFAULT_ADMIN_TOKEN.to_owned(),
            readonly_token: None,
            readonly_quota_acoustid: None,
            readonly_quota_musicbrainz: None,
            readonly_quota_audd_standard: None,
            readonly_quota_audd_enterprise: None,
            musicbrainz_enabled: true,
            audd_enabled: false,
            rate_limit_enabled: true,
            rate_limit_per_minute: 60,
            rate_limit_auth_per_minute: 5,
            rate_limit_refresh_per_minute: 10,
            rate_limit_trusted_proxies: 0,
            access_ttl_secs: 3600,
            refresh_ttl_secs: 7 * 24 * 3600,
            remember_refresh_ttl_secs: 30 * 24 * 3600,
            max_session_age_secs: 90 * 24 * 3600,
            min_token_length_production: 24,
            token_last_used_interval_secs: 60,
            password: PasswordParams::default(),
        }
    }
}

impl AuthSettings {
    /// The configured readonly token, if set and non-blank.
    pub fn readonly_token(&self) -> Option<&str> {
        self.readonly_token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
    }

    pub(crate) fn access_ttl(&self) -> chrono::TimeDelta {
        secs(self.access_ttl_secs)
    }

    pub(crate) fn refresh_ttl(&self, remember: bool) -> chrono::TimeDelta {
        secs(if remember {
            self.remember_refresh_ttl_secs
        } else {
            self.refresh_ttl_secs
        })
    }

    pub(crate) fn max_session_age(&self) -> chrono::TimeDelta {
        secs(self.max_session_age_secs)
    }

    pub(crate) fn token_last_used_interval(&self) -> Duration {
        Duration::from_secs(self.token_last_used_interval_secs)
    }
}

fn secs(n: u64) -> chrono::TimeDelta {
    chrono::TimeDelta::try_seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
        .unwrap_or(chrono::TimeDelta::MAX)
}
