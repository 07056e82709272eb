//! Access and quota hooks of the identify pipeline. The `auth` crate implements them for a
//! principal; the defaults here allow everything.

use std::time::SystemTime;

use async_trait::async_trait;

pub use recozik_permissions::{Feature, QuotaScope, UnknownName};

/// Why a policy refused, or could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{message}")]
    Denied { feature: Feature, message: String },
    #[error("{message}")]
    QuotaExceeded {
        scope: QuotaScope,
        message: String,
        /// When enough usage will have expired for one more use, if known.
        resets_at: Option<SystemTime>,
    },
    /// The policy's backend (e.g. the database) failed.
    #[error("policy check failed: {message}")]
    Unavailable { message: String },
}

impl PolicyError {
    /// A denial with the web API's message: `<feature> not permitted for this token`.
    pub fn denied(feature: Feature) -> Self {
        Self::Denied {
            feature,
            message: format!("{feature} not permitted for this token"),
        }
    }

    /// A quota refusal with the web API's message:
    /// `Quota exceeded for <scope>: <used+cost> > <limit> (rolling 24h window)`.
    pub fn quota_exceeded(
        scope: QuotaScope,
        requested_total: u64,
        limit: u64,
        resets_at: Option<SystemTime>,
    ) -> Self {
        Self::QuotaExceeded {
            scope,
            message: format!(
                "Quota exceeded for {scope}: {requested_total} > {limit} (rolling 24h window)"
            ),
            resets_at,
        }
    }
}

/// Decides whether the caller may use a feature.
#[async_trait]
pub trait AccessPolicy: Send + Sync {
    async fn ensure_feature(&self, feature: Feature) -> Result<(), PolicyError>;
}

/// Meters the caller's use of external services. `consume` is called before each external
/// call; `refund` when that call failed without being served (transport failure, rate limit,
/// local error), so a failed call costs nothing.
#[async_trait]
pub trait QuotaPolicy: Send + Sync {
    async fn consume(&self, scope: QuotaScope, cost: u32) -> Result<(), PolicyError>;

    async fn refund(&self, scope: QuotaScope, cost: u32) {
        let _ = (scope, cost);
    }
}

/// Allows every feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl AccessPolicy for AllowAll {
    async fn ensure_feature(&self, _feature: Feature) -> Result<(), PolicyError> {
        Ok(())
    }
}

/// Meters nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl QuotaPolicy for Unlimited {
    async fn consume(&self, _scope: QuotaScope, _cost: u32) -> Result<(), PolicyError> {
        Ok(())
    }
}
