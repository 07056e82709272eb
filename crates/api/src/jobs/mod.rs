//! Upload jobs as the API sees them: submitting an upload, listing, reading and cancelling
//! jobs, and the settings of the job runtime. The runtime itself (workers, leases, time limit,
//! cancellation, retries, shutdown drain, housekeeping, the upload job kind) is
//! [`recozik_jobs`]; this module only starts it and serves its results.
//!
//! * [`submit_upload`] turns a received file into a queued job (the job then owns the file).
//! * [`WorkerPool`] is [`recozik_jobs::WorkerPool`], started from the [`AppState`] (whose
//!   [`recozik_jobs::JobContext`] is built from the settings by [`jobs_config`]).
//! * Uploads are admitted against per-user and disk limits before their body is read
//!   ([`limits`]); [`view`] renders jobs and their events as the wire JSON.

pub mod batch;
pub mod limits;
pub mod sockets;
pub mod upload_limits;
pub mod view;

use std::time::Duration;

use recozik_auth::Principal;
use recozik_jobs::kinds::identify_upload::{IdentifyUpload, IdentifyUploadPayload};
use recozik_jobs::{IdentifyDefaults, JobContext, JobsConfig, SubmitError};
use recozik_storage::{CancelOutcome, Job, NewJob, StorageError, users};

pub use crate::pipeline::IdentifyOptions;
pub use recozik_jobs::files;
pub use recozik_jobs::{
    HousekeepingReport, JobLimitError, ORPHAN_MIN_AGE, PendingUpload, UNEXPECTED_ERROR, WorkerPool,
};

use crate::settings::Settings;
use crate::state::AppState;

/// The job runtime's settings, from the server settings.
pub fn jobs_config(settings: &Settings) -> JobsConfig {
    JobsConfig {
        workers: settings.worker_count(),
        lease: Duration::from_secs(settings.job_lease_seconds),
        time_limit: settings.job_timeout(),
        retention: Duration::from_secs(settings.job_retention_hours.saturating_mul(3600)),
        upload_dir: settings.upload_dir(),
        orphan_min_age: ORPHAN_MIN_AGE,
        identify: identify_defaults(settings),
        acoustid_batch_size: settings.acoustid_batch_size,
        batch_fingerprint_workers: match settings.batch_fingerprint_workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            workers => workers,
        },
    }
}

/// The server-side defaults of every identification, from the server settings.
pub fn identify_defaults(settings: &Settings) -> IdentifyDefaults {
    IdentifyDefaults {
        acoustid_api_key: settings.acoustid_api_key.clone(),
        audd_token: settings.audd_token.clone(),
        musicbrainz_enabled: settings.musicbrainz_enabled,
        cache_enabled: settings.cache_enabled,
        cache_ttl_hours: settings.cache_ttl_hours,
        decode_timeout_seconds: settings.decode_timeout_seconds,
    }
}

/// So that `WorkerPool::start(state)` starts the runtime of an application state.
impl From<AppState> for JobContext {
    fn from(state: AppState) -> Self {
        state.jobs.clone()
    }
}

/// Whether `principal` may read or cancel `job`: admins see every job, others their own.
pub fn can_access(principal: &Principal, job: &Job) -> bool {
    principal.is_admin() || job.owner_id == Some(principal.user_id)
}

/// Enqueues the job of a received upload for `principal`; the job takes the file over (it is
/// deleted when the job ends). On failure the guard deletes the file. Blocking.
pub fn submit_upload(
    state: &AppState,
    principal: &Principal,
    job_id: &str,
    upload: PendingUpload,
    options: IdentifyOptions,
) -> Result<Job, SubmitError> {
    let payload = IdentifyUploadPayload::new(options, principal);
    let job = recozik_jobs::enqueue::<IdentifyUpload>(
        &state.storage.queue,
        &payload,
        NewJob {
            id: Some(job_id.to_owned()),
            owner_id: Some(principal.user_id),
            payload: String::new(),
            upload_path: Some(upload.path().display().to_string()),
            max_attempts: None,
        },
    )?;
    upload.commit();
    Ok(job)
}

/// Whose jobs a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFilter {
    /// Every job (admins).
    All,
    /// The jobs of the user with this username (admins); an unknown name matches nothing.
    Username(String),
    /// The jobs of this user id.
    Owner(i64),
}

impl JobFilter {
    /// Upstream's rule: admins may filter by username, everyone else sees their own jobs.
    pub fn for_principal(principal: &Principal, username: Option<String>) -> Self {
        match (principal.is_admin(), username) {
            (true, None) => Self::All,
            (true, Some(name)) => Self::Username(name),
            (false, _) => Self::Owner(principal.user_id),
        }
    }
}

/// Jobs, newest first. Blocking.
pub fn list(
    state: &AppState,
    filter: &JobFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Job>, StorageError> {
    let queue = &state.storage.queue;
    match filter {
        JobFilter::All => queue.list_all(limit, offset),
        JobFilter::Owner(id) => queue.list_by_owner(*id, limit, offset),
        JobFilter::Username(name) => {
            let mut conn = state.storage.auth.conn()?;
            match users::find_by_username(&mut conn, name)? {
                Some(user) => queue.list_by_owner(user.id, limit, offset),
                None => Ok(Vec::new()),
            }
        }
    }
}

/// Cancels a queued or running job and deletes its upload (a running job's worker stops on its
/// own). Blocking.
pub fn cancel(state: &AppState, job_id: &str) -> Result<CancelOutcome, StorageError> {
    recozik_jobs::cancel(&state.jobs, job_id)
}
