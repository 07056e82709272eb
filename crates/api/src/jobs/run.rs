//! Running one claimed job: rebuild the principal, run the identify pipeline with its hooks,
//! persist progress, finish the job, delete its upload.

use std::path::PathBuf;
use std::time::Duration;

use recozik_core::{IdentifyError, ProgressLevel};
use recozik_storage::{Job, JobEventData, JobStatus, StorageError};
use tokio::sync::{mpsc, watch};

use super::files::remove_upload;
use super::payload::{JobPayload, PrincipalError, identify_request, reload_principal};
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
#[derive(Debug)]
enum Interrupt {
    /// The job was cancelled, or another worker owns it now.
    LeaseLost,
    /// Shutdown grace period over: give the job back.
    Shutdown,
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

    let ended = {
        let work = execute(state, &job);
        let watch = watch_job(state, &job_id, worker_id);
        tokio::pin!(work, watch);
        tokio::select! {
            outcome = &mut work => Ok(outcome),
            interrupt = &mut watch => Err(interrupt),
            _ = abort.wait_for(|stop| *stop) => Err(Interrupt::Shutdown),
        }
    };

    let finished = match ended {
        Ok(outcome) => finish(state, worker_id, &job_id, outcome).await,
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
    let every = (lease / 3).max(Duration::from_secs(1));
    let heartbeat = async {
        let mut failures = 0_u32;
        loop {
            tokio::time::sleep(every).await;
            let (queue, id, worker) = (
                state.storage.queue.clone(),
                job_id.to_owned(),
                worker_id.to_owned(),
            );
            match tokio::task::spawn_blocking(move || queue.heartbeat(&id, &worker, lease)).await {
                Ok(Ok(_)) => failures = 0,
                Ok(Err(StorageError::LeaseLost { .. } | StorageError::JobNotFound(_))) => return,
                Ok(Err(error)) => {
                    failures += 1;
                    tracing::warn!(job_id, %error, failures, "heartbeat failed");
                }
                Err(error) => tracing::warn!(job_id, %error, "heartbeat task failed"),
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
        () = heartbeat => {}
        () = cancelled => {}
    }
    Interrupt::LeaseLost
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

/// The identification itself.
async fn execute(state: &AppState, job: &Job) -> Outcome {
    let payload = match JobPayload::from_json(&job.payload) {
        Ok(payload) => payload,
        Err(error) => return Outcome::Unexpected(format!("invalid job payload: {error}")),
    };
    let Some(audio_path) = job.upload_path.clone().map(PathBuf::from) else {
        return Outcome::Unexpected("upload job without an upload file".to_owned());
    };
    let (db, submitter, now) = (
        state.storage.auth.clone(),
        payload.submitter.clone(),
        state.auth.now(),
    );
    let principal =
        match tokio::task::spawn_blocking(move || reload_principal(&db, &submitter, now)).await {
            Ok(Ok(principal)) => principal,
            Ok(Err(PrincipalError::Storage(cause))) => return Outcome::Unexpected(cause),
            Ok(Err(refused)) => return Outcome::Failed(refused.to_string()),
            Err(error) => return Outcome::Unexpected(error.to_string()),
        };

    let request = identify_request(&state.settings, &audio_path, &payload.options);

    // Progress callbacks are synchronous; a writer task persists them in order.
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    let writer = {
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
    };
    let progress = move |level: ProgressLevel, message: &str| {
        tracing::debug!(?level, message, "job progress");
        let _ = sender.send(message.to_owned());
    };
    let result = identify_as(state, principal, &request, &progress).await;
    drop(progress);
    // Every message is persisted before the outcome.
    if let Err(error) = writer.await {
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
