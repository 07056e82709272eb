//! Durable upload jobs: submitting an upload, reading and cancelling jobs, and the bounded
//! pool of workers that claims jobs from the queue and runs them.
//!
//! * [`submit_upload`] turns a received file into a queued job (the job then owns the file).
//! * [`WorkerPool`] runs `settings.worker_count()` workers. Each claims the oldest queued job
//!   with a lease of `job_lease_seconds`, renews it while the job runs, rebuilds the
//!   submitter's principal from the auth database ([`payload`]), runs the identify pipeline,
//!   persists every progress message, completes or fails the job, and deletes its upload.
//! * Limits: a job running longer than `job_timeout_seconds` is failed ("Job timed out after
//!   … seconds") and its worker moves on; a worker that cannot renew its lease before it runs
//!   out (database unreachable) drops the job's work without writing anything, since another
//!   worker may hold the job by then. Uploads are admitted against per-user and disk limits
//!   before their body is read ([`limits`]).
//! * Restart safety: a crashed process's jobs are requeued when their lease expires (or failed
//!   after `job_max_attempts` claims); housekeeping runs at start and then periodically:
//!   requeue expired leases, purge finished jobs older than `job_retention_hours` with their
//!   files, and delete orphaned files in the upload folder.
//! * Shutdown: stop claiming, let running jobs finish within the grace period, then give the
//!   others back to the queue without counting the attempt.
//! * Cancel ([`cancel`]): a queued job becomes `cancelled` at once; a running one too, and its
//!   worker stops cooperatively (it sees the `cancelled` event at once on the same instance or
//!   through PostgreSQL notifications, at the latest on its next heartbeat) and deletes the
//!   upload.

pub mod files;
pub mod limits;
pub mod payload;
mod run;
pub mod view;

use std::time::Duration;

use recozik_auth::Principal;
use recozik_storage::{CancelOutcome, Job, NewJob, StorageError, users};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::pipeline::IdentifyOptions;
pub use files::PendingUpload;
pub use payload::JobPayload;
pub use run::{JobLimitError, UNEXPECTED_ERROR};

use crate::state::AppState;

/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Files younger than this are never treated as orphans (an upload may still be streaming, on
/// this or another instance).
pub const ORPHAN_MIN_AGE: Duration = Duration::from_mins(10);

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
) -> Result<Job, StorageError> {
    let payload = JobPayload::new(options, principal);
    let job = state.storage.queue.enqueue(&NewJob {
        id: Some(job_id.to_owned()),
        owner_id: Some(principal.user_id),
        payload: payload.to_json(),
        upload_path: Some(upload.path().display().to_string()),
        max_attempts: None,
    })?;
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
    let outcome = state.storage.queue.cancel(job_id)?;
    if let CancelOutcome::Cancelled(job) = &outcome
        && let Some(path) = &job.upload_path
    {
        files::remove_upload(std::path::Path::new(path));
    }
    Ok(outcome)
}

/// What one housekeeping pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    pub requeued: usize,
    pub failed: usize,
    pub purged: usize,
    pub orphans_deleted: usize,
}

/// One housekeeping pass: requeue jobs whose lease expired (failing those out of attempts),
/// purge finished jobs past the retention period, delete their files and orphaned uploads.
/// Blocking.
pub fn housekeep(
    state: &AppState,
    orphan_min_age: Duration,
) -> Result<HousekeepingReport, StorageError> {
    let queue = &state.storage.queue;
    let now = recozik_storage::now();
    let mut report = HousekeepingReport::default();

    let requeue = queue.requeue_expired(now)?;
    report.requeued = requeue.requeued.len();
    report.failed = requeue.failed.len();
    for job in &requeue.failed {
        if let Some(path) = &job.upload_path {
            files::remove_upload(std::path::Path::new(path));
        }
    }

    let retention = Duration::from_secs(state.settings.job_retention_hours.saturating_mul(3600));
    let cutoff = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let purged = queue.purge_finished(cutoff)?;
    report.purged = purged.len();
    for job in &purged {
        if let Some(path) = &job.upload_path {
            files::remove_upload(std::path::Path::new(path));
        }
    }

    let live = queue.live_upload_paths()?;
    report.orphans_deleted =
        files::sweep_orphans(&state.settings.upload_dir(), &live, orphan_min_age);
    if report != HousekeepingReport::default() {
        tracing::info!(?report, "job housekeeping");
    }
    Ok(report)
}

/// The bounded pool of job workers plus the housekeeping task.
#[derive(Debug)]
pub struct WorkerPool {
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    housekeeper: JoinHandle<()>,
}

impl WorkerPool {
    /// Starts `settings.worker_count()` workers and the housekeeping task (which runs once at
    /// once: jobs left running by a crashed process are requeued as soon as their lease is
    /// over). Must be called inside a Tokio runtime.
    pub fn start(state: AppState) -> WorkerPool {
        let (stop, stop_rx) = watch::channel(false);
        let (abort, abort_rx) = watch::channel(false);
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let count = state.settings.worker_count().max(1);
        let workers = (0..count)
            .map(|index| {
                let worker_id = format!("{}-{}-w{index}", std::process::id(), &instance[..8]);
                tokio::spawn(worker_loop(
                    state.clone(),
                    worker_id,
                    stop_rx.clone(),
                    abort_rx.clone(),
                ))
            })
            .collect();
        let housekeeper = tokio::spawn(housekeeping_loop(state, stop_rx));
        tracing::info!(workers = count, "job workers started");
        WorkerPool {
            stop,
            abort,
            workers,
            housekeeper,
        }
    }

    /// Stops claiming, lets running jobs finish within `grace`, then releases the rest back to
    /// the queue (their attempt is not counted) and waits for the workers to stop.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        self.housekeeper.abort();
        let mut workers = self.workers;
        let all = futures_util::future::join_all(workers.iter_mut());
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("shutdown grace period over: releasing running jobs");
            let _ = self.abort.send(true);
            let all = futures_util::future::join_all(workers.iter_mut());
            if tokio::time::timeout(Duration::from_secs(10), all)
                .await
                .is_err()
            {
                tracing::warn!("some job workers did not stop; their leases will expire");
            }
        }
        tracing::info!("job workers stopped");
    }
}

async fn housekeeping_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let lease = Duration::from_secs(state.settings.job_lease_seconds);
    let every = (lease / 2).clamp(Duration::from_secs(1), Duration::from_mins(1));
    loop {
        let pass = state.clone();
        match tokio::task::spawn_blocking(move || housekeep(&pass, ORPHAN_MIN_AGE)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "job housekeeping failed"),
            Err(error) => tracing::warn!(%error, "job housekeeping task failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

async fn worker_loop(
    state: AppState,
    worker_id: String,
    mut stop: watch::Receiver<bool>,
    abort: watch::Receiver<bool>,
) {
    let lease = Duration::from_secs(state.settings.job_lease_seconds);
    loop {
        if *stop.borrow() {
            return;
        }
        let (queue, worker) = (state.storage.queue.clone(), worker_id.clone());
        let wait = match tokio::task::spawn_blocking(move || queue.claim(&worker, lease)).await {
            Ok(Ok(Some(job))) => {
                let (state, worker, abort) = (state.clone(), worker_id.clone(), abort.clone());
                let job_id = job.id.clone();
                // A panic in a job ends that job's task only; its lease expires and it is retried.
                let task =
                    tokio::spawn(async move { run::run_job(&state, &worker, job, abort).await });
                if let Err(error) = task.await {
                    tracing::error!(job_id = %job_id, %error, "job task failed");
                }
                continue;
            }
            Ok(Ok(None)) => IDLE_POLL,
            Ok(Err(error)) => {
                tracing::warn!(%error, worker = %worker_id, "cannot claim a job");
                Duration::from_secs(1)
            }
            Err(error) => {
                tracing::warn!(%error, worker = %worker_id, "claim task failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
