//! Running one claimed job: rebuild the principal, run the identify pipeline with its hooks,
//! persist progress, finish the job, delete its upload.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use recozik_core::{IdentifyError, ProgressLevel};
use recozik_storage::{Job, JobEventData, JobStatus, StorageError};
use tokio::sync::{mpsc, watch};

use super::files::remove_upload;
use super::payload::{JobPayload, identify_request};
use crate::error::audio_error_text;
use crate::pipeline::identify_as;
use crate::state::AppState;

/// The `error` of a job that failed for a reason the client must not see in detail.
pub const UNEXPECTED_ERROR: &str = "Unexpected error during processing";
const UNEXPECTED_MESSAGE: &str = "Unexpected error: the server could not process this job";

/// How the work itself ended.
#[derive(Debug)]
enum Outcome {
    Completed(String),
    /// A client-facing error text: "Error: <text>" is added, then the job fails with it.
    Failed(String),
    /// An internal failure (logged): the job fails with [`UNEXPECTED_ERROR`].
    Unexpected(String),
}

/// Why the work stopped before finishing.
#[derive(Debug, PartialEq, Eq)]
enum Interrupt {
    /// The job was cancelled, or another worker owns it now.
    LeaseLost,
    /// The lease could not be renewed before it ran out (database unreachable): another
    /// worker may hold the job now, so this one drops its work without writing anything.
    LeaseExpired,
    /// The job ran longer than `job_timeout_seconds`.
    TimedOut(Duration),
    /// Shutdown grace period over: give the job back.
    Shutdown,
}

/// Why a worker failed a job itself (the job's `error` is this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobLimitError {
    #[error("Job timed out after {seconds} seconds")]
    TimedOut { seconds: u64 },
}

/// Runs `work` until it ends, or until `watch` (the lease keeper), the time limit or the
/// shutdown signal says to stop — then `work` is dropped, which cancels it.
async fn supervise<T>(
    work: impl Future<Output = T>,
    watch: impl Future<Output = Interrupt>,
    limit: Option<Duration>,
    abort: &mut watch::Receiver<bool>,
) -> Result<T, Interrupt> {
    let deadline = async {
        match limit {
            Some(limit) => {
                tokio::time::sleep(limit).await;
                limit
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(work, watch, deadline);
    tokio::select! {
        outcome = &mut work => Ok(outcome),
        interrupt = &mut watch => Err(interrupt),
        limit = &mut deadline => Err(Interrupt::TimedOut(limit)),
        _ = abort.wait_for(|stop| *stop) => Err(Interrupt::Shutdown),
    }
}

/// Runs `job` (already claimed by `worker_id`) to its end. `abort` turns true when the
/// shutdown grace period is over.
pub(super) async fn run_job(
    state: &AppState,
    worker_id: &str,
    job: Job,
    mut abort: watch::Receiver<bool>,
) {
    let job_id = job.id.clone();
    let upload = job.upload_path.clone().map(PathBuf::from);
    tracing::info!(job_id = %job_id, attempt = job.attempts, "job started");

    let ended = supervise(
        execute(state, &job),
        watch_job(state, &job_id, worker_id),
        state.settings.job_timeout(),
        &mut abort,
    )
    .await;

    let finished = match ended {
        Ok(outcome) => finish(state, worker_id, &job_id, outcome).await,
        Err(Interrupt::TimedOut(limit)) => {
            let error = JobLimitError::TimedOut {
                seconds: limit.as_secs(),
            };
            tracing::warn!(job_id = %job_id, %error, "job stopped: time limit reached");
            finish(
                state,
                worker_id,
                &job_id,
                Outcome::Failed(error.to_string()),
            )
            .await
        }
        Err(Interrupt::LeaseExpired) => {
            // The job will be retried from its upload: keep the file.
            tracing::warn!(
                job_id = %job_id,
                "job stopped: its lease could not be renewed in time (database unreachable)"
            );
            false
        }
        Err(Interrupt::Shutdown) => {
            let (queue, id, worker) = (
                state.storage.queue.clone(),
                job_id.clone(),
                worker_id.to_owned(),
            );
            match tokio::task::spawn_blocking(move || queue.release(&id, &worker)).await {
                Ok(Ok(_)) => {
                    tracing::info!(job_id = %job_id, "job released back to the queue (shutdown)");
                }
                Ok(Err(error)) => tracing::warn!(job_id = %job_id, %error, "could not release job"),
                Err(error) => tracing::warn!(job_id = %job_id, %error, "could not release job"),
            }
            false
        }
        Err(Interrupt::LeaseLost) => {
            tracing::info!(job_id = %job_id, "job stopped: cancelled or taken over");
            is_terminal(state, &job_id).await
        }
    };
    if finished && let Some(path) = upload {
        let _ = tokio::task::spawn_blocking(move || remove_upload(&path)).await;
    }
}

/// Whether the job is now in a terminal state (its file can go). Unknown → false.
async fn is_terminal(state: &AppState, job_id: &str) -> bool {
    let (queue, id) = (state.storage.queue.clone(), job_id.to_owned());
    match tokio::task::spawn_blocking(move || queue.get(&id)).await {
        Ok(Ok(Some(job))) => job.status.is_terminal(),
        Ok(Ok(None)) => true,
        _ => false,
    }
}

/// Records the outcome. Returns whether the job is finished (its upload can be deleted).
async fn finish(state: &AppState, worker_id: &str, job_id: &str, outcome: Outcome) -> bool {
    let (queue, id, worker) = (
        state.storage.queue.clone(),
        job_id.to_owned(),
        worker_id.to_owned(),
    );
    let recorded = tokio::task::spawn_blocking(move || match outcome {
        Outcome::Completed(result) => queue.complete(&id, &worker, &result).map(|_| "completed"),
        Outcome::Failed(text) => {
            queue.add_message(&id, &format!("Error: {text}"))?;
            queue.fail(&id, &worker, &text).map(|_| "failed")
        }
        Outcome::Unexpected(cause) => {
            tracing::error!(job_id = %id, %cause, "job failed unexpectedly");
            queue.add_message(&id, UNEXPECTED_MESSAGE)?;
            queue.fail(&id, &worker, UNEXPECTED_ERROR).map(|_| "failed")
        }
    })
    .await;
    match recorded {
        Ok(Ok(status)) => {
            tracing::info!(job_id, status, "job finished");
            true
        }
        Ok(Err(StorageError::LeaseLost { .. })) => {
            tracing::info!(
                job_id,
                "job outcome dropped: the job was cancelled or taken over"
            );
            is_terminal(state, job_id).await
        }
        Ok(Err(error)) => {
            tracing::error!(job_id, %error, "cannot record the job outcome");
            false
        }
        Err(error) => {
            tracing::error!(job_id, %error, "cannot record the job outcome");
            false
        }
    }
}

/// Renews the lease while the job runs, and notices a cancellation at once (through the job's
/// event stream, which crosses processes on PostgreSQL) or at the latest on the next heartbeat.
/// Resolves only when the worker must stop.
async fn watch_job(state: &AppState, job_id: &str, worker_id: &str) -> Interrupt {
    let lease = Duration::from_secs(state.settings.job_lease_seconds);
    let renew = || {
        let (queue, id, worker) = (
            state.storage.queue.clone(),
            job_id.to_owned(),
            worker_id.to_owned(),
        );
        async move {
            let job = id.clone();
            match tokio::task::spawn_blocking(move || queue.heartbeat(&job, &worker, lease)).await {
                Ok(Ok(_)) => Renewal::Renewed,
                Ok(Err(StorageError::LeaseLost { .. } | StorageError::JobNotFound(_))) => {
                    Renewal::Lost
                }
                Ok(Err(error)) => {
                    tracing::warn!(job_id = %id, %error, "heartbeat failed");
                    Renewal::Failed
                }
                Err(error) => {
                    tracing::warn!(job_id = %id, %error, "heartbeat task failed");
                    Renewal::Failed
                }
            }
        }
    };
    let cancelled = async {
        let (queue, id) = (state.storage.queue.clone(), job_id.to_owned());
        let subscription = tokio::task::spawn_blocking(move || queue.subscribe(&id)).await;
        let Ok(Ok(Some((snapshot, mut events)))) = subscription else {
            return std::future::pending().await;
        };
        if snapshot.status == JobStatus::Cancelled {
            return;
        }
        loop {
            match events.next().await {
                Ok(event) => {
                    if let JobEventData::Status {
                        status: JobStatus::Cancelled,
                        ..
                    } = event.data
                    {
                        return;
                    }
                }
                // The heartbeat still notices a cancellation.
                Err(_) => return std::future::pending().await,
            }
        }
    };
    tokio::select! {
        interrupt = keep_lease(lease, renew) => interrupt,
        () = cancelled => Interrupt::LeaseLost,
    }
}

/// What one lease renewal said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    Renewed,
    /// The job is no longer ours (requeued, cancelled or gone).
    Lost,
    /// The database did not answer; the lease still runs until its expiry.
    Failed,
}

/// Renews the lease every third of its length until the job is lost, or until the lease runs
/// out without a successful renewal (the database stayed unreachable, or a renewal hung):
/// from then on another worker may claim the job, so this one must stop. The expiry is timed
/// from the start of the last successful renewal, which is never later than the expiry the
/// database recorded.
async fn keep_lease<F, Fut>(lease: Duration, mut renew: F) -> Interrupt
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Renewal>,
{
    let every = (lease / 3).max(Duration::from_secs(1));
    let mut expires = tokio::time::Instant::now() + lease;
    loop {
        let tick = tokio::time::sleep(every);
        tokio::select! {
            () = tick => {}
            () = tokio::time::sleep_until(expires) => return Interrupt::LeaseExpired,
        }
        let started = tokio::time::Instant::now();
        tokio::select! {
            renewal = renew() => match renewal {
                Renewal::Renewed => expires = started + lease,
                Renewal::Lost => return Interrupt::LeaseLost,
                Renewal::Failed => {}
            },
            () = tokio::time::sleep_until(expires) => return Interrupt::LeaseExpired,
        }
    }
}

/// The client-facing text of a pipeline error, or `None` for an internal failure.
fn client_text(error: &IdentifyError) -> Option<String> {
    match error {
        IdentifyError::Denied { message, .. } | IdentifyError::QuotaExceeded { message, .. } => {
            Some(message.clone())
        }
        IdentifyError::BadAudio(audio) => Some(audio_error_text(audio).to_owned()),
        IdentifyError::Upstream(upstream) => Some(upstream.to_string()),
        _ => None,
    }
}

/// Aborts a task when dropped: a job stopped midway (lease expired, time limit) must not go on
/// writing messages into a job that another worker may hold by now.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The identification itself.
async fn execute(state: &AppState, job: &Job) -> Outcome {
    let payload = match JobPayload::from_json(&job.payload) {
        Ok(payload) => payload,
        Err(error) => return Outcome::Unexpected(format!("invalid job payload: {error}")),
    };
    let Some(audio_path) = job.upload_path.clone().map(PathBuf::from) else {
        return Outcome::Unexpected("upload job without an upload file".to_owned());
    };
    let (auth, submitter) = (state.auth.clone(), payload.submitter.clone());
    let principal = match tokio::task::spawn_blocking(move || auth.recheck_submitter(&submitter))
        .await
    {
        Ok(Ok(principal)) => principal,
        Ok(Err(refused)) if refused.is_refusal() => return Outcome::Failed(refused.to_string()),
        Ok(Err(cause)) => return Outcome::Unexpected(cause.to_string()),
        Err(error) => return Outcome::Unexpected(error.to_string()),
    };

    let request = identify_request(&state.settings, &audio_path, &payload.options);

    // Progress callbacks are synchronous; a writer task persists them in order.
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    let mut writer = AbortOnDrop({
        let (queue, id) = (state.storage.queue.clone(), job.id.clone());
        tokio::spawn(async move {
            while let Some(message) = receiver.recv().await {
                let (queue, id) = (queue.clone(), id.clone());
                match tokio::task::spawn_blocking(move || queue.add_message(&id, &message)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "cannot record a job message"),
                    Err(error) => tracing::warn!(%error, "cannot record a job message"),
                }
            }
        })
    });
    let progress = move |level: ProgressLevel, message: &str| {
        tracing::debug!(?level, message, "job progress");
        let _ = sender.send(message.to_owned());
    };
    let result = identify_as(state, principal, &request, &progress).await;
    drop(progress);
    // Every message is persisted before the outcome.
    if let Err(error) = (&mut writer.0).await {
        tracing::warn!(%error, "job message writer stopped");
    }

    match result {
        Ok(result) => match serde_json::to_string(&result) {
            Ok(json) => Outcome::Completed(json),
            Err(error) => Outcome::Unexpected(format!("cannot serialise the result: {error}")),
        },
        Err(error) => match client_text(&error) {
            Some(text) => Outcome::Failed(text),
            None => Outcome::Unexpected(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    const LEASE: Duration = Duration::from_secs(6);

    /// Sets its flag when dropped: proves the work was cancelled.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Work that never ends by itself.
    fn endless_work(flag: &Arc<AtomicBool>) -> impl Future<Output = ()> + use<> {
        let guard = Dropped(flag.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_that_cannot_be_renewed_stops_the_work_when_it_runs_out() {
        let (_abort_tx, mut abort) = watch::channel(false);
        let cancelled = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let started = tokio::time::Instant::now();
        // The database never answers: every renewal fails.
        let watch = keep_lease(LEASE, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Renewal::Failed }
        });
        let ended = supervise(endless_work(&cancelled), watch, None, &mut abort).await;
        assert_eq!(ended, Err(Interrupt::LeaseExpired));
        assert!(cancelled.load(Ordering::SeqCst), "the work was dropped");
        assert_eq!(
            started.elapsed(),
            LEASE,
            "stopped exactly when the lease ran out"
        );
        assert!(
            calls.load(Ordering::SeqCst) >= 2,
            "it kept trying meanwhile"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_that_hangs_does_not_outlive_the_lease() {
        let (_abort_tx, mut abort) = watch::channel(false);
        let cancelled = Arc::new(AtomicBool::new(false));
        let started = tokio::time::Instant::now();
        // A pool checkout that never returns.
        let watch = keep_lease(LEASE, std::future::pending::<Renewal>);
        let ended = supervise(endless_work(&cancelled), watch, None, &mut abort).await;
        assert_eq!(ended, Err(Interrupt::LeaseExpired));
        assert!(cancelled.load(Ordering::SeqCst));
        assert_eq!(started.elapsed(), LEASE);
    }

    #[tokio::test(start_paused = true)]
    async fn renewed_leases_keep_the_work_going_and_a_lost_one_stops_it() {
        let (_abort_tx, mut abort) = watch::channel(false);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        // Renewed ten times (well past several lease lengths), then taken over.
        let watch = keep_lease(LEASE, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 10 {
                    Renewal::Renewed
                } else {
                    Renewal::Lost
                }
            }
        });
        let work = async {
            tokio::time::sleep(LEASE * 3).await;
            "done"
        };
        assert_eq!(supervise(work, watch, None, &mut abort).await, Ok("done"));

        let cancelled = Arc::new(AtomicBool::new(false));
        let counter = calls.clone();
        let watch = keep_lease(LEASE, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 20 {
                    Renewal::Renewed
                } else {
                    Renewal::Lost
                }
            }
        });
        let ended = supervise(endless_work(&cancelled), watch, None, &mut abort).await;
        assert_eq!(ended, Err(Interrupt::LeaseLost));
        assert!(cancelled.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_over_its_time_limit_is_stopped() {
        let (_abort_tx, mut abort) = watch::channel(false);
        let cancelled = Arc::new(AtomicBool::new(false));
        let watch = keep_lease(LEASE, || async { Renewal::Renewed });
        let limit = Duration::from_mins(30);
        let started = tokio::time::Instant::now();
        let ended = supervise(endless_work(&cancelled), watch, Some(limit), &mut abort).await;
        assert_eq!(ended, Err(Interrupt::TimedOut(limit)));
        assert_eq!(started.elapsed(), limit);
        assert!(cancelled.load(Ordering::SeqCst));
        assert_eq!(
            JobLimitError::TimedOut { seconds: 1800 }.to_string(),
            "Job timed out after 1800 seconds"
        );
    }
}
