//! The lookup cache: results of a fingerprint lookup, keyed by a digest of the fingerprint and
//! the rounded duration, so a file is not looked up again within the TTL.
//!
//! [`LookupCache`] is the seam: [`MemoryLookupCache`] lives here; the database-backed one (shared
//! between instances) is implemented by the storage layer.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::acoustid::duration_param;
use crate::matches::Match;

/// Which service produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MatchSource {
    #[serde(rename = "acoustid")]
    AcoustId,
    #[serde(rename = "audd")]
    AudD,
}

impl MatchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcoustId => "acoustid",
            Self::AudD => "audd",
        }
    }
}

impl fmt::Display for MatchSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cache key: `<sha256 hex of the fingerprint>:<duration in whole seconds>`. The digest keeps
/// keys short (fingerprints are kilobytes); the duration uses the same rounding as the AcoustID
/// request, whatever computed the fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LookupKey(String);

impl LookupKey {
    pub fn new(fingerprint: &str, duration_seconds: f64) -> Self {
        let hex = sha256_hex(fingerprint.as_bytes());
        Self(format!("{hex}:{}", duration_param(duration_seconds)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LookupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// A cached lookup result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedLookup {
    pub source: MatchSource,
    pub matches: Vec<Match>,
    pub stored_at: SystemTime,
}

/// A cache backend failed; identification goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lookup cache unavailable: {0}")]
pub struct CacheError(pub String);

/// Where lookup results are kept between identifications.
///
/// `get` returns only entries younger than `max_age`; implementations should also drop
/// expired entries eventually. Empty results are never stored by the pipeline.
#[async_trait]
pub trait LookupCache: Send + Sync {
    async fn get(
        &self,
        key: &LookupKey,
        max_age: Duration,
    ) -> Result<Option<CachedLookup>, CacheError>;

    async fn put(&self, key: &LookupKey, entry: CachedLookup) -> Result<(), CacheError>;
}

/// An in-process cache with a bounded number of entries. Expired entries are removed when
/// read, and all of them when an insertion finds the cache full; if it is still full, the
/// oldest entry goes.
#[derive(Debug)]
pub struct MemoryLookupCache {
    entries: Mutex<HashMap<LookupKey, CachedLookup>>,
    max_entries: usize,
    max_age: Duration,
}

impl MemoryLookupCache {
    /// `max_age` bounds what eviction keeps (the largest TTL callers will ask for).
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
            max_age,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LookupKey, CachedLookup>> {
        // A panic while holding the lock cannot leave the map half-updated (every operation
        // is a single insert/remove), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemoryLookupCache {
    fn default() -> Self {
        Self::new(4096, Duration::from_hours(7 * 24))
    }
}

fn age(entry: &CachedLookup, now: SystemTime) -> Duration {
    now.duration_since(entry.stored_at)
        .unwrap_or(Duration::ZERO)
}

#[async_trait]
impl LookupCache for MemoryLookupCache {
    async fn get(
        &self,
        key: &LookupKey,
        max_age: Duration,
    ) -> Result<Option<CachedLookup>, CacheError> {
        let now = SystemTime::now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if age(entry, now) <= max_age => Ok(Some(entry.clone())),
            Some(entry) => {
                if age(entry, now) > self.max_age {
                    entries.remove(key);
                }
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &LookupKey, entry: CachedLookup) -> Result<(), CacheError> {
        let now = SystemTime::now();
        let mut entries = self.lock();
        if !entries.contains_key(key) && entries.len() >= self.max_entries {
            entries.retain(|_, e| age(e, now) <= self.max_age);
            if entries.len() >= self.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored_at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key.clone(), entry);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]
mod tests {
    use super::*;

    fn entry(age: Duration) -> CachedLookup {
        CachedLookup {
            source: MatchSource::AcoustId,
            matches: vec![Match::new(1.0, "r")],
            stored_at: SystemTime::now() - age,
        }
    }

    #[test]
    fn keys_are_short_and_use_the_rounded_duration() {
        let key = LookupKey::new("AQAA".repeat(1000).as_str(), 182.5);
        assert_eq!(key.as_str().len(), 64 + 4);
        assert!(key.as_str().ends_with(":183"));
        assert_eq!(key, LookupKey::new(&"AQAA".repeat(1000), 183.0));
        assert_ne!(key, LookupKey::new("AQAB", 183.0));
    }

    #[tokio::test]
    async fn entries_expire_with_the_requested_age() {
        let cache = MemoryLookupCache::new(10, Duration::from_hours(48));
        let key = LookupKey::new("fp", 10.0);
        cache
            .put(&key, entry(Duration::from_hours(2)))
            .await
            .expect("put");
        let hit = cache.get(&key, Duration::from_hours(3)).await.expect("get");
        assert!(hit.is_some());
        let miss = cache.get(&key, Duration::from_hours(1)).await.expect("get");
        assert!(miss.is_none());
        assert_eq!(
            cache.len(),
            1,
            "kept: still younger than the cache's own limit"
        );

        cache
            .put(&key, entry(Duration::from_hours(72)))
            .await
            .expect("put");
        assert!(
            cache
                .get(&key, Duration::from_hours(1))
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            cache.is_empty(),
            "evicted once older than the cache's limit"
        );
    }

    #[tokio::test]
    async fn a_full_cache_drops_the_oldest_entry() {
        let cache = MemoryLookupCache::new(2, Duration::from_hours(48));
        let keys: Vec<LookupKey> = (0..3)
            .map(|i| LookupKey::new(&format!("fp{i}"), 1.0))
            .collect();
        cache
            .put(&keys[0], entry(Duration::from_mins(30)))
            .await
            .expect("put");
        cache
            .put(&keys[1], entry(Duration::from_mins(10)))
            .await
            .expect("put");
        cache
            .put(&keys[2], entry(Duration::ZERO))
            .await
            .expect("put");
        assert_eq!(cache.len(), 2);
        let day = Duration::from_hours(24);
        assert!(cache.get(&keys[0], day).await.expect("get").is_none());
        assert!(cache.get(&keys[1], day).await.expect("get").is_some());
        assert!(cache.get(&keys[2], day).await.expect("get").is_some());
    }
}
