//! Job kinds: the [`JobKind`] trait a kind implements, the [`Registry`] the worker dispatches
//! through, and the stored payload envelope.
//!
//! A job row's `payload` is the kind's payload (a JSON object) with one more key, `kind`,
//! naming the kind. Rows written before kinds existed have no `kind` key: they are upload
//! identifications ([`LEGACY_KIND`]), whose payload format is unchanged.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use recozik_core::identify::{ProgressLevel, ProgressSink};
use recozik_storage::{Job, JobEventData, JobQueue, NewJob, StorageError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::context::JobContext;
use crate::files::remove_upload;

/// The payload key naming a job's kind.
pub const KIND_KEY: &str = "kind";
/// The kind of rows that carry no `kind` key (written before kinds existed).
pub const LEGACY_KIND: &str = "identify_upload";

/// How a job's work failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// A text for the job's owner: "Error: `text`" is added to its messages, and the job fails
    /// with it.
    #[error("{0}")]
    Client(String),
    /// A failure of this server: the cause is logged, the job fails with
    /// [`crate::UNEXPECTED_ERROR`].
    #[error("{0}")]
    Internal(String),
}

/// Progress messages and events of a running job. Persisted in order, all of them before the
/// job's outcome.
#[derive(Debug)]
pub struct Progress {
    sender: mpsc::UnboundedSender<JobEventData>,
}

impl Progress {
    pub(crate) fn new(sender: mpsc::UnboundedSender<JobEventData>) -> Self {
        Self { sender }
    }

    /// Adds `message` to the job's messages (and its event stream).
    pub fn message(&self, message: impl Into<String>) {
        self.event(JobEventData::Message {
            message: message.into(),
        });
    }

    /// Adds an event to the job's stream: `progress` or `file` (see
    /// [`recozik_storage::JobQueue::add_event`]).
    pub fn event(&self, data: JobEventData) {
        // The writer only stops once the job's work is over; nothing is lost before then.
        let _ = self.sender.send(data);
    }
}

impl ProgressSink for Progress {
    fn report(&self, level: ProgressLevel, message: &str) {
        tracing::debug!(?level, message, "job progress");
        self.message(message);
    }
}

/// A kind of job. Implement it in one file under `kinds/` and register it in
/// [`crate::kinds::registry`]; the worker loop does not change.
///
/// * **Running**: [`JobKind::run`] gets the claimed job, its decoded payload and a
///   [`Progress`]. Its `Output` becomes the job's `result` JSON.
/// * **Cancellation**: when the job is cancelled, taken over, over its time limit, its lease
///   runs out or the shutdown grace period ends, the runtime drops the `run` future at its next
///   `.await`. Keep state that must survive in the database, not in the future.
/// * **Retries**: a job whose worker died is claimed again (its attempt counted by the queue),
///   so `run` must be safe to start over.
/// * **Cleanup**: [`JobKind::cleanup`] runs once the job is finished (completed, failed or
///   cancelled, or out of attempts); by default it deletes the job's upload file.
#[async_trait::async_trait]
pub trait JobKind: Send + Sync + 'static {
    /// Stored in every payload of this kind (`kind`): never change it.
    const NAME: &'static str;
    /// The stored payload: a JSON object. Unknown keys must be ignored (no
    /// `deny_unknown_fields`): the `kind` key sits beside the payload's own.
    type Payload: Serialize + DeserializeOwned + Send + 'static;
    /// The job's result.
    type Output: Serialize + Send;

    async fn run(
        &self,
        context: &JobContext,
        job: &Job,
        payload: Self::Payload,
        progress: &Progress,
    ) -> Result<Self::Output, JobFailure>;

    /// Deletes what the job leaves behind once it is finished. Blocking.
    fn cleanup(&self, job: &Job) {
        if let Some(path) = &job.upload_path {
            remove_upload(std::path::Path::new(path));
        }
    }
}

/// The submitter of a job as a principal now: their account and credential are re-read
/// when the job runs, so a user disabled or a token revoked since the submission stops the job.
pub async fn recheck_submitter(
    context: &JobContext,
    submitter: recozik_auth::Submitter,
) -> Result<recozik_auth::Principal, JobFailure> {
    let auth = context.auth().clone();
    match tokio::task::spawn_blocking(move || auth.recheck_submitter(&submitter)).await {
        Ok(Ok(principal)) => Ok(principal),
        Ok(Err(refused)) if refused.is_refusal() => Err(JobFailure::Client(refused.to_string())),
        Ok(Err(cause)) => Err(JobFailure::Internal(cause.to_string())),
        Err(error) => Err(JobFailure::Internal(error.to_string())),
    }
}

/// Why a payload cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("invalid job payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid job payload: not a JSON object")]
    NotAnObject,
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
}

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The stored payload of a `K` job.
pub fn encode<K: JobKind>(payload: &K::Payload) -> Result<String, PayloadError> {
    let Value::Object(mut fields) = serde_json::to_value(payload)? else {
        return Err(PayloadError::NotAnObject);
    };
    fields.insert(KIND_KEY.to_owned(), Value::from(K::NAME));
    Ok(Value::Object(fields).to_string())
}

/// The kind name and the payload object of a stored payload.
fn decode(text: &str) -> Result<(String, Value), PayloadError> {
    let value: Value = serde_json::from_str(text)?;
    let kind = match value.as_object() {
        None => return Err(PayloadError::NotAnObject),
        Some(fields) => match fields.get(KIND_KEY) {
            None => LEGACY_KIND.to_owned(),
            Some(Value::String(name)) => name.clone(),
            Some(other) => return Err(PayloadError::UnknownKind(other.to_string())),
        },
    };
    Ok((kind, value))
}

/// The kind name of a stored payload (`None` when the payload is unreadable).
pub fn kind_of(payload: &str) -> Option<String> {
    decode(payload).ok().map(|(kind, _)| kind)
}

/// Queues a `K` job: `job.payload` is replaced by `payload`'s stored form. Blocking.
pub fn enqueue<K: JobKind>(
    queue: &JobQueue,
    payload: &K::Payload,
    mut job: NewJob,
) -> Result<Job, SubmitError> {
    job.payload = encode::<K>(payload)?;
    Ok(queue.enqueue(&job)?)
}

/// [`enqueue`], with `within` run in the job's creating transaction (see
/// [`JobQueue::enqueue_with`]).
pub fn enqueue_with<K: JobKind>(
    queue: &JobQueue,
    payload: &K::Payload,
    mut job: NewJob,
    within: impl FnOnce(&mut recozik_storage::Conn, &Job) -> Result<(), StorageError>,
) -> Result<Job, SubmitError> {
    job.payload = encode::<K>(payload)?;
    Ok(queue.enqueue_with(&job, within)?)
}

/// How the work of one job ended (before the runtime records it).
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The result JSON.
    Completed(String),
    /// A client-facing error text.
    Failed(String),
    /// An internal failure (logged).
    Unexpected(String),
}

/// A kind with its types erased, so the registry can hold every kind.
trait ErasedKind: Send + Sync {
    fn run<'a>(
        &'a self,
        context: &'a JobContext,
        job: &'a Job,
        payload: Value,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Outcome>;

    fn cleanup(&self, job: &Job);
}

struct Erased<K>(K);

impl<K: JobKind> ErasedKind for Erased<K> {
    fn run<'a>(
        &'a self,
        context: &'a JobContext,
        job: &'a Job,
        payload: Value,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let payload = match serde_json::from_value::<K::Payload>(payload) {
                Ok(payload) => payload,
                Err(error) => return Outcome::Unexpected(format!("invalid job payload: {error}")),
            };
            match self.0.run(context, job, payload, progress).await {
                Ok(output) => match serde_json::to_string(&output) {
                    Ok(json) => Outcome::Completed(json),
                    Err(error) => {
                        Outcome::Unexpected(format!("cannot serialise the result: {error}"))
                    }
                },
                Err(JobFailure::Client(text)) => Outcome::Failed(text),
                Err(JobFailure::Internal(cause)) => Outcome::Unexpected(cause),
            }
        })
    }

    fn cleanup(&self, job: &Job) {
        self.0.cleanup(job);
    }
}

/// The job kinds a runtime knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Arc<dyn ErasedKind>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.kinds.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("kinds", &names).finish()
    }
}

impl Registry {
    /// An empty registry (see [`crate::kinds::registry`] for the standard one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `kind` (a kind registered twice keeps the last one).
    #[must_use]
    pub fn register<K: JobKind>(mut self, kind: K) -> Self {
        self.kinds.insert(K::NAME, Arc::new(Erased(kind)));
        self
    }

    /// The registered kind names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.kinds.keys().copied().collect();
        names.sort_unstable();
        names
    }

    fn resolve(&self, payload: &str) -> Result<(Arc<dyn ErasedKind>, Value), PayloadError> {
        let (name, value) = decode(payload)?;
        let kind = self
            .kinds
            .get(name.as_str())
            .cloned()
            .ok_or(PayloadError::UnknownKind(name))?;
        Ok((kind, value))
    }

    /// Runs `job` with its kind; an unreadable payload or an unknown kind is an internal
    /// failure of the job.
    pub(crate) async fn run(
        &self,
        context: &JobContext,
        job: &Job,
        progress: &Progress,
    ) -> Outcome {
        match self.resolve(&job.payload) {
            Ok((kind, payload)) => kind.run(context, job, payload, progress).await,
            Err(error) => Outcome::Unexpected(error.to_string()),
        }
    }

    /// The finished `job`'s cleanup (its kind's, or deleting its upload when its kind is
    /// unknown). Blocking.
    pub fn cleanup(&self, job: &Job) {
        match self.resolve(&job.payload) {
            Ok((kind, _)) => kind.cleanup(job),
            Err(_) => {
                if let Some(path) = &job.upload_path {
                    remove_upload(std::path::Path::new(path));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_without_a_kind_are_upload_identifications() {
        let legacy = r#"{"version":1,"options":{},"submitter":{"user_id":1,"via":{"kind":"session","session_id":3,"family_id":"f"}}}"#;
        let decoded = decode(legacy).ok().map(|(kind, _)| kind);
        assert_eq!(decoded.as_deref(), Some(LEGACY_KIND));
        let tagged = r#"{"kind":"something_else","x":1}"#;
        let decoded = decode(tagged).ok().map(|(kind, _)| kind);
        assert_eq!(decoded.as_deref(), Some("something_else"));
        assert!(matches!(decode("[1]"), Err(PayloadError::NotAnObject)));
    }
}
