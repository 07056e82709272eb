//! Renames planned from batch log entries (upstream `rename-from-log`, without its prompts):
//! [`plan`] proposes a target name per entry, [`apply`] performs the planned moves with a
//! write-ahead [`Journal`], and [`undo`] moves an applied set back when the files are unchanged.
//!
//! This module owns the rename rules and their confinement: every path is relative to a root
//! folder, a target always sits in its source's folder, and symbolic links are never followed
//! (a symlinked source, folder or target is skipped, never used). Entries come from stored logs
//! and users, so they are treated as hostile; the work per entry is bounded. Blocking `std::fs`
//! code; no HTTP, no database.

mod apply;
mod name;
mod paths;
mod plan;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::entry::LogMatch;

pub use apply::{Journal, NoJournal, apply, undo};
pub use plan::plan;

/// The template used when none is configured.
pub const DEFAULT_TEMPLATE: &str = "{artist} - {title}";
/// Matches of one entry that are considered; the rest are ignored.
pub const MAX_MATCHES_PER_ENTRY: usize = 100;
/// Longest entry path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Deepest entry path accepted, in components.
pub const MAX_PATH_COMPONENTS: usize = 128;
/// Longest target file name, in bytes (the usual file-system limit); longer names are cut
/// before their extension.
pub const MAX_NAME_BYTES: usize = 255;
/// `-1` … `-N` suffixes tried for a conflicting target or backup name.
pub const MAX_APPEND_ATTEMPTS: usize = 1000;

/// What to do when a target name is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConflictStrategy {
    /// Try `<stem>-1<ext>`, `<stem>-2<ext>`, … until a free name is found.
    #[default]
    Append,
    /// Leave the file as it is.
    Skip,
    /// Replace the existing file (never a file another entry of the run is renamed to).
    Overwrite,
}

impl ConflictStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Append => "append",
            Self::Skip => "skip",
            Self::Overwrite => "overwrite",
        }
    }

    /// Parses `append`, `skip` or `overwrite`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "append" => Some(Self::Append),
            "skip" => Some(Self::Skip),
            "overwrite" => Some(Self::Overwrite),
            _ => None,
        }
    }
}

impl fmt::Display for ConflictStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A conflict strategy that is not `append`, `skip` or `overwrite`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid conflict strategy. Choose append, skip, or overwrite.")]
pub struct UnknownConflictStrategy;

impl FromStr for ConflictStrategy {
    type Err = UnknownConflictStrategy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).ok_or(UnknownConflictStrategy)
    }
}

/// How to plan and apply renames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameOptions {
    /// The rename template (see [`super::format`]); placeholders `artist`, `title`, `album`,
    /// `score`, `recording_id`, `release_group_id`, `release_id`, `ext`, `stem`.
    pub template: String,
    pub on_conflict: ConflictStrategy,
    /// Drop proposals that lack a value for a placeholder the template uses.
    pub require_template_fields: bool,
    /// Drop proposals whose target name equals an earlier one's (ignoring case).
    pub deduplicate_template: bool,
    /// Propose the embedded tags when nothing matched.
    pub metadata_fallback: bool,
    /// Chosen proposal per entry: keyed by the entry's path (as in the log, or as the plan shows
    /// it), the 0-based index into that entry's proposals as listed in [`RenamePlan::choices`]
    /// (after dropped and duplicate matches are removed). Index 0 otherwise.
    pub select: HashMap<String, usize>,
    /// Copy each source to `<backup_dir>/<path relative to root>` before moving it. Absolute,
    /// and already confined by the caller.
    pub backup_dir: Option<PathBuf>,
}

impl Default for RenameOptions {
    fn default() -> Self {
        Self {
            template: DEFAULT_TEMPLATE.to_owned(),
            on_conflict: ConflictStrategy::Append,
            require_template_fields: false,
            deduplicate_template: true,
            metadata_fallback: true,
            select: HashMap::new(),
            backup_dir: None,
        }
    }
}

/// Where a proposal came from when it is not one of the log's matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProposalSource {
    /// The embedded-metadata pseudo-match.
    Metadata,
}

/// One candidate name source for a file: a log match, or the embedded-metadata pseudo-match
/// (`rank` absent, `score` null, `source: "metadata"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proposal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    #[serde(default)]
    pub formatted: String,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub recording_id: Option<String>,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub album: Option<String>,
    #[serde(default)]
    pub release_group_id: Option<String>,
    #[serde(default)]
    pub release_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProposalSource>,
}

impl From<&LogMatch> for Proposal {
    fn from(m: &LogMatch) -> Self {
        Self {
            rank: Some(m.rank),
            formatted: m.formatted.clone(),
            score: m.score,
            recording_id: m.recording_id.clone(),
            artist: m.artist.clone(),
            title: m.title.clone(),
            album: m.album.clone(),
            release_group_id: m.release_group_id.clone(),
            release_id: m.release_id.clone(),
            source: None,
        }
    }
}

/// One rename: paths relative to the root, `/`-separated, the target in the source's folder.
/// Serialises as upstream's export item `{"source", "target", "applied", "match"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedMove {
    pub source: String,
    pub target: String,
    /// Whether the file was moved; always false in a plan.
    #[serde(default)]
    pub applied: bool,
    #[serde(rename = "match")]
    pub proposal: Proposal,
}

/// A message about one entry (`path` relative to the root; absent when the entry had none or
/// the message is about the whole run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryMessage {
    pub path: Option<String>,
    pub message: String,
}

/// One proposal of an entry and the file name it gives (before conflicts are resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Choice {
    pub target: String,
    #[serde(rename = "match")]
    pub proposal: Proposal,
}

/// The proposals of an entry that has more than one, so that a caller can offer a choice
/// ([`RenameOptions::select`] takes an index into `proposals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryChoices {
    pub path: String,
    /// The index used for this plan.
    pub selected: usize,
    pub proposals: Vec<Choice>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanSummary {
    pub planned: usize,
    pub skipped: usize,
    pub errors: usize,
}

/// What [`plan`] proposes. Skipped entries and errors carry upstream's messages; notices are
/// informational (a dropped match, a metadata fallback, an unusable template) and not counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenamePlan {
    pub planned: Vec<PlannedMove>,
    pub skipped: Vec<EntryMessage>,
    pub errors: Vec<EntryMessage>,
    pub notices: Vec<EntryMessage>,
    pub choices: Vec<EntryChoices>,
    pub summary: PlanSummary,
}

/// One performed move, as the journal records it and [`undo`] needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedMove {
    /// Relative to the root, as in the plan.
    pub source: String,
    pub target: String,
    /// Size of the moved file after the move, in bytes.
    pub size: u64,
    /// Its modification time after the move, in nanoseconds since the Unix epoch (absent when
    /// the platform does not report one).
    pub modified_ns: Option<i64>,
    /// The backup copy, relative to the backup folder.
    pub backup: Option<String>,
    /// Whether a file already at the target was replaced (`overwrite`); undo cannot bring it
    /// back.
    pub overwrote: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplySummary {
    pub renamed: usize,
    /// The plan's skipped entries.
    pub skipped: usize,
    /// The plan's errors and the run's.
    pub errors: usize,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenameOutcome {
    /// Every planned move in plan order, `applied` set for those performed.
    pub moves: Vec<PlannedMove>,
    /// The performed moves in order (what [`undo`] takes).
    pub applied: Vec<AppliedMove>,
    /// Errors of this run (the plan's are in the plan).
    pub errors: Vec<EntryMessage>,
    /// A move failed and the remaining ones were not attempted.
    pub interrupted: bool,
    pub summary: ApplySummary,
}

/// A move [`undo`] did not reverse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndoRefusal {
    pub source: String,
    pub target: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndoSummary {
    pub restored: usize,
    pub refused: usize,
}

/// What [`undo`] did, in the order it tried (the reverse of the apply order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndoOutcome {
    pub restored: Vec<AppliedMove>,
    pub refused: Vec<UndoRefusal>,
    pub summary: UndoSummary,
}
