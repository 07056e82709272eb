//! Identification requests from the server settings and client options, and
//! running them with a principal's policies; shared by `from-path` and the upload jobs. The
//! rules live in [`recozik_jobs::identify`]; these wrappers take the API's settings and state.

use std::path::PathBuf;

use recozik_auth::Principal;
use recozik_core::identify::{IdentifyRequest, ProgressSink};
use recozik_core::{IdentifyError, IdentifyResult};

pub use recozik_jobs::identify::{IdentifyOptions, InvalidOptions, MAX_CACHE_TTL_HOURS};

use crate::jobs::identify_defaults;
use crate::settings::Settings;
use crate::state::AppState;

/// The identification request for `audio_path` under these settings and options.
pub fn build_request(
    settings: &Settings,
    audio_path: PathBuf,
    options: &IdentifyOptions,
) -> IdentifyRequest {
    recozik_jobs::identify::build_request(&identify_defaults(settings), audio_path, options)
}

/// Runs `request` as `principal`: its feature permissions and quotas apply, results go through
/// the shared lookup cache, progress messages go to `progress`.
pub async fn identify_as(
    state: &AppState,
    principal: Principal,
    request: &IdentifyRequest,
    progress: &dyn ProgressSink,
) -> Result<IdentifyResult, IdentifyError> {
    state
        .jobs
        .identifier()
        .identify_as(principal, request, progress)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decode_timeout_setting_reaches_the_fingerprinter() {
        let settings = Settings {
            decode_timeout_seconds: 42,
            ..Settings::default()
        };
        let request = build_request(&settings, "a.mp3".into(), &IdentifyOptions::default());
        assert_eq!(request.fingerprint.decode_timeout_seconds, 42);
    }

    #[test]
    fn audd_needs_a_token_whatever_the_option() {
        let mut settings = Settings::default();
        let options = IdentifyOptions {
            enable_audd: Some(true),
            ..IdentifyOptions::default()
        };
        assert!(
            !build_request(&settings, "/x.mp3".into(), &options)
                .audd
                .enabled
        );
        settings.audd_token = Some("tok".to_owned());
        let request = build_request(&settings, "/x.mp3".into(), &IdentifyOptions::default());
        assert!(request.audd.enabled);
        assert!(request.musicbrainz.enabled);
    }
}
