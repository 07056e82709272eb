//! Access and quota hooks of the identify pipeline. The `auth` crate implements them for a
//! principal; the defaults here allow everything.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A feature a principal may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Identify,
    IdentifyBatch,
    Rename,
    Audd,
    MusicbrainzEnrich,
}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::Audd,
        Feature::Identify,
        Feature::IdentifyBatch,
        Feature::MusicbrainzEnrich,
        Feature::Rename,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::IdentifyBatch => "identify_batch",
            Self::Rename => "rename",
            Self::Audd => "audd",
            Self::MusicbrainzEnrich => "musicbrainz_enrich",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown feature or quota scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

impl FromStr for Feature {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| UnknownName {
                kind: "feature",
                name: name.to_owned(),
            })
    }
}

/// A metered use of an external service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    AcoustidLookup,
    AuddStandardLookup,
    AuddEnterpriseLookup,
    MusicbrainzEnrich,
}

impl QuotaScope {
    pub const ALL: [QuotaScope; 4] = [
        QuotaScope::AcoustidLookup,
        QuotaScope::AuddStandardLookup,
        QuotaScope::AuddEnterpriseLookup,
        QuotaScope::MusicbrainzEnrich,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcoustidLookup => "acoustid_lookup",
            Self::AuddStandardLookup => "audd_standard_lookup",
            Self::AuddEnterpriseLookup => "audd_enterprise_lookup",
            Self::MusicbrainzEnrich => "musicbrainz_enrich",
        }
    }
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuotaScope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL
            .into_iter()
            .find(|q| q.as_str() == name)
            .ok_or_else(|| UnknownName {
                kind: "quota scope",
                name: name.to_owned(),
            })
    }
}

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
