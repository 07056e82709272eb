//! One file's entry in a batch log: the JSONL object the upstream `identify-batch` writes and
//! its `rename-from-log` reads, so that our exports work with both.
//!
//! Field order is the stored and exported order: `path, duration_seconds, error, status, note,
//! matches, metadata`; a match is `rank, formatted, score, recording_id, artist, title, album,
//! release_group_id, release_id`.

use serde::{Deserialize, Serialize};

use crate::metadata::EmbeddedMetadata;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// At least one match.
    Ok,
    /// Looked up, nothing matched.
    Unmatched,
    /// The file could not be identified (bad audio, service failure, quota, access).
    Error,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unmatched => "unmatched",
            Self::Error => "error",
        }
    }

    /// Parses `ok`, `unmatched` or `error`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Self::Ok),
            "unmatched" => Some(Self::Unmatched),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// One match of an entry, flattened for logs and renames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMatch {
    /// 1 for the best match.
    pub rank: u32,
    /// The match rendered with the batch's display template.
    #[serde(default)]
    pub formatted: String,
    /// `null` only for the metadata pseudo-match of a rename plan.
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub recording_id: Option<String>,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The release group title, else the first release's title.
    #[serde(default)]
    pub album: Option<String>,
    #[serde(default)]
    pub release_group_id: Option<String>,
    /// The first release's id.
    #[serde(default)]
    pub release_id: Option<String>,
}

/// One file of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEntry {
    /// Relative to the media root (`/`-separated).
    pub path: String,
    /// `null` when the file could not be fingerprinted.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
    pub status: EntryStatus,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub matches: Vec<LogMatch>,
    #[serde(default)]
    pub metadata: Option<EmbeddedMetadata>,
}
