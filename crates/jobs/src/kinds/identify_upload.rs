//! The upload identification (`POST /identify/upload`): the identify pipeline run on the
//! uploaded file as the submitter, whose credentials are re-checked when the job runs.
//!
//! The payload stores the request options and a *reference* to the submitter
//! ([`Submitter`]), never a principal snapshot: roles, features and quotas are re-read when the
//! job runs ([`recozik_auth::Auth::recheck_submitter`]).

use std::path::PathBuf;

use async_trait::async_trait;
use recozik_auth::{Principal, Submitter};
use recozik_core::IdentifyResult;
use recozik_storage::Job;
use serde::{Deserialize, Serialize};

use crate::client_text::identify_error_text;
use crate::context::JobContext;
use crate::identify::{IdentifyOptions, build_request};
use crate::kind::{JobFailure, JobKind, Progress, recheck_submitter};

/// Current payload format version.
pub const PAYLOAD_VERSION: u32 = 1;

/// The upload identification kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentifyUpload;

/// The stored payload of an upload job (the format of rows written before job kinds existed,
/// which carry no `kind` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyUploadPayload {
    pub version: u32,
    pub options: IdentifyOptions,
    pub submitter: Submitter,
}

impl IdentifyUploadPayload {
    pub fn new(options: IdentifyOptions, principal: &Principal) -> Self {
        Self {
            version: PAYLOAD_VERSION,
            options,
            submitter: Submitter::of(principal),
        }
    }
}

#[async_trait]
impl JobKind for IdentifyUpload {
    const NAME: &'static str = crate::kind::LEGACY_KIND;
    type Payload = IdentifyUploadPayload;
    type Output = IdentifyResult;

    async fn run(
        &self,
        context: &JobContext,
        job: &Job,
        payload: IdentifyUploadPayload,
        progress: &Progress,
    ) -> Result<IdentifyResult, JobFailure> {
        let Some(audio_path) = job.upload_path.clone().map(PathBuf::from) else {
            return Err(JobFailure::Internal(
                "upload job without an upload file".to_owned(),
            ));
        };
        let principal = recheck_submitter(context, payload.submitter).await?;
        let request = build_request(&context.config().identify, audio_path, &payload.options);
        context
            .identifier()
            .identify_as(principal, &request, progress)
            .await
            .map_err(|error| match identify_error_text(&error) {
                Some(text) => JobFailure::Client(text),
                None => JobFailure::Internal(error.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use recozik_auth::SubmittedVia;

    use super::*;
    use crate::kind::encode;

    #[test]
    fn payload_round_trips_and_keeps_defaults() {
        let payload = IdentifyUploadPayload {
            version: PAYLOAD_VERSION,
            options: IdentifyOptions {
                prefer_audd: true,
                enable_audd: Some(false),
                ..IdentifyOptions::default()
            },
            submitter: Submitter {
                user_id: 7,
                via: SubmittedVia::Token {
                    token_id: "tok_abc".to_owned(),
                },
            },
        };
        let text = encode::<IdentifyUpload>(&payload).unwrap_or_default();
        assert!(text.contains(r#""kind":"token""#), "{text}");
        assert!(text.contains(r#""kind":"identify_upload""#), "{text}");
        let parsed: Option<IdentifyUploadPayload> = serde_json::from_str(&text).ok();
        assert_eq!(parsed, Some(payload));
        // A row written before job kinds existed.
        let partial = r#"{"version":1,"options":{},"submitter":{"user_id":1,"via":{"kind":"session","session_id":3,"family_id":"f"}}}"#;
        let parsed: Option<IdentifyUploadPayload> = serde_json::from_str(partial).ok();
        assert_eq!(parsed.map(|p| p.options), Some(IdentifyOptions::default()));
    }
}
