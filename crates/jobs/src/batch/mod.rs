//! Library batches: the options a client chooses, submission (the files are stored with the
//! job, so a crash resumes where it stopped), and the run that identifies the files.
//!
//! The run is a pipeline: files are fingerprinted in parallel on blocking threads (at most
//! `batch_fingerprint_workers` at once) by a task of their own, while this task looks the
//! fingerprints up on AcoustID in batches of up to `acoustid_batch_size` through the client's
//! process-wide throttle, finishes each file (AudD fallback, MusicBrainz with one lookup per
//! recording per batch, embedded tags) and stores its entry. Memory stays flat whatever the
//! folder size: files are read from the database a page at a time and each entry is stored
//! as soon as it is known.

use std::path::PathBuf;

use recozik_auth::{Principal, Submitter};
use recozik_storage::{BatchProgress, NewJob};
use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::identify::IdentifyOptions;
use crate::kind::{SubmitError, enqueue_with};
use crate::kinds::identify_batch::IdentifyBatch;

/// Current payload format version.
pub const PAYLOAD_VERSION: u32 = 1;
/// Files read from the database at a time.
pub(crate) const PAGE: i64 = 200;
/// At most four `progress` events a second.
pub(crate) const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// The display template when the client sends none.
pub const DEFAULT_TEMPLATE: &str = "{artist} - {title}";
/// The longest template accepted.
pub const MAX_TEMPLATE_CHARS: usize = 512;

/// What a client chooses for a batch (the CLI's `identify-batch` options).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // the client's switches, as the API names them
pub struct BatchOptions {
    /// Matches kept per file, 1 to 10.
    pub limit: u8,
    /// Keep only the best match.
    pub best_only: bool,
    /// Record the file's own tags when nothing matches.
    pub metadata_fallback: bool,
    /// Complete matches from MusicBrainz (when the server has it on).
    pub musicbrainz: bool,
    /// Ask AudD when AcoustID finds nothing (when the server has a token).
    pub audd: bool,
    /// Ignore the lookup cache.
    pub refresh: bool,
    /// How a match is shown in `formatted`.
    pub template: Option<String>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            limit: 3,
            best_only: false,
            metadata_fallback: true,
            musicbrainz: true,
            audd: false,
            refresh: false,
            template: None,
        }
    }
}

/// Options a client sent that a batch cannot honour. `Display` is the client text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBatchOptions {
    #[error("limit must be between 1 and 10")]
    Limit,
    #[error("template must be at most {MAX_TEMPLATE_CHARS} characters")]
    TemplateTooLong,
}

impl InvalidBatchOptions {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Limit => "invalid_limit",
            Self::TemplateTooLong => "invalid_template",
        }
    }
}

impl BatchOptions {
    pub fn validate(&self) -> Result<(), InvalidBatchOptions> {
        if !(1..=10).contains(&self.limit) {
            return Err(InvalidBatchOptions::Limit);
        }
        if self
            .template
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TEMPLATE_CHARS)
        {
            return Err(InvalidBatchOptions::TemplateTooLong);
        }
        Ok(())
    }

    /// Matches kept per file.
    pub fn kept(&self) -> usize {
        if self.best_only {
            1
        } else {
            usize::from(self.limit.max(1))
        }
    }

    pub fn template(&self) -> &str {
        self.template.as_deref().unwrap_or(DEFAULT_TEMPLATE)
    }

    pub(crate) fn identify_options(&self) -> IdentifyOptions {
        IdentifyOptions {
            refresh_cache: self.refresh,
            metadata_fallback: self.metadata_fallback,
            enable_audd: Some(self.audd),
            ..IdentifyOptions::default()
        }
    }
}

/// The stored payload of a batch job. The files themselves are rows of the batch store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPayload {
    pub version: u32,
    pub options: BatchOptions,
    pub submitter: Submitter,
    /// The folder the stored paths are relative to (the media root, or the job's upload
    /// folder).
    pub base: PathBuf,
    /// Files in the job.
    pub files: u64,
}

/// Queues a batch over `paths` (relative to `base`, `/`-separated) as `principal`: the job
/// and its files are stored before it can run. `upload` is the folder of an uploaded batch,
/// which the job then owns (deleted when it ends). Blocking.
pub fn submit(
    context: &JobContext,
    principal: &Principal,
    base: PathBuf,
    paths: Vec<String>,
    options: BatchOptions,
    upload: Option<(String, PathBuf)>,
) -> Result<recozik_storage::Job, SubmitError> {
    let payload = BatchPayload {
        version: PAYLOAD_VERSION,
        options,
        submitter: Submitter::of(principal),
        base,
        files: paths.len() as u64,
    };
    let (id, upload_path) = match upload {
        Some((job_id, folder)) => (Some(job_id), Some(folder.display().to_string())),
        None => (None, None),
    };
    let job = NewJob {
        id,
        owner_id: Some(principal.user_id),
        upload_path,
        ..NewJob::default()
    };
    // The files are committed with the job row: no worker sees the job without them.
    enqueue_with::<IdentifyBatch>(&context.storage().queue, &payload, job, |tx, job| {
        recozik_storage::batch::add_files_in(tx, &job.id, paths).map(drop)
    })
}

/// The summary that becomes the job's result, and the `progress` of a batch's `JobDetail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchSummary {
    pub total: u64,
    pub done: u64,
    pub identified: u64,
    pub unmatched: u64,
    pub failed: u64,
}

impl From<BatchProgress> for BatchSummary {
    fn from(progress: BatchProgress) -> Self {
        Self {
            total: progress.total,
            done: progress.done,
            identified: progress.identified,
            unmatched: progress.unmatched,
            failed: progress.failed,
        }
    }
}

mod run;

pub use run::run;
