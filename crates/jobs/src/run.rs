//! Running one claimed job: its kind's work under the lease keeper, the time limit and the
//! shutdown signal; then its outcome recorded and its kind's cleanup.

use std::future::Future;
use std::time::Duration;

use recozik_storage::{Job, JobEventData, JobStatus, StorageError};
use tokio::sync::{mpsc, watch};

use crate::context::JobContext;
use crate::kind::{Outcome, Progress};
use crate::queue::QueueError;

/// The `error` of a job that failed for a reason the client must not see in detail.
pub const UNEXPECTED_ERROR: &str = "Unexpected error during processing";
const UNEXPECTED_MESSAGE: &str = "Unexpected error: the server could not process this job";

/// Why the work stopped before finishing.
#[derive(Debug, PartialEq, Eq)]
enum Interrupt {
    /// The job was cancelled, or another worker owns it now.
    LeaseLost,
    /// The lease could not be renewed before it ran out (database unreachable): another
    /// worker may hold the job now, so this one drops its work without writing anything.
    LeaseExpired,
    /// The job ran longer than its time limit.
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
pub(crate) async fn run_job(
    context: &JobContext,
    worker_id: &str,
    job: Job,
    mut abort: watch::Receiver<bool>,
) {
    let job_id = job.id.clone();
    tracing::info!(job_id = %job_id, attempt = job.attempts, "job started");

    let ended = supervise(
        execute(context, &job),
        watch_job(context, &job_id, worker_id),
        context.config().time_limit,
        &mut abort,
    )
    .await;

    let finished = match ended {
        Ok(outcome) => finish(context, worker_id, &job_id, outcome).await,
        Err(Interrupt::TimedOut(limit)) => {
            let error = JobLimitError::TimedOut {
                seconds: limit.as_secs(),
            };
            tracing::warn!(job_id = %job_id, %error, "job stopped: time limit reached");
            finish(
                context,
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
            match context.queue().release(&job_id, worker_id).await {
                Ok(_) => {
                    tracing::info!(job_id = %job_id, "job released back to the queue (shutdown)");
                }
                Err(error) => tracing::warn!(job_id = %job_id, %error, "could not release job"),
            }
            false
        }
        Err(Interrupt::LeaseLost) => {
            tracing::info!(job_id = %job_id, "job stopped: cancelled or taken over");
            is_terminal(context, &job_id).await
        }
    };
    if finished {
        let registry = context.registry().clone();
        let _ = tokio::task::spawn_blocking(move || registry.cleanup(&job)).await;
    }
}

/// Whether the job is now in a terminal state (its files can go). Unknown → false.
async fn is_terminal(context: &JobContext, job_id: &str) -> bool {
    match context.queue().get(job_id).await {
        Ok(Some(job)) => job.status.is_terminal(),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Records the outcome. Returns whether the job is finished (its files can be deleted).
async fn finish(context: &JobContext, worker_id: &str, job_id: &str, outcome: Outcome) -> bool {
    let queue = context.queue();
    let recorded = match outcome {
        Outcome::Completed(result) => queue
            .complete(job_id, worker_id, result)
            .await
            .map(|_| "completed"),
        Outcome::Failed(text) => queue
            .fail_with_message(job_id, worker_id, format!("Error: {text}"), text)
            .await
            .map(|_| "failed"),
        Outcome::Unexpected(cause) => {
            tracing::error!(job_id, %cause, "job failed unexpectedly");
            queue
                .fail_with_message(
                    job_id,
                    worker_id,
                    UNEXPECTED_MESSAGE.to_owned(),
                    UNEXPECTED_ERROR.to_owned(),
                )
                .await
                .map(|_| "failed")
        }
    };
    match recorded {
        Ok(status) => {
            tracing::info!(job_id, status, "job finished");
            true
        }
        Err(QueueError::Storage(StorageError::LeaseLost { .. })) => {
            tracing::info!(
                job_id,
                "job outcome dropped: the job was cancelled or taken over"
            );
            is_terminal(context, job_id).await
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
async fn watch_job(context: &JobContext, job_id: &str, worker_id: &str) -> Interrupt {
    let lease = context.config().lease;
    let renew = || async move {
        match context.queue().heartbeat(job_id, worker_id, lease).await {
            Ok(()) => Renewal::Renewed,
            Err(error) if error.is_lease_lost() => Renewal::Lost,
            Err(error) => {
                tracing::warn!(job_id, %error, "heartbeat failed");
                Renewal::Failed
            }
        }
    };
    let cancelled = async {
        let Ok(Some((snapshot, mut events))) = context.queue().subscribe(job_id).await else {
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

/// Aborts a task when dropped: a job stopped midway (lease expired, time limit) must not go on
/// writing messages into a job that another worker may hold by now.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The job's work, by its kind, with its progress messages persisted in order.
async fn execute(context: &JobContext, job: &Job) -> Outcome {
    // Progress callbacks are synchronous; a writer task persists them in order.
    let (sender, mut receiver) = mpsc::unbounded_channel::<recozik_storage::JobEventData>();
    let mut writer = AbortOnDrop({
        let (queue, id) = (context.queue().clone(), job.id.clone());
        tokio::spawn(async move {
            while let Some(data) = receiver.recv().await {
                if let Err(error) = queue.add_event(&id, data).await {
                    tracing::warn!(%error, "cannot record a job event");
                }
            }
        })
    });
    let progress = Progress::new(sender);
    let outcome = context.registry().run(context, job, &progress).await;
    drop(progress);
    // Every message is persisted before the outcome.
    if let Err(error) = (&mut writer.0).await {
        tracing::warn!(%error, "job message writer stopped");
    }
    outcome
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
