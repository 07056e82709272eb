//! What one identification asks for, the service clients it runs with, and what it answers.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::acoustid::{AcoustIdClient, AcoustIdConfig};
use crate::audd::{AudDClient, AudDConfig, AudDOptions};
use crate::cache::MatchSource;
use crate::fingerprint::FingerprintOptions;
use crate::http::{ConfigError, Secret};
use crate::matches::Match;
use crate::metadata::EmbeddedMetadata;
use crate::musicbrainz::{MusicBrainzClient, MusicBrainzConfig};

/// Settings of every remote service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicesConfig {
    pub acoustid: AcoustIdConfig,
    pub audd: AudDConfig,
    pub musicbrainz: MusicBrainzConfig,
}

/// The service clients. Build once per process and clone: clones share the AcoustID and
/// MusicBrainz throttles, which is what keeps the whole process within their rate limits.
#[derive(Debug, Clone)]
pub struct Services {
    pub acoustid: AcoustIdClient,
    pub audd: AudDClient,
    pub musicbrainz: MusicBrainzClient,
}

impl Services {
    pub fn new(config: &ServicesConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            acoustid: AcoustIdClient::new(&config.acoustid)?,
            audd: AudDClient::new(&config.audd)?,
            musicbrainz: MusicBrainzClient::new(&config.musicbrainz)?,
        })
    }
}

/// How one identification uses MusicBrainz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MusicBrainzOptions {
    pub enabled: bool,
    /// Look a match up only when its title or artist is missing.
    pub enrich_missing_only: bool,
    /// Only the best `max_matches` matches are enriched (each lookup takes a second).
    pub max_matches: usize,
}

impl Default for MusicBrainzOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            enrich_missing_only: true,
            max_matches: 3,
        }
    }
}

/// One identification.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifyRequest {
    pub audio_path: PathBuf,
    pub acoustid_api_key: Secret,
    pub fingerprint: FingerprintOptions,
    /// Skip the cache read (results are still stored).
    pub refresh_cache: bool,
    pub cache_enabled: bool,
    /// Age limit of cached results, in hours (at least 1).
    pub cache_ttl_hours: u32,
    /// Report the file's tags when nothing matched.
    pub metadata_fallback: bool,
    pub audd: AudDOptions,
    pub musicbrainz: MusicBrainzOptions,
}

impl IdentifyRequest {
    pub fn new(audio_path: impl Into<PathBuf>, acoustid_api_key: impl Into<Secret>) -> Self {
        Self {
            audio_path: audio_path.into(),
            acoustid_api_key: acoustid_api_key.into(),
            fingerprint: FingerprintOptions::default(),
            refresh_cache: false,
            cache_enabled: true,
            cache_ttl_hours: 24,
            metadata_fallback: true,
            audd: AudDOptions::default(),
            musicbrainz: MusicBrainzOptions::default(),
        }
    }

    pub(super) fn cache_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.cache_ttl_hours.max(1)) * 3600)
    }
}

/// The outcome of an identification; serialises to the web API's `IdentifyResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentifyResult {
    pub matches: Vec<Match>,
    pub match_source: Option<MatchSource>,
    pub metadata: Option<EmbeddedMetadata>,
    pub audd_note: Option<String>,
    pub audd_error: Option<String>,
    pub fingerprint: String,
    pub duration_seconds: f64,
}
