//! Identification requests from the server's defaults and a client's options (the client may
//! choose only what `IdentifyOptions` lists), and running one as a principal: its feature
//! permissions and quotas apply, results go through the shared lookup cache. Used by the upload job
//! kind and by `recozik_api`'s synchronous `from-path`.

use std::path::PathBuf;
use std::time::Duration;

use recozik_auth::{Auth, Principal};
use recozik_core::audd::{AudDMode, AudDOptions};
use recozik_core::identify::{IdentifyHooks, IdentifyRequest, MusicBrainzOptions, ProgressSink};
use recozik_core::{IdentifyError, IdentifyResult, Services};
use recozik_storage::Database;
use serde::{Deserialize, Serialize};

use crate::config::IdentifyDefaults;
use crate::policy::{DatabaseLookupCache, PrincipalPolicy};

/// The longest cache age a client (or the `cache_ttl_hours` setting) may ask for: ten years.
pub const MAX_CACHE_TTL_HOURS: u32 = 87_600;

/// Options a client sent that the pipeline cannot honour. `Display` is the client text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOptions {
    #[error("cache_ttl_hours must be at most {MAX_CACHE_TTL_HOURS} (ten years)")]
    CacheTtlTooLong,
}

impl InvalidOptions {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CacheTtlTooLong => "invalid_cache_ttl",
        }
    }
}

/// What a client may choose per identification. Uploads cannot choose the cache settings
/// (`cache_enabled`, `cache_ttl_hours`): the server's settings apply. Stored in upload job
/// payloads: the field names are a stored format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // the client's switches, as the API names them
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentifyOptions {
    pub refresh_cache: bool,
    /// `None`: the `cache_enabled` setting.
    pub cache_enabled: Option<bool>,
    /// `None`: the `cache_ttl_hours` setting.
    pub cache_ttl_hours: Option<u32>,
    pub metadata_fallback: bool,
    pub prefer_audd: bool,
    pub force_audd_enterprise: bool,
    /// `None`: AudD is used whenever a token is configured.
    pub enable_audd: Option<bool>,
}

impl IdentifyOptions {
    /// Refuses numbers outside what the pipeline can honour (a huge cache age would overflow
    /// the expiry date). 0 stays accepted and means one hour, as upstream.
    pub fn validate(&self) -> Result<(), InvalidOptions> {
        if let Some(hours) = self.cache_ttl_hours
            && hours > MAX_CACHE_TTL_HOURS
        {
            return Err(InvalidOptions::CacheTtlTooLong);
        }
        Ok(())
    }
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        Self {
            refresh_cache: false,
            cache_enabled: None,
            cache_ttl_hours: None,
            metadata_fallback: true,
            prefer_audd: false,
            force_audd_enterprise: false,
            enable_audd: None,
        }
    }
}

/// The identification request for `audio_path` under these defaults and options.
pub fn build_request(
    defaults: &IdentifyDefaults,
    audio_path: PathBuf,
    options: &IdentifyOptions,
) -> IdentifyRequest {
    let mut request = IdentifyRequest::new(audio_path, defaults.acoustid_api_key.as_str());
    request.refresh_cache = options.refresh_cache;
    request.cache_enabled = options.cache_enabled.unwrap_or(defaults.cache_enabled);
    request.cache_ttl_hours = options
        .cache_ttl_hours
        .unwrap_or(defaults.cache_ttl_hours)
        .max(1);
    request.metadata_fallback = options.metadata_fallback;
    request.fingerprint.decode_timeout_seconds = defaults.decode_timeout_seconds;
    let audd_token = defaults
        .audd_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    request.audd = AudDOptions {
        enabled: audd_token.is_some() && options.enable_audd.unwrap_or(true),
        token: audd_token.unwrap_or_default().into(),
        prefer: options.prefer_audd,
        mode: AudDMode::Auto,
        force_enterprise: options.force_audd_enterprise,
        enterprise_fallback: true,
        ..AudDOptions::default()
    };
    request.musicbrainz = MusicBrainzOptions {
        enabled: defaults.musicbrainz_enabled,
        enrich_missing_only: true,
        ..MusicBrainzOptions::default()
    };
    request
}

/// What running an identification needs: the auth service (policies, quotas), the jobs
/// database (lookup cache) and the service clients.
#[derive(Debug, Clone, Copy)]
pub struct Identifier<'a> {
    pub auth: &'a Auth,
    pub cache_db: &'a Database,
    pub services: &'a Services,
}

impl Identifier<'_> {
    /// Runs `request` as `principal`: its feature permissions and quotas apply, results go
    /// through the shared lookup cache, progress messages go to `progress`.
    pub async fn identify_as(
        &self,
        principal: Principal,
        request: &IdentifyRequest,
        progress: &dyn ProgressSink,
    ) -> Result<IdentifyResult, IdentifyError> {
        let policy = PrincipalPolicy {
            auth: self.auth.clone(),
            principal,
        };
        let cache = DatabaseLookupCache {
            db: self.cache_db.clone(),
            ttl: Duration::from_secs(u64::from(request.cache_ttl_hours.max(1)) * 3600),
        };
        let hooks = IdentifyHooks {
            access: &policy,
            quota: &policy,
            cache: Some(&cache),
            progress,
            recordings: None,
        };
        recozik_core::identify(self.services, request, &hooks).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decode_timeout_setting_reaches_the_fingerprinter() {
        let defaults = IdentifyDefaults {
            decode_timeout_seconds: 42,
            ..IdentifyDefaults::default()
        };
        let request = build_request(&defaults, "a.mp3".into(), &IdentifyOptions::default());
        assert_eq!(request.fingerprint.decode_timeout_seconds, 42);
    }

    #[test]
    fn cache_ages_beyond_ten_years_are_refused() {
        let mut options = IdentifyOptions {
            cache_ttl_hours: Some(MAX_CACHE_TTL_HOURS),
            ..IdentifyOptions::default()
        };
        assert!(options.validate().is_ok());
        options.cache_ttl_hours = Some(u32::MAX);
        assert_eq!(options.validate(), Err(InvalidOptions::CacheTtlTooLong));
        options.cache_ttl_hours = Some(0);
        assert!(options.validate().is_ok());
    }

    #[test]
    fn audd_needs_a_token_whatever_the_option() {
        let mut defaults = IdentifyDefaults::default();
        let on = IdentifyOptions {
            enable_audd: Some(true),
            ..IdentifyOptions::default()
        };
        assert!(!build_request(&defaults, "/x.mp3".into(), &on).audd.enabled);
        defaults.audd_token = Some("tok".to_owned());
        let request = build_request(&defaults, "/x.mp3".into(), &IdentifyOptions::default());
        assert!(request.audd.enabled);
        assert!(request.musicbrainz.enabled);
        let off = IdentifyOptions {
            enable_audd: Some(false),
            ..IdentifyOptions::default()
        };
        assert!(!build_request(&defaults, "/x.mp3".into(), &off).audd.enabled);
    }
}
