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
// Library batches.
pub const DIRECTORY_NOT_FOUND: &str = "directory_not_found";
pub const NOT_A_DIRECTORY: &str = "not_a_directory";
pub const NO_AUDIO_FILES: &str = "no_audio_files";
pub const INVALID_SELECTION: &str = "invalid_batch_selection";
pub const INVALID_PATTERN: &str = "invalid_pattern";
pub const TOO_MANY_BATCH_FILES: &str = "too_many_batch_files";
pub const INVALID_LIMIT: &str = "invalid_limit";
pub const INVALID_TEMPLATE: &str = "invalid_template";
pub const NOT_A_BATCH: &str = "not_a_batch_job";
pub const INVALID_EXPORT_FORMAT: &str = "invalid_export_format";
pub const INVALID_STATUS_FILTER: &str = "invalid_status_filter";
pub const INVALID_ON_CONFLICT: &str = "invalid_on_conflict";
pub const JOB_NOT_FINISHED: &str = "job_not_finished";
pub const NOTHING_TO_UNDO: &str = "nothing_to_undo";
pub const RENAMES_NOT_AVAILABLE: &str = "renames_not_available";

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
    DIRECTORY_NOT_FOUND,
    NOT_A_DIRECTORY,
    NO_AUDIO_FILES,
    INVALID_SELECTION,
    INVALID_PATTERN,
    TOO_MANY_BATCH_FILES,
    INVALID_LIMIT,
    INVALID_TEMPLATE,
    NOT_A_BATCH,
    INVALID_EXPORT_FORMAT,
    INVALID_STATUS_FILTER,
    INVALID_ON_CONFLICT,
    JOB_NOT_FINISHED,
    NOTHING_TO_UNDO,
    RENAMES_NOT_AVAILABLE,
];

#[cfg(test)]
mod tests;
