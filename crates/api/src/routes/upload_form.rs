//! The form of `POST /identify/upload` besides its file: how the option fields are read, the
//! schema of the whole form for the OpenAPI document, and the answer.

use serde::Serialize;

use crate::error::{ApiError, ValidationIssue};
use crate::pipeline::IdentifyOptions;

/// The multipart form: one `file` part, and optional switches read as form booleans (`true`
/// or `false`, `1`/`0`, `yes`/`no`, `on`/`off`, `t`/`f`, `y`/`n`; empty means not sent). Other
/// fields are ignored. The handler reads the stream part by part; this type describes it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // never built: the form is read from the stream by `apply_option`
#[allow(clippy::struct_excessive_bools)] // the client's switches, as the API names them
pub(crate) struct UploadForm {
    /// The audio file; its part needs an `audio/*` content type.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Ignore the lookup cache for this file.
    refresh_cache: Option<bool>,
    /// Fall back on the file's own tags when nothing matches (default true).
    metadata_fallback: Option<bool>,
    /// Ask AudD before AcoustID.
    prefer_audd: Option<bool>,
    /// Use AudD's enterprise endpoint (needs that quota).
    force_audd_enterprise: Option<bool>,
    /// Use AudD at all (default: when a token is configured).
    enable_audd: Option<bool>,
}

/// The answer: the job to follow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Queued {
    job_id: String,
    #[schema(example = "queued")]
    status: &'static str,
}

impl Queued {
    pub(crate) fn new(job_id: String) -> Self {
        Self {
            job_id,
            status: "queued",
        }
    }
}

/// Form booleans as pydantic reads them; an empty value means "not sent".
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<Option<bool>, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Some(true)),
        "0" | "off" | "f" | "false" | "n" | "no" => Ok(Some(false)),
        _ => Err(ApiError::validation(vec![ValidationIssue::new(
            "bool_parsing",
            &["body", name],
            "Input should be a valid boolean, unable to interpret input",
        )])),
    }
}

/// Applies the form field `name` to `options` (fields other than the switches are ignored).
pub(crate) fn apply_option(
    options: &mut IdentifyOptions,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let target = match name {
        "refresh_cache" => &mut options.refresh_cache,
        "metadata_fallback" => &mut options.metadata_fallback,
        "prefer_audd" => &mut options.prefer_audd,
        "force_audd_enterprise" => &mut options.force_audd_enterprise,
        "enable_audd" => {
            options.enable_audd = parse_bool(name, value)?;
            return Ok(());
        }
        // Unknown fields (the dashboard's `locale`, framework keys) are ignored.
        _ => return Ok(()),
    };
    if let Some(flag) = parse_bool(name, value)? {
        *target = flag;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// The documented switches are exactly the fields the handler acts on.
    #[test]
    fn every_documented_switch_is_read_and_no_other() {
        let schema = serde_json::to_value(UploadForm::schema()).unwrap_or_default();
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(properties.contains_key("file"));
        for name in properties.keys().filter(|name| *name != "file") {
            let changed = ["true", "false"].iter().any(|value| {
                let mut options = IdentifyOptions::default();
                apply_option(&mut options, name, value).is_ok()
                    && options != IdentifyOptions::default()
            });
            assert!(changed, "documented field {name} changes nothing");
        }
        for ignored in ["locale", "cache_enabled", "file_name"] {
            let mut options = IdentifyOptions::default();
            assert!(apply_option(&mut options, ignored, "true").is_ok());
            assert_eq!(options, IdentifyOptions::default(), "{ignored}");
        }
    }

    #[test]
    fn a_switch_that_is_not_a_boolean_is_a_validation_error() {
        let mut options = IdentifyOptions::default();
        let error = apply_option(&mut options, "prefer_audd", "perhaps");
        assert_eq!(error.map_err(|e| e.code()), Err("validation_error"));
        assert!(apply_option(&mut options, "prefer_audd", " YES ").is_ok());
        assert!(options.prefer_audd);
        assert!(apply_option(&mut options, "prefer_audd", "").is_ok());
        assert!(options.prefer_audd, "empty means not sent");
    }
}
