//! Authentication and authorisation for Recozik, framework-free.
//!
//! * [`password`]: Argon2id hashing (rehash on login when the parameters change, dummy verify
//!   for unknown users), the password, e-mail and username rules.
//! * [`secret`]: random secrets, SHA-256 digests, constant-time comparison, display hints.
//! * [`Auth`]: the service over the auth database — principals from the session cookie or
//!   `X-API-Token` ([`Auth::resolve_principal`]), login/refresh/logout with rotating refresh
//!   secrets and family revocation on replay, API tokens (create, list, revoke, expiry,
//!   last-used), user administration, quota consumption, seeding.
//! * [`principal`]: [`Principal`], CSRF double submit, feature and role checks, cookie specs and
//!   the cookie/header names.
//! * [`model`]: [`Feature`], [`QuotaScope`], role/feature/quota validation (an **empty feature
//!   list means every feature**).
//! * [`rate_limit`]: per-class, per-IP limiters (`governor`) and client-IP extraction.
//! * [`Submitter`]: a stored reference to who submitted deferred work, re-checked when the
//!   work runs ([`Auth::recheck_submitter`]: user still active, token not revoked or expired).
//! * [`seed()`]: what `cargo xtask seed` and the server's startup both call.
//!
//! # Blocking
//!
//! Every function is synchronous. Database calls block, and the password functions (login,
//! register, change/reset password, seeding) spend tens of milliseconds in Argon2 on purpose.
//! Async callers run them on blocking threads (`actix_web::web::block`,
//! `tokio::task::spawn_blocking`). Token and session resolution cost one indexed query each.
//!
//! # Errors
//!
//! [`AuthError`] carries the upstream `detail` texts (its `Display`), a stable
//! [`AuthError::code`] and the kind of refusal ([`AuthError::kind`]); the API decides the HTTP status.

mod clock;
mod error;
mod quota;
mod seeding;
mod sessions;
mod submitter;
mod tokens;
mod users;

pub mod model;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod secret;
pub mod settings;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use recozik_storage::Database;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, ErrorKind, Result, ValidationError};
pub use model::{Feature, QuotaScope, RawQuotaLimits};
pub use password::PasswordHasher;
pub use principal::{
    AuthMethod, CookieSpec, CredentialSource, Principal, SameSite, check_csrf, check_feature,
    require_admin, require_session, require_session_admin,
};
pub use quota::QuotaOutcome;
pub use rate_limit::{LimitClass, RateLimiters, client_ip, rate_limit_key};
pub use seeding::{SeedReport, check_production_settings, seed, seed_with_hasher};
pub use sessions::{IssuedSession, LoginResponse, SessionInfo};
pub use settings::{AuthSettings, PasswordParams};
pub use submitter::{RecheckError, SubmittedVia, Submitter};
pub use tokens::{CreatedToken, NewTokenRequest, TokenInfo};
pub use users::{NewUserRequest, UserInfo, UserPatch};

/// The auth service: the auth database, the settings, the password hasher and a clock.
/// Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct Auth {
    db: Database,
    settings: Arc<AuthSettings>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
}

impl Auth {
    /// Builds the service on a migrated auth database. Computes the dummy password hash (one
    /// Argon2 run), so call it on a blocking thread.
    pub fn new(db: Database, settings: AuthSettings) -> Result<Self> {
        Self::with_clock(db, settings, Arc::new(SystemClock))
    }

    /// Like [`Auth::new`] with another clock (tests).
    pub fn with_clock(db: Database, settings: AuthSettings, clock: Arc<dyn Clock>) -> Result<Self> {
        let hasher = PasswordHasher::new(settings.password)?;
        Ok(Self {
            db,
            settings: Arc::new(settings),
            hasher,
            clock,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The auth database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The current time of this service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Seeds the admin user and token (and the readonly ones) from the settings: see [`seed()`].
    pub fn seed(&self) -> Result<SeedReport> {
        seed_with_hasher(&self.db, &self.settings, &self.hasher)
    }
}
