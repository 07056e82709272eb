//! An async facade over the blocking [`JobQueue`]: every call runs on a blocking thread and
//! comes back as one `Result`, instead of a `spawn_blocking` and a nested `Result` at each call
//! site.

use std::time::Duration;

use chrono::{DateTime, Utc};
use recozik_storage::{
    CancelOutcome, Job, JobEvent, JobQueue, JobSubscription, PurgedJob, RequeueReport, StorageError,
};

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database said no (or did not answer).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The blocking task panicked or was cancelled.
    #[error("queue task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl QueueError {
    /// Whether the job is no longer this worker's (requeued, cancelled, taken over or gone).
    pub fn is_lease_lost(&self) -> bool {
        matches!(
            self,
            Self::Storage(StorageError::LeaseLost { .. } | StorageError::JobNotFound(_))
        )
    }
}

/// The job queue, async. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncQueue {
    queue: JobQueue,
}

impl AsyncQueue {
    pub fn new(queue: JobQueue) -> Self {
        Self { queue }
    }

    /// The blocking queue (for callers already on a blocking thread).
    pub fn blocking(&self) -> &JobQueue {
        &self.queue
    }

    /// Runs `call` on a blocking thread.
    pub async fn run<T, F>(&self, call: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&JobQueue) -> Result<T, StorageError> + Send + 'static,
    {
        let queue = self.queue.clone();
        Ok(tokio::task::spawn_blocking(move || call(&queue)).await??)
    }

    pub async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<Job>, QueueError> {
        let worker = worker_id.to_owned();
        self.run(move |q| q.claim(&worker, lease)).await
    }

    pub async fn heartbeat(
        &self,
        job_id: &str,
        worker_id: &str,
        lease: Duration,
    ) -> Result<(), QueueError> {
        let (id, worker) = (job_id.to_owned(), worker_id.to_owned());
        self.run(move |q| q.heartbeat(&id, &worker, lease).map(drop))
            .await
    }

    pub async fn add_message(&self, job_id: &str, message: String) -> Result<JobEvent, QueueError> {
        let id = job_id.to_owned();
        self.run(move |q| q.add_message(&id, &message)).await
    }

    pub async fn add_event(
        &self,
        job_id: &str,
        data: recozik_storage::JobEventData,
    ) -> Result<JobEvent, QueueError> {
        let id = job_id.to_owned();
        self.run(move |q| q.add_event(&id, data)).await
    }

    pub async fn complete(
        &self,
        job_id: &str,
        worker_id: &str,
        result_json: String,
    ) -> Result<Job, QueueError> {
        let (id, worker) = (job_id.to_owned(), worker_id.to_owned());
        self.run(move |q| q.complete(&id, &worker, &result_json))
            .await
    }

    /// Adds `message` to the job's messages, then fails it with `error`.
    pub async fn fail_with_message(
        &self,
        job_id: &str,
        worker_id: &str,
        message: String,
        error: String,
    ) -> Result<Job, QueueError> {
        let (id, worker) = (job_id.to_owned(), worker_id.to_owned());
        self.run(move |q| {
            q.add_message(&id, &message)?;
            q.fail(&id, &worker, &error)
        })
        .await
    }

    pub async fn release(&self, job_id: &str, worker_id: &str) -> Result<Job, QueueError> {
        let (id, worker) = (job_id.to_owned(), worker_id.to_owned());
        self.run(move |q| q.release(&id, &worker)).await
    }

    pub async fn cancel(&self, job_id: &str) -> Result<CancelOutcome, QueueError> {
        let id = job_id.to_owned();
        self.run(move |q| q.cancel(&id)).await
    }

    pub async fn get(&self, job_id: &str) -> Result<Option<Job>, QueueError> {
        let id = job_id.to_owned();
        self.run(move |q| q.get(&id)).await
    }

    pub async fn subscribe(
        &self,
        job_id: &str,
    ) -> Result<Option<(Job, JobSubscription)>, QueueError> {
        let id = job_id.to_owned();
        self.run(move |q| q.subscribe(&id)).await
    }

    pub async fn requeue_expired(&self, now: DateTime<Utc>) -> Result<RequeueReport, QueueError> {
        self.run(move |q| q.requeue_expired(now)).await
    }

    pub async fn purge_finished(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<PurgedJob>, QueueError> {
        self.run(move |q| q.purge_finished(cutoff)).await
    }

    pub async fn live_upload_paths(&self) -> Result<Vec<String>, QueueError> {
        self.run(JobQueue::live_upload_paths).await
    }
}
