//! The bounded pool of workers: each claims the oldest queued job with a lease, runs it
//! ([`crate::run`]), and looks again; plus the housekeeping task. Shutdown stops claiming,
//! lets running jobs finish within a grace period, then gives the others back to the queue
//! without counting the attempt.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::JobContext;
use crate::housekeeping::housekeeping_loop;
use crate::run::run_job;

/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How long to wait before claiming again after the queue failed.
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// The bounded pool of job workers plus the housekeeping task.
#[derive(Debug)]
pub struct WorkerPool {
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    housekeeper: JoinHandle<()>,
}

impl WorkerPool {
    /// Starts `config.workers` workers (at least one) and the housekeeping task (which runs
    /// once at once: jobs left running by a crashed process are requeued as soon as their
    /// lease is over). Must be called inside a Tokio runtime.
    pub fn start(context: impl Into<JobContext>) -> WorkerPool {
        let context = context.into();
        let (stop, stop_rx) = watch::channel(false);
        let (abort, abort_rx) = watch::channel(false);
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let count = context.config().workers.max(1);
        let workers = (0..count)
            .map(|index| {
                let worker_id = format!("{}-{}-w{index}", std::process::id(), &instance[..8]);
                tokio::spawn(worker_loop(
                    context.clone(),
                    worker_id,
                    stop_rx.clone(),
                    abort_rx.clone(),
                ))
            })
            .collect();
        let housekeeper = tokio::spawn(housekeeping_loop(context, stop_rx));
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

async fn worker_loop(
    context: JobContext,
    worker_id: String,
    mut stop: watch::Receiver<bool>,
    abort: watch::Receiver<bool>,
) {
    let lease = context.config().lease;
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match context.queue().claim(&worker_id, lease).await {
            Ok(Some(job)) => {
                let (context, worker, abort) = (context.clone(), worker_id.clone(), abort.clone());
                let job_id = job.id.clone();
                // A panic in a job ends that job's task only; its lease expires and it is retried.
                let task =
                    tokio::spawn(async move { run_job(&context, &worker, job, abort).await });
                if let Err(error) = task.await {
                    tracing::error!(job_id = %job_id, %error, "job task failed");
                }
                continue;
            }
            Ok(None) => IDLE_POLL,
            Err(error) => {
                tracing::warn!(%error, worker = %worker_id, "cannot claim a job");
                CLAIM_RETRY
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
