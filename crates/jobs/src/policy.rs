//! Implementations of `recozik_core`'s policy and cache traits over `recozik_auth` and
//! `recozik_storage`. They live here, in a crate that depends on all three and not on HTTP, so
//! that job kinds and `recozik_api`'s synchronous routes run identifications the same way.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use recozik_auth::{Auth, AuthError, Principal};
use recozik_core::cache::{CacheError, CachedLookup, LookupCache, LookupKey};
use recozik_core::policy::{AccessPolicy, Feature, PolicyError, QuotaPolicy, QuotaScope};
use recozik_storage::Database;

/// The access and quota policy of one principal.
#[derive(Debug, Clone)]
pub struct PrincipalPolicy {
    pub auth: Auth,
    pub principal: Principal,
}

fn unavailable(error: &dyn std::fmt::Display) -> PolicyError {
    tracing::error!(%error, "policy backend failed");
    PolicyError::Unavailable {
        message: "the access policy could not be checked".to_owned(),
    }
}

#[async_trait]
impl AccessPolicy for PrincipalPolicy {
    async fn ensure_feature(&self, feature: Feature) -> Result<(), PolicyError> {
        // Core and auth share one `Feature` type (recozik_permissions): no name bridge.
        if self.principal.allows(feature) {
            Ok(())
        } else {
            Err(PolicyError::denied(feature))
        }
    }
}

#[async_trait]
impl QuotaPolicy for PrincipalPolicy {
    async fn consume(&self, scope: QuotaScope, cost: u32) -> Result<(), PolicyError> {
        // Core and auth share one `QuotaScope` type, so every scope the pipeline spends is one
        // auth meters.
        let (auth, principal) = (self.auth.clone(), self.principal.clone());
        let outcome =
            tokio::task::spawn_blocking(move || auth.consume_quota(&principal, scope, cost))
                .await
                .map_err(|error| unavailable(&error))?;
        match outcome {
            Ok(_) => Ok(()),
            Err(AuthError::QuotaExceeded {
                requested_total,
                limit,
                resets_at,
                ..
            }) => Err(PolicyError::quota_exceeded(
                scope,
                u64::try_from(requested_total).unwrap_or_default(),
                u64::try_from(limit).unwrap_or_default(),
                resets_at.map(SystemTime::from),
            )),
            Err(error) => Err(unavailable(&error)),
        }
    }

    async fn refund(&self, scope: QuotaScope, cost: u32) {
        let (auth, principal) = (self.auth.clone(), self.principal.clone());
        match tokio::task::spawn_blocking(move || auth.refund_quota(&principal, scope, cost)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "quota refund failed"),
            Err(error) => tracing::warn!(%error, "quota refund could not run"),
        }
    }
}

/// The lookup cache in the jobs database, shared by every instance.
#[derive(Debug, Clone)]
pub struct DatabaseLookupCache {
    pub db: Database,
    /// How long entries are kept (reads may ask for younger ones).
    pub ttl: Duration,
}

#[async_trait]
impl LookupCache for DatabaseLookupCache {
    async fn get(
        &self,
        key: &LookupKey,
        max_age: Duration,
    ) -> Result<Option<CachedLookup>, CacheError> {
        let (db, key) = (self.db.clone(), key.as_str().to_owned());
        let stored = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            recozik_storage::cache::get(&mut conn, &key, 0, recozik_storage::now())
        })
        .await
        .map_err(|error| CacheError(error.to_string()))?
        .map_err(|error| CacheError(error.to_string()))?;
        let Some(text) = stored else {
            return Ok(None);
        };
        // An entry written by another version that no longer parses is a miss, not an error.
        let Ok(entry) = serde_json::from_str::<CachedLookup>(&text) else {
            return Ok(None);
        };
        let age = SystemTime::now()
            .duration_since(entry.stored_at)
            .unwrap_or_default();
        Ok((age <= max_age).then_some(entry))
    }

    async fn put(&self, key: &LookupKey, entry: CachedLookup) -> Result<(), CacheError> {
        let text = serde_json::to_string(&entry).map_err(|error| CacheError(error.to_string()))?;
        let (db, key, ttl) = (self.db.clone(), key.as_str().to_owned(), self.ttl);
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            recozik_storage::cache::put(&mut conn, &key, 0, &text, ttl, recozik_storage::now())
        })
        .await
        .map_err(|error| CacheError(error.to_string()))?
        .map_err(|error| CacheError(error.to_string()))
    }
}
