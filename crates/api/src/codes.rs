//! Every stable error code the API itself sends in the `code` field of an error body, as named
//! constants. Codes are part of the contract with clients: `tests::the_api_codes_are_pinned`
//! keeps this list from changing or losing an entry unnoticed, and pins the codes that come from
//! `recozik_auth` and `recozik_core` errors too (their `code()` methods).
//!
//! Add a code here, then to the pinned list of the test; never rename one that has shipped.

// Generic HTTP outcomes.
pub const NOT_FOUND: &str = "not_found";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const VALIDATION_ERROR: &str = "validation_error";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const INTERNAL_ERROR: &str = "internal_error";
pub const UNAVAILABLE: &str = "unavailable";

// Identification.
pub const FEATURE_DENIED: &str = "feature_denied";
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
pub const INVALID_CACHE_TTL: &str = "invalid_cache_ttl";

// Paths under the media root.
pub const AUDIO_NOT_FOUND: &str = "audio_not_found";
pub const MISSING_AUDIO_PATH: &str = "missing_audio_path";
pub const PATH_TRAVERSAL: &str = "path_traversal";
pub const PATH_OUTSIDE_ROOT: &str = "path_outside_root";
pub const NOT_A_FILE: &str = "not_a_file";
pub const SYMBOLIC_LINK: &str = "symbolic_link";
pub const PATH_RESERVED: &str = "path_reserved";
pub const EXTENSION_NOT_ALLOWED: &str = "extension_not_allowed";

// Uploads.
pub const INVALID_MULTIPART: &str = "invalid_multipart";
pub const EMPTY_UPLOAD: &str = "empty_upload";
pub const UPLOAD_TOO_LARGE: &str = "upload_too_large";
pub const UPLOADS_DISABLED: &str = "uploads_disabled";
pub const FIELD_TOO_LARGE: &str = "field_too_large";
pub const TOO_MANY_FILES: &str = "too_many_files";
pub const TOO_MANY_FIELDS: &str = "too_many_fields";
pub const TOO_MANY_QUEUED_JOBS: &str = "too_many_queued_jobs";
pub const PENDING_UPLOADS_TOO_LARGE: &str = "pending_uploads_too_large";
pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";

// Jobs and their WebSocket.
pub const JOB_NOT_FOUND: &str = "job_not_found";
pub const JOB_FINISHED: &str = "job_finished";
pub const ACCESS_DENIED: &str = "access_denied";
pub const WEBSOCKET_REQUIRED: &str = "websocket_required";
pub const TOO_MANY_WEBSOCKETS: &str = "too_many_websockets";

/// The API's own codes, for the pinning test and for documentation.
pub const API_CODES: &[&str] = &[
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    VALIDATION_ERROR,
    UNSUPPORTED_MEDIA_TYPE,
    PAYLOAD_TOO_LARGE,
    INTERNAL_ERROR,
    UNAVAILABLE,
    FEATURE_DENIED,
    QUOTA_EXCEEDED,
    INVALID_CACHE_TTL,
    AUDIO_NOT_FOUND,
    MISSING_AUDIO_PATH,
    PATH_TRAVERSAL,
    PATH_OUTSIDE_ROOT,
    NOT_A_FILE,
    SYMBOLIC_LINK,
    PATH_RESERVED,
    EXTENSION_NOT_ALLOWED,
    INVALID_MULTIPART,
    EMPTY_UPLOAD,
    UPLOAD_TOO_LARGE,
    UPLOADS_DISABLED,
    FIELD_TOO_LARGE,
    TOO_MANY_FILES,
    TOO_MANY_FIELDS,
    TOO_MANY_QUEUED_JOBS,
    PENDING_UPLOADS_TOO_LARGE,
    INSUFFICIENT_STORAGE,
    JOB_NOT_FOUND,
    JOB_FINISHED,
    ACCESS_DENIED,
    WEBSOCKET_REQUIRED,
    TOO_MANY_WEBSOCKETS,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use recozik_auth::{AuthError, ValidationError};
    use recozik_core::AudioError;

    use super::API_CODES;

    fn sorted(codes: &[&str]) -> Vec<String> {
        let set: BTreeSet<&str> = codes.iter().copied().collect();
        assert_eq!(set.len(), codes.len(), "a code is listed twice");
        set.into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn the_api_codes_are_pinned() {
        assert_eq!(
            sorted(API_CODES),
            [
                "access_denied",
                "audio_not_found",
                "empty_upload",
                "extension_not_allowed",
                "feature_denied",
                "field_too_large",
                "insufficient_storage",
                "internal_error",
                "invalid_cache_ttl",
                "invalid_multipart",
                "job_finished",
                "job_not_found",
                "method_not_allowed",
                "missing_audio_path",
                "not_a_file",
                "not_found",
                "path_outside_root",
                "path_reserved",
                "path_traversal",
                "payload_too_large",
                "pending_uploads_too_large",
                "quota_exceeded",
                "symbolic_link",
                "too_many_fields",
                "too_many_files",
                "too_many_queued_jobs",
                "too_many_websockets",
                "unavailable",
                "unsupported_media_type",
                "upload_too_large",
                "uploads_disabled",
                "validation_error",
                "websocket_required",
            ]
        );
    }

    #[test]
    fn library_errors_the_api_forwards_use_the_named_codes() {
        assert_eq!(
            recozik_jobs::identify::InvalidOptions::CacheTtlTooLong.code(),
            super::INVALID_CACHE_TTL
        );
    }

    #[test]
    fn the_auth_codes_are_pinned() {
        let validation = [
            ValidationError::UnknownFeature(String::new()),
            ValidationError::UnknownQuotaScope(String::new()),
            ValidationError::NegativeQuotaLimit(String::new()),
            ValidationError::InvalidRole(String::new()),
            ValidationError::RoleNotHeldByOwner(String::new()),
            ValidationError::FeatureNotHeldByOwner(recozik_auth::Feature::Identify),
            ValidationError::WeakPassword(""),
            ValidationError::EmailRequired,
            ValidationError::InvalidEmail,
            ValidationError::InvalidUsername,
            ValidationError::DisplayNameRequired,
            ValidationError::TokenTooShort(0),
            ValidationError::TokenInvalidCharacters,
            ValidationError::ExpiryInPast,
            ValidationError::LastAdmin,
        ];
        let errors = [
            AuthError::MissingAuth,
            AuthError::InvalidToken,
            AuthError::AuthRequired,
            AuthError::InvalidCredentials,
            AuthError::UserDisabled,
            AuthError::CsrfFailed,
            AuthError::AdminOnly,
            AuthError::AdminRequired,
            AuthError::MissingRefreshToken,
            AuthError::InvalidRefreshToken,
            AuthError::RefreshReused,
            AuthError::RefreshExpired,
            AuthError::UserMissing,
            AuthError::UserNotFound,
            AuthError::TokenNotFound,
            AuthError::DuplicateToken,
            AuthError::UsernameExists,
            AuthError::EmailOrUsernameExists,
            AuthError::EmailExists,
            AuthError::FeatureDenied(recozik_auth::Feature::Identify),
            AuthError::TokenOwnerNotFound(1),
        ];
        let mut codes: Vec<&str> = validation.iter().map(ValidationError::code).collect();
        codes.extend(errors.iter().map(AuthError::code));
        assert_eq!(
            sorted(&codes),
            [
                "admin_only",
                "admin_required",
                "auth_required",
                "csrf_failed",
                "display_name_required",
                "duplicate_token",
                "email_exists",
                "email_or_username_exists",
                "email_required",
                "expiry_in_past",
                "feature_denied",
                "feature_not_held_by_owner",
                "invalid_credentials",
                "invalid_email",
                "invalid_refresh_token",
                "invalid_role",
                "invalid_token",
                "invalid_username",
                "last_admin",
                "missing_auth",
                "missing_refresh_token",
                "negative_quota_limit",
                "refresh_expired",
                "refresh_reused",
                "role_not_held_by_owner",
                "token_invalid_characters",
                "token_not_found",
                "token_owner_not_found",
                "token_too_short",
                "unknown_feature",
                "unknown_quota_scope",
                "user_disabled",
                "user_missing",
                "user_not_found",
                "username_exists",
                "weak_password",
            ]
        );
    }

    #[test]
    fn the_audio_codes_are_pinned() {
        let path = || PathBuf::from("x");
        let errors = [
            AudioError::NotFound { path: path() },
            AudioError::NotAFile { path: path() },
            AudioError::Empty { path: path() },
            AudioError::NotAudio { path: path() },
            AudioError::ContainerNotAllowed {
                path: path(),
                format: String::new(),
            },
            AudioError::Implausible {
                path: path(),
                detail: String::new(),
            },
            AudioError::TimedOut {
                path: path(),
                limit_seconds: 0.0,
                elapsed_seconds: 0.0,
            },
            AudioError::NoAudioStream { path: path() },
            AudioError::UnsupportedCodec {
                path: path(),
                codec: String::new(),
            },
            AudioError::Corrupt {
                path: path(),
                detail: String::new(),
            },
            AudioError::Truncated {
                path: path(),
                declared_seconds: 0.0,
                decoded_seconds: 0.0,
            },
            AudioError::TooShort {
                path: path(),
                decoded_seconds: 0.0,
            },
            AudioError::Unreadable {
                path: path(),
                source: std::io::Error::other("x"),
            },
            AudioError::Conversion {
                path: path(),
                detail: String::new(),
            },
            AudioError::Fingerprinter {
                path: path(),
                detail: String::new(),
            },
        ];
        let codes: Vec<&str> = errors.iter().map(AudioError::code).collect();
        assert_eq!(
            sorted(&codes),
            [
                "audio_too_short",
                "container_not_allowed",
                "conversion_failed",
                "corrupt_audio",
                "decode_timeout",
                "empty_file",
                "file_not_found",
                "file_unreadable",
                "fingerprint_failed",
                "implausible_audio",
                "no_audio_stream",
                "not_a_file",
                "not_audio",
                "truncated_audio",
                "unsupported_codec",
            ]
        );
    }
}
