//! The auth error type: one variant per outcome the API must tell apart, each with a stable
//! machine code ([`AuthError::code`]), the upstream-compatible detail text (its `Display`) and
//! the kind of refusal it is ([`AuthError::kind`]), which the API maps to an HTTP status.

use chrono::{DateTime, Utc};
use recozik_storage::StorageError;

use crate::model::{Feature, QuotaScope};
use crate::rate_limit::LimitClass;

/// A rejected input on a write path. `Display` is the detail text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A feature name outside the five known ones.
    #[error("Unknown feature '{0}'. Valid options: {options}", options = Feature::valid_options())]
    UnknownFeature(String),
    /// A quota scope outside the four known ones.
    #[error("Unknown quota scope '{0}'. Valid options: {options}", options = QuotaScope::valid_options())]
    UnknownQuotaScope(String),
    /// A negative quota limit (0 is allowed and blocks the scope).
    #[error("Quota limit for '{0}' must not be negative")]
    NegativeQuotaLimit(String),
    /// A role name that is empty, too long or has characters outside `[A-Za-z0-9_.:-]`.
    #[error("Invalid role '{0}': use 1-64 characters among letters, digits, '_', '-', '.', ':'")]
    InvalidRole(String),
    /// A token role the owning user does not hold (a token never exceeds its owner; an
    /// `admin` owner holds every role).
    #[error("Role '{0}' is not held by the token's owner")]
    RoleNotHeldByOwner(String),
    /// A token feature outside the owning user's feature list (a token never exceeds its
    /// owner).
    #[error("Feature '{0}' is not held by the token's owner")]
    FeatureNotHeldByOwner(Feature),
    /// A password rule failed (see `password.rs`); the text is the rule's message.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Blank e-mail.
    #[error("Email is required")]
    EmailRequired,
    /// E-mail not of the form `local@domain.tld`.
    #[error("Invalid email format")]
    InvalidEmail,
    /// Blank username, or one with whitespace/control characters, or longer than 150.
    #[error("Invalid username: use 1-150 characters without spaces or control characters")]
    InvalidUsername,
    /// Blank token display name.
    #[error("Display name is required")]
    DisplayNameRequired,
    /// An admin-chosen token value shorter than the minimum (production mode).
    #[error("Token must be at least {0} characters in production mode")]
    TokenTooShort(usize),
    /// An admin-chosen token value containing whitespace or control characters.
    #[error("Token must not contain whitespace or control characters")]
    TokenInvalidCharacters,
    /// A token expiry that is not in the future.
    #[error("Token expiry must be in the future")]
    ExpiryInPast,
    /// The change would leave no active user with the `admin` role.
    #[error("Cannot remove, deactivate or delete the last active admin")]
    LastAdmin,
}

impl ValidationError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownFeature(_) => "unknown_feature",
            Self::UnknownQuotaScope(_) => "unknown_quota_scope",
            Self::NegativeQuotaLimit(_) => "negative_quota_limit",
            Self::InvalidRole(_) => "invalid_role",
            Self::RoleNotHeldByOwner(_) => "role_not_held_by_owner",
            Self::FeatureNotHeldByOwner(_) => "feature_not_held_by_owner",
            Self::WeakPassword(_) => "weak_password",
            Self::EmailRequired => "email_required",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidUsername => "invalid_username",
            Self::DisplayNameRequired => "display_name_required",
            Self::TokenTooShort(_) => "token_too_short",
            Self::TokenInvalidCharacters => "token_invalid_characters",
            Self::ExpiryInPast => "expiry_in_past",
            Self::LastAdmin => "last_admin",
        }
    }
}

/// Everything `recozik_auth` can refuse or fail with.
///
/// `Display` gives the exact `detail` text for the `{"detail": ...}` body (upstream texts where
/// upstream had one). Internal failures ([`AuthError::Storage`], [`AuthError::Internal`],
/// [`AuthError::InsecureSettings`], kind [`ErrorKind::Internal`]) must not be shown to clients:
/// answer with a generic failure and
/// log the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No valid session cookie and no `X-API-Token` header.
    #[error("Missing auth")]
    MissingAuth,
    /// `X-API-Token` unknown, expired, or whose user no longer exists.
    #[error("Invalid API token")]
    InvalidToken,
    /// A session-only endpoint without a valid session.
    #[error("Auth required")]
    AuthRequired,
    /// Wrong username or password (login, change-password).
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// The user is deactivated (login, session, token).
    #[error("user_disabled")]
    UserDisabled,
    /// CSRF cookie/header missing or different.
    #[error("CSRF token missing or invalid")]
    CsrfFailed,
    /// A principal-based admin endpoint (`/admin/tokens`) without the `admin` role.
    #[error("Admin only")]
    AdminOnly,
    /// A session-only admin endpoint (`/admin/users`, register) without an admin session.
    #[error("Admin required")]
    AdminRequired,
    /// The principal may not use this feature.
    #[error("{0} not permitted for this token")]
    FeatureDenied(Feature),
    /// `/auth/refresh` without a refresh cookie.
    #[error("Missing refresh token")]
    MissingRefreshToken,
    /// Unknown refresh secret (never issued, or its family was revoked or purged).
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    /// An already rotated refresh secret was replayed (also by a refresh that lost a race with
    /// a concurrent one): the whole session family was revoked.
    #[error("Invalid refresh token")]
    RefreshReused,
    /// Refresh lifetime, or the absolute session age, is over.
    #[error("Refresh expired")]
    RefreshExpired,
    /// The session's user no longer exists.
    #[error("User missing")]
    UserMissing,
    /// Admin user routes: no such user.
    #[error("User not found")]
    UserNotFound,
    /// `POST /admin/tokens`: the owner does not exist.
    #[error("User with ID {0} not found")]
    TokenOwnerNotFound(i64),
    /// No token with this public id.
    #[error("Token not found")]
    TokenNotFound,
    /// A token with the same value already exists.
    #[error("Token already exists")]
    DuplicateToken,
    /// Register: the username is taken.
    #[error("Username already exists")]
    UsernameExists,
    /// Register: unique violation on insert (e-mail or username).
    #[error("Email or username already exists")]
    EmailOrUsernameExists,
    /// Update: the e-mail is taken.
    #[error("Email already exists")]
    EmailExists,
    /// A write-path input was rejected.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Per-IP rate limit hit; the client may retry after `retry_after_secs`.
    #[error("Rate limit exceeded: {limit} requests per 60s")]
    RateLimited {
        /// Which limiter refused.
        class: LimitClass,
        /// Its per-minute limit.
        limit: u32,
        /// Seconds until a request of this class is accepted again (≥ 1).
        retry_after_secs: u64,
    },
    /// A quota would be exceeded (a refused request on from-path, a failed job on uploads).
    #[error("Quota exceeded for {scope}: {requested_total} > {limit} (rolling 24h window)")]
    QuotaExceeded {
        /// The scope.
        scope: QuotaScope,
        /// Usage in the window plus the requested cost.
        requested_total: i64,
        /// The applied limit.
        limit: i64,
        /// When the requested cost fits again; `None` if it never can (cost > limit).
        resets_at: Option<DateTime<Utc>>,
    },
    /// Production mode with default or weak secrets: the process must not start. The text is
    /// a multi-line message for the operator.
    #[error("{0}")]
    InsecureSettings(String),
    /// The database failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Anything else that should not happen (hashing failure).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    /// Stable machine code, for the `code` field of error bodies and for logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuth => "missing_auth",
            Self::InvalidToken => "invalid_token",
            Self::AuthRequired => "auth_required",
            Self::InvalidCredentials => "invalid_credentials",
            Self::UserDisabled => "user_disabled",
            Self::CsrfFailed => "csrf_failed",
            Self::AdminOnly => "admin_only",
            Self::AdminRequired => "admin_required",
            Self::FeatureDenied(_) => "feature_denied",
            Self::MissingRefreshToken => "missing_refresh_token",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshReused => "refresh_reused",
            Self::RefreshExpired => "refresh_expired",
            Self::UserMissing => "user_missing",
            Self::UserNotFound => "user_not_found",
            Self::TokenOwnerNotFound(_) => "token_owner_not_found",
            Self::TokenNotFound => "token_not_found",
            Self::DuplicateToken => "duplicate_token",
            Self::UsernameExists => "username_exists",
            Self::EmailOrUsernameExists => "email_or_username_exists",
            Self::EmailExists => "email_exists",
            Self::Validation(v) => v.code(),
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::InsecureSettings(_) => "insecure_settings",
            Self::Storage(_) => "storage_error",
            Self::Internal(_) => "internal_error",
        }
    }

    /// What kind of refusal this is. The API, not this crate, decides the HTTP status of each
    /// kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::MissingAuth
            | Self::InvalidToken
            | Self::AuthRequired
            | Self::InvalidCredentials
            | Self::MissingRefreshToken
            | Self::InvalidRefreshToken
            | Self::RefreshReused
            | Self::RefreshExpired
            | Self::UserMissing => ErrorKind::Unauthenticated,
            Self::UserDisabled
            | Self::CsrfFailed
            | Self::AdminOnly
            | Self::AdminRequired
            | Self::FeatureDenied(_) => ErrorKind::Forbidden,
            Self::UserNotFound | Self::TokenOwnerNotFound(_) | Self::TokenNotFound => {
                ErrorKind::NotFound
            }
            Self::DuplicateToken => ErrorKind::Conflict,
            Self::UsernameExists
            | Self::EmailOrUsernameExists
            | Self::EmailExists
            | Self::Validation(_) => ErrorKind::InvalidInput,
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } => ErrorKind::Limited,
            Self::InsecureSettings(_) | Self::Storage(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether the `Display` text may be shown to the client (every kind but internal).
    pub fn is_client_error(&self) -> bool {
        self.kind() != ErrorKind::Internal
    }

    /// For a rate-limiter refusal: how many seconds until a retry can succeed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// The kinds of [`AuthError`], for callers that answer over a protocol (the API maps each to an
/// HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials, or credentials that are not (or no longer) valid.
    Unauthenticated,
    /// Valid credentials without the right (role, feature, CSRF, active account).
    Forbidden,
    /// The named user or token does not exist.
    NotFound,
    /// The write would duplicate something that must be unique (a token value).
    Conflict,
    /// A rejected input, or a name or e-mail already taken.
    InvalidInput,
    /// A rate limit or quota refused the request.
    Limited,
    /// A failure of this system; its text must not reach a client.
    Internal,
}

/// Shorthand for `Result<T, AuthError>`.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;
