//! The one place where errors become HTTP responses.
//!
//! Every error body is `{"detail": …, "code": "…"}`: `detail` keeps the upstream texts the
//! dashboard and existing clients rely on, `code` is a stable machine-readable name. Validation
//! errors (422) carry a list of `{type, loc, msg}` objects as `detail`. A 500 never shows the
//! cause to the client; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::codes;

mod batch;
mod extractors;
mod library;

pub use extractors::{configure_extractors, json_error, path_error, query_error};
pub use library::audio_error_text;

/// One entry of a 422 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ValidationIssue {
    /// What is wrong, e.g. `missing`, `int_parsing`, `less_than_equal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `body`, `query` or `path`, then the field name.
    pub loc: Vec<serde_json::Value>,
    /// A sentence for people.
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

/// The body of every error except 422.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence for people (the upstream texts are kept).
    pub detail: String,
    /// A stable machine-readable name (see `codes`).
    pub code: &'static str,
}

/// The body of a 422.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<ValidationIssue>,
    /// Always `validation_error`.
    pub code: &'static str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        match &self.detail {
            Detail::Text(text) => response.json(ErrorBody {
                detail: text.clone(),
                code: self.code,
            }),
            Detail::Validation(issues) => response.json(ValidationErrorBody {
                detail: issues.clone(),
                code: self.code,
            }),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::internal(&"disk on fire at /var/lib/secret");
        assert_eq!(error.detail_text(), Some("Internal Server Error"));
    }
}
