//! What an upload job carries in its durable payload, and how a worker turns it back into a
//! principal and an identify request when the job runs.
//!
//! The payload stores the request options of `POST /identify/upload` and a *reference* to the
//! principal (user id plus how it authenticated), never a principal snapshot: roles, features
//! and quotas are re-read when the job runs, so a revoked token, a deleted or deactivated user
//! or a narrowed feature list applies to jobs still waiting in the queue
//! ([`recozik_auth::Auth::recheck_submitter`]).

use std::path::Path;

use recozik_auth::Principal;
pub use recozik_auth::{SubmittedVia, Submitter};
use recozik_core::IdentifyRequest;
use serde::{Deserialize, Serialize};

use crate::pipeline::{IdentifyOptions, build_request};
use crate::settings::Settings;

/// Current payload format version.
pub const PAYLOAD_VERSION: u32 = 1;

/// The JSON stored in `jobs.payload` for an upload job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    pub version: u32,
    pub options: IdentifyOptions,
    pub submitter: Submitter,
}

impl JobPayload {
    pub fn new(options: IdentifyOptions, principal: &Principal) -> Self {
        Self {
            version: PAYLOAD_VERSION,
            options,
            submitter: Submitter::of(principal),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of plain fields always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The identify request of an upload job (web-api.md §9.1): the upload's options, with the
/// cache settings taken from the server settings.
pub fn identify_request(
    settings: &Settings,
    audio_path: &Path,
    options: &IdentifyOptions,
) -> IdentifyRequest {
    build_request(settings, audio_path.to_owned(), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_keeps_defaults() {
        let payload = JobPayload {
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
        let text = payload.to_json();
        assert!(text.contains(r#""kind":"token""#), "{text}");
        assert_eq!(JobPayload::from_json(&text).ok(), Some(payload));
        let partial = r#"{"version":1,"options":{},"submitter":{"user_id":1,"via":{"kind":"session","session_id":3,"family_id":"f"}}}"#;
        let parsed = JobPayload::from_json(partial).ok();
        assert_eq!(parsed.map(|p| p.options), Some(IdentifyOptions::default()));
    }

    #[test]
    fn audd_needs_a_token_whatever_the_option() {
        let mut settings = Settings::default();
        let options = IdentifyOptions {
            enable_audd: Some(true),
            ..IdentifyOptions::default()
        };
        let request = identify_request(&settings, Path::new("/x.mp3"), &options);
        assert!(!request.audd.enabled);
        settings.audd_token = Some("tok".to_owned());
        let request = identify_request(&settings, Path::new("/x.mp3"), &IdentifyOptions::default());
        assert!(request.audd.enabled);
        assert!(request.musicbrainz.enabled);
        let off = IdentifyOptions {
            enable_audd: Some(false),
            ..IdentifyOptions::default()
        };
        assert!(
            !identify_request(&settings, Path::new("/x.mp3"), &off)
                .audd
                .enabled
        );
    }
}
