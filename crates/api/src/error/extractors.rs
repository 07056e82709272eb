//! Actix's own extractor errors (JSON body, path, query) in the API's error shape: 422
//! `validation_error` with pydantic-like `{type, loc, msg}` issues, 413 and 415 for bodies.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use super::{ApiError, ValidationIssue};
use crate::codes;

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
}
