//! Library errors (auth, storage, upload limits, jobs, identification, media paths) as API
//! errors: each variant's status and code, with client texts from `recozik_jobs::client_text`.

use actix_web::http::StatusCode;

use super::ApiError;
use crate::codes;

impl From<recozik_auth::AuthError> for ApiError {
    fn from(error: recozik_auth::AuthError) -> Self {
        use recozik_auth::ErrorKind as K;
        // A database failure met while authenticating is mapped like any other storage error:
        // a busy or exhausted pool is a 503 with `Retry-After`, not a 500.
        if let recozik_auth::AuthError::Storage(storage) = error {
            return storage.into();
        }
        let status = match error.kind() {
            K::Unauthenticated => StatusCode::UNAUTHORIZED,
            K::Forbidden => StatusCode::FORBIDDEN,
            K::NotFound => StatusCode::NOT_FOUND,
            K::Conflict => StatusCode::CONFLICT,
            K::InvalidInput => StatusCode::BAD_REQUEST,
            K::Limited => StatusCode::TOO_MANY_REQUESTS,
            K::Internal => return Self::internal(&error),
        };
        let mut api = Self::new(status, error.code(), error.to_string());
        api.retry_after_seconds = error.retry_after_secs().map(|s| s.max(1));
        api
    }
}

impl From<recozik_storage::StorageError> for ApiError {
    fn from(error: recozik_storage::StorageError) -> Self {
        if error.is_transient() {
            Self::unavailable(&error)
        } else {
            Self::internal(&error)
        }
    }
}

impl From<crate::jobs::limits::UploadLimitError> for ApiError {
    fn from(error: crate::jobs::limits::UploadLimitError) -> Self {
        use crate::jobs::limits::UploadLimitError as E;
        match error {
            E::TooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::UPLOAD_TOO_LARGE,
                error.to_string(),
            ),
            E::Disabled { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::UPLOADS_DISABLED,
                error.to_string(),
            ),
            E::TooManyFields => Self::bad_request(codes::TOO_MANY_FIELDS, error.to_string()),
            E::FieldTooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::FIELD_TOO_LARGE,
                error.to_string(),
            ),
            E::TooManyQueuedJobs { .. } => {
                Self::too_many_requests(codes::TOO_MANY_QUEUED_JOBS, error.to_string(), 30)
            }
            E::PendingUploadsTooLarge { .. } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                codes::PENDING_UPLOADS_TOO_LARGE,
                error.to_string(),
            ),
            E::InsufficientStorage => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                codes::INSUFFICIENT_STORAGE,
                error.to_string(),
            ),
            E::Storage(storage) => storage.into(),
        }
    }
}

/// A client-safe description of an audio failure (the library's message names server paths).
/// The one mapping lives in `recozik_jobs::client_text`, which job failure messages use too.
pub use recozik_jobs::client_text::audio_error_text;

impl From<recozik_jobs::identify::InvalidOptions> for ApiError {
    fn from(error: recozik_jobs::identify::InvalidOptions) -> Self {
        Self::bad_request(error.code(), error.to_string())
    }
}

impl From<recozik_jobs::SubmitError> for ApiError {
    fn from(error: recozik_jobs::SubmitError) -> Self {
        match error {
            recozik_jobs::SubmitError::Storage(storage) => storage.into(),
            payload @ recozik_jobs::SubmitError::Payload(_) => Self::internal(&payload),
        }
    }
}

/// Seconds until `when`, at least 1.
fn seconds_until(when: std::time::SystemTime) -> u64 {
    when.duration_since(std::time::SystemTime::now())
        .map_or(1, |d| d.as_secs().max(1))
}

impl From<recozik_core::IdentifyError> for ApiError {
    fn from(error: recozik_core::IdentifyError) -> Self {
        use recozik_core::IdentifyError as E;
        match &error {
            E::Denied { message, .. } => Self::forbidden(codes::FEATURE_DENIED, message.clone()),
            E::QuotaExceeded {
                message, resets_at, ..
            } => Self::too_many_requests(
                codes::QUOTA_EXCEEDED,
                message.clone(),
                resets_at.map_or(3600, seconds_until),
            ),
            E::BadAudio(audio) => Self::bad_request(audio.code(), audio_error_text(audio)),
            E::Upstream(_) => Self::bad_request(error.code(), error.to_string()),
            E::PolicyUnavailable(_) => Self::unavailable(&error),
            _ => Self::internal(&error),
        }
    }
}

impl From<recozik_core::media::MediaPathError> for ApiError {
    fn from(error: recozik_core::media::MediaPathError) -> Self {
        use recozik_core::media::MediaPathError as E;
        match error {
            E::NotFound => Self::not_found(codes::AUDIO_NOT_FOUND, error.to_string()),
            E::RootUnavailable => Self::internal(&error),
            E::Missing => Self::bad_request(codes::MISSING_AUDIO_PATH, error.to_string()),
            E::Traversal => Self::bad_request(codes::PATH_TRAVERSAL, error.to_string()),
            E::OutsideRoot => Self::bad_request(codes::PATH_OUTSIDE_ROOT, error.to_string()),
            E::NotAFile => Self::bad_request(codes::NOT_A_FILE, error.to_string()),
            E::SymbolicLink => Self::bad_request(codes::SYMBOLIC_LINK, error.to_string()),
            E::Reserved => Self::bad_request(codes::PATH_RESERVED, error.to_string()),
            E::Extension { .. } => {
                Self::bad_request(codes::EXTENSION_NOT_ALLOWED, error.to_string())
            }
        }
    }
}
