//! Why an identification failed.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::acoustid::AcoustIdError;
use crate::audd::AudDError;
use crate::audio::AudioError;
use crate::http::ConfigError;
use crate::policy::{Feature, PolicyError, QuotaScope};

/// A remote service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    #[serde(rename = "acoustid")]
    AcoustId,
    #[serde(rename = "audd")]
    AudD,
    #[serde(rename = "musicbrainz")]
    MusicBrainz,
}

/// A failure of a remote service that ended the identification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    #[error(transparent)]
    AcoustId(#[from] AcoustIdError),
    #[error(transparent)]
    AudD(#[from] AudDError),
}

impl UpstreamError {
    pub fn service(&self) -> Service {
        match self {
            Self::AcoustId(_) => Service::AcoustId,
            Self::AudD(_) => Service::AudD,
        }
    }

    /// The service's own error code, when it sent one.
    pub fn service_code(&self) -> Option<i64> {
        match self {
            Self::AcoustId(error) => error.service_code(),
            Self::AudD(error) => error.service_code(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::AcoustId(error) => error.code(),
            Self::AudD(error) => error.code(),
        }
    }
}

/// Why an identification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifyError {
    /// The caller may not use `feature` (the web API answers 403).
    #[error("{message}")]
    Denied { feature: Feature, message: String },
    /// The caller's quota for `scope` is used up (the web API answers 429).
    #[error("{message}")]
    QuotaExceeded {
        scope: QuotaScope,
        message: String,
        resets_at: Option<SystemTime>,
    },
    /// The file cannot be decoded or fingerprinted.
    #[error(transparent)]
    BadAudio(#[from] AudioError),
    /// A remote service failed and nothing else could answer.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("configuration error: {0}")]
    Config(String),
    /// The access or quota backend failed.
    #[error("{0}")]
    PolicyUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentifyError {
    /// A stable, machine-readable name for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied { .. } => "access_denied",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::BadAudio(error) => error.code(),
            Self::Upstream(error) => error.code(),
            Self::Config(_) => "configuration_error",
            Self::PolicyUnavailable(_) => "policy_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<PolicyError> for IdentifyError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Denied { feature, message } => Self::Denied { feature, message },
            PolicyError::QuotaExceeded {
                scope,
                message,
                resets_at,
            } => Self::QuotaExceeded {
                scope,
                message,
                resets_at,
            },
            other @ PolicyError::Unavailable { .. } => Self::PolicyUnavailable(other.to_string()),
        }
    }
}

impl From<ConfigError> for IdentifyError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error.to_string())
    }
}
