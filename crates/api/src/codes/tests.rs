//! The pinned lists of error codes.
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
            "directory_not_found",
            "empty_upload",
            "extension_not_allowed",
            "feature_denied",
            "field_too_large",
            "insufficient_storage",
            "internal_error",
            "invalid_batch_selection",
            "invalid_cache_ttl",
            "invalid_export_format",
            "invalid_limit",
            "invalid_multipart",
            "invalid_on_conflict",
            "invalid_pattern",
            "invalid_status_filter",
            "invalid_template",
            "job_finished",
            "job_not_finished",
            "job_not_found",
            "method_not_allowed",
            "missing_audio_path",
            "no_audio_files",
            "not_a_batch_job",
            "not_a_directory",
            "not_a_file",
            "not_found",
            "nothing_to_undo",
            "path_outside_root",
            "path_reserved",
            "path_traversal",
            "payload_too_large",
            "pending_uploads_too_large",
            "quota_exceeded",
            "renames_not_available",
            "symbolic_link",
            "too_many_batch_files",
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
        AudioError::TooLong {
            path: path(),
            max_seconds: 60,
        },
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
            "audio_too_long",
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
