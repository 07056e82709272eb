//! The injection points of an identification: access and quota policy, cache, progress.

use serde::{Deserialize, Serialize};

use crate::cache::LookupCache;
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
}

impl Default for IdentifyHooks<'_> {
    fn default() -> Self {
        Self {
            access: &AllowAll,
            quota: &Unlimited,
            cache: None,
            progress: &NoProgress,
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
    pub fn with_progress(mut self, progress: &'a dyn ProgressSink) -> Self {
        self.progress = progress;
        self
    }
}
