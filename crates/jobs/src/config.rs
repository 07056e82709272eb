//! What the runtime needs from the server settings, as a plain struct: the caller (the API's
//! settings) builds it, nothing here reads the environment.

use std::path::PathBuf;
use std::time::Duration;

/// Files younger than this are never treated as orphans (an upload may still be streaming, on
/// this or another instance).
pub const ORPHAN_MIN_AGE: Duration = Duration::from_mins(10);

/// The runtime's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsConfig {
    /// Workers to run (at least one is started).
    pub workers: usize,
    /// Lease of a claimed job, renewed every third of its length while the job runs.
    pub lease: Duration,
    /// The longest a job may run; `None`: no limit.
    pub time_limit: Option<Duration>,
    /// Finished jobs older than this are purged with their files.
    pub retention: Duration,
    /// The folder that holds uploads while their job runs (swept for orphans).
    pub upload_dir: PathBuf,
    /// Upload files younger than this are never swept.
    pub orphan_min_age: Duration,
    /// Server-side defaults of an identification.
    pub identify: IdentifyDefaults,
    /// Fingerprints sent to AcoustID in one request by a batch (1 to 20).
    pub acoustid_batch_size: usize,
    /// Files a batch fingerprints at once.
    pub batch_fingerprint_workers: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            lease: Duration::from_mins(1),
            time_limit: Some(Duration::from_mins(30)),
            retention: Duration::from_hours(24 * 7),
            upload_dir: PathBuf::from("uploads"),
            orphan_min_age: ORPHAN_MIN_AGE,
            identify: IdentifyDefaults::default(),
            acoustid_batch_size: recozik_core::acoustid::MAX_BATCH,
            batch_fingerprint_workers: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The server's identification settings that a client cannot choose (or that apply when it
/// does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifyDefaults {
    /// AcoustID client key.
    pub acoustid_api_key: String,
    /// AudD token; blank or `None`: AudD is never called.
    pub audd_token: Option<String>,
    /// Whether MusicBrainz enrichment runs.
    pub musicbrainz_enabled: bool,
    /// Whether the lookup cache is used when the client does not say.
    pub cache_enabled: bool,
    /// Cache age when the client does not say.
    pub cache_ttl_hours: u32,
    /// Deadline of one decode.
    pub decode_timeout_seconds: u32,
}

impl Default for IdentifyDefaults {
    fn default() -> Self {
        Self {
            acoustid_api_key: String::new(),
            audd_token: None,
            musicbrainz_enabled: true,
            cache_enabled: true,
            cache_ttl_hours: 24,
            decode_timeout_seconds: 300,
        }
    }
}
