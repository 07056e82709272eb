//! The injection points of an identification: access and quota policy, cache, progress.

use serde::{Deserialize, Serialize};

use crate::cache::LookupCache;
use crate::musicbrainz::MbRecording;
use crate::policy::{AccessPolicy, AllowAll, QuotaPolicy, Unlimited};

/// Severity of a progress message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressLevel {
    Info,
    Warning,
    Error,
}

/// Receives the human-readable messages a job shows while it runs.
pub trait ProgressSink: Send + Sync {
    fn report(&self, level: ProgressLevel, message: &str);
}

impl<F> ProgressSink for F
where
    F: Fn(ProgressLevel, &str) + Send + Sync,
{
    fn report(&self, level: ProgressLevel, message: &str) {
        self(level, message);
    }
}

/// Discards progress messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _level: ProgressLevel, _message: &str) {}
}

/// The injection points of [`identify`](super::identify). `Default` allows everything, meters nothing, caches
/// nothing and reports nothing.
#[derive(Clone, Copy)]
pub struct IdentifyHooks<'a> {
    pub access: &'a dyn AccessPolicy,
    pub quota: &'a dyn QuotaPolicy,
    pub cache: Option<&'a dyn LookupCache>,
    pub progress: &'a dyn ProgressSink,
    /// MusicBrainz answers shared by the identifications of one batch, so a recording is
    /// fetched (and metered) once per batch.
    pub recordings: Option<&'a RecordingMemo>,
}

/// MusicBrainz recordings already fetched, by lowercase MBID (`None`: MusicBrainz does not
/// know it). Bounded: beyond [`RecordingMemo::CAPACITY`] entries new answers are not kept.
#[derive(Debug, Default)]
pub struct RecordingMemo {
    recordings: std::sync::Mutex<std::collections::HashMap<String, Option<MbRecording>>>,
}

impl RecordingMemo {
    /// About 20 MB at most.
    pub const CAPACITY: usize = 20_000;

    /// The remembered answer: `None` when never fetched.
    pub fn get(&self, id: &str) -> Option<Option<MbRecording>> {
        self.recordings
            .lock()
            .ok()
            .and_then(|recordings| recordings.get(id).cloned())
    }

    pub fn remember(&self, id: &str, recording: Option<MbRecording>) {
        if let Ok(mut recordings) = self.recordings.lock()
            && (recordings.len() < Self::CAPACITY || recordings.contains_key(id))
        {
            recordings.insert(id.to_owned(), recording);
        }
    }
}

impl Default for IdentifyHooks<'_> {
    fn default() -> Self {
        Self {
            access: &AllowAll,
            quota: &Unlimited,
            cache: None,
            progress: &NoProgress,
            recordings: None,
        }
    }
}

impl std::fmt::Debug for IdentifyHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifyHooks")
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> IdentifyHooks<'a> {
    #[must_use]
    pub fn with_access(mut self, access: &'a dyn AccessPolicy) -> Self {
        self.access = access;
        self
    }

    #[must_use]
    pub fn with_quota(mut self, quota: &'a dyn QuotaPolicy) -> Self {
        self.quota = quota;
        self
    }

    #[must_use]
    pub fn with_cache(mut self, cache: &'a dyn LookupCache) -> Self {
        self.cache = Some(cache);
        self
    }

    #[must_use]
    pub fn with_recordings(mut self, recordings: &'a RecordingMemo) -> Self {
        self.recordings = Some(recordings);
        self
    }

    #[must_use]
    pub fn with_progress(mut self, progress: &'a dyn ProgressSink) -> Self {
        self.progress = progress;
        self
    }
}
