//! The one place where errors become HTTP responses.
//!
//! Every error body is `{"detail": …, "code": "…"}`: `detail` keeps the upstream texts the
//! dashboard and existing clients rely on, `code` is a stable machine-readable name. Validation
//! errors (422) carry a list of `{type, loc, msg}` objects as `detail`. A 500 never shows the
//! cause to the client; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;

use crate::codes;

/// One entry of a 422 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    pub kind: String,
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
}

impl ValidationIssue {
    pub fn new(kind: &str, loc: &[&str], msg: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            loc: loc
                .iter()
                .map(|part| serde_json::Value::from(*part))
                .collect(),
            msg: msg.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Detail {
    Text(String),
    Validation(Vec<ValidationIssue>),
}

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Detail,
    retry_after_seconds: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Detail::Text(text) => write!(f, "{} {}: {text}", self.status.as_u16(), self.code),
            Detail::Validation(issues) => {
                write!(
                    f,
                    "{} {}: {} issue(s)",
                    self.status.as_u16(),
                    self.code,
                    issues.len()
                )
            }
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: Detail::Text(detail.into()),
            retry_after_seconds: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn too_many_requests(
        code: &'static str,
        detail: impl Into<String>,
        retry_after_seconds: u64,
    ) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
        }
    }

    pub fn validation(issues: Vec<ValidationIssue>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: codes::VALIDATION_ERROR,
            detail: Detail::Validation(issues),
            retry_after_seconds: None,
        }
    }

    /// A failure of this server. `cause` is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            "Internal Server Error",
        )
    }

    /// The service is temporarily unable to answer (for example the database pool is exhausted).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%cause, "service unavailable");
        Self {
            retry_after_seconds: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                "Service temporarily unavailable",
            )
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn detail_text(&self) -> Option<&str> {
        match &self.detail {
            Detail::Text(text) => Some(text),
            Detail::Validation(_) => None,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    detail: serde_json::Value,
    code: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match &self.detail {
            Detail::Text(text) => serde_json::Value::from(text.as_str()),
            Detail::Validation(issues) => serde_json::to_value(issues).unwrap_or_default(),
        };
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.json(Body {
            detail,
            code: self.code,
        })
    }
}

/// The name of the field a serde message complains about, when it says so.
fn field_in_message(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn serde_issue(location: &str, message: &str) -> ValidationIssue {
    let clean = message.split(" at line ").next().unwrap_or(message);
    if clean.starts_with("missing field") {
        let field = field_in_message(clean).unwrap_or_default();
        return ValidationIssue::new("missing", &[location, field], "Field required");
    }
    if clean.starts_with("unknown field") {
        let field = field_in_message(clean).unwrap_or_default();
        return ValidationIssue::new(
            "extra_forbidden",
            &[location, field],
            "Extra inputs are not permitted",
        );
    }
    ValidationIssue::new("value_error", &[location], clean)
}

/// JSON body errors: malformed JSON, wrong shape, wrong content type, too large.
#[allow(clippy::needless_pass_by_value)] // the signature actix expects
pub fn json_error(
    error: actix_web::error::JsonPayloadError,
    _request: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &error {
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "Expected a JSON body (Content-Type: application/json)",
        ),
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            "Request body too large",
        ),
        E::Deserialize(inner) if inner.is_data() => {
            ApiError::validation(vec![serde_issue("body", &inner.to_string())])
        }
        E::Deserialize(inner) => ApiError::validation(vec![ValidationIssue::new(
            "json_invalid",
            &["body"],
            format!(
                "JSON decode error: {}",
                inner
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
            ),
        )]),
        _ => ApiError::validation(vec![ValidationIssue::new(
            "json_invalid",
            &["body"],
            "JSON decode error",
        )]),
    };
    api.into()
}

#[allow(clippy::needless_pass_by_value)] // the signature actix expects
pub fn path_error(error: actix_web::error::PathError, _request: &HttpRequest) -> actix_web::Error {
    let actix_web::error::PathError::Deserialize(inner) = &error else {
        return ApiError::validation(vec![ValidationIssue::new(
            "value_error",
            &["path"],
            "Invalid path",
        )])
        .into();
    };
    ApiError::validation(vec![ValidationIssue::new(
        "parsing",
        &["path"],
        inner.to_string(),
    )])
    .into()
}

#[allow(clippy::needless_pass_by_value)] // the signature actix expects
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _request: &HttpRequest,
) -> actix_web::Error {
    let message = match &error {
        actix_web::error::QueryPayloadError::Deserialize(inner) => inner.to_string(),
        other => other.to_string(),
    };
    ApiError::validation(vec![serde_issue("query", &message)]).into()
}

/// Unknown routes.
pub async fn not_found() -> HttpResponse {
    ApiError::not_found(codes::NOT_FOUND, "Not Found").error_response()
}

/// Known routes called with a method they do not serve. `allow` lists the methods the route
/// does serve (RFC 9110 §15.5.6 requires the `Allow` header on a 405).
pub fn method_not_allowed(allow: &HeaderValue) -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
    .error_response();
    response.headers_mut().insert(header::ALLOW, allow.clone());
    response
}

/// Installs the extractor error handlers on a scope or app config.
pub fn configure_extractors(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(1024 * 1024)
                .error_handler(json_error),
        )
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error));
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_pydantic_like_issues() {
        let issue = serde_issue("body", "missing field `password` at line 1 column 20");
        assert_eq!(issue.kind, "missing");
        assert_eq!(
            issue.loc,
            vec![serde_json::json!("body"), serde_json::json!("password")]
        );
        let other = serde_issue("query", "invalid digit found in string");
        assert_eq!(other.kind, "value_error");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::internal(&"disk on fire at /var/lib/secret");
        assert_eq!(error.detail_text(), Some("Internal Server Error"));
    }
}
