//! Housekeeping: requeue jobs whose lease expired (failing those out of attempts), purge
//! finished jobs past the retention period, delete their files and orphaned uploads. Runs at
//! start (so a crashed process's jobs come back as soon as their lease is over) and then
//! periodically.

use std::path::Path;
use std::time::Duration;

use recozik_storage::{CancelOutcome, StorageError};
use tokio::sync::watch;

use crate::context::JobContext;
use crate::files::{remove_upload, sweep_orphans};

/// What one housekeeping pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    pub requeued: usize,
    pub failed: usize,
    pub purged: usize,
    pub orphans_deleted: usize,
}

/// One housekeeping pass. Blocking.
pub fn housekeep(context: &JobContext) -> Result<HousekeepingReport, StorageError> {
    let queue = &context.storage().queue;
    let config = context.config();
    let now = recozik_storage::now();
    let mut report = HousekeepingReport::default();

    let requeue = queue.requeue_expired(now)?;
    report.requeued = requeue.requeued.len();
    report.failed = requeue.failed.len();
    for job in &requeue.failed {
        context.registry().cleanup(job);
    }

    let cutoff = chrono::Duration::from_std(config.retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let purged = queue.purge_finished(cutoff)?;
    report.purged = purged.len();
    // Finished jobs had their cleanup already; the purge only makes sure no file outlives its
    // row.
    for job in &purged {
        if let Some(path) = &job.upload_path {
            remove_upload(Path::new(path));
        }
    }

    let live = queue.live_upload_paths()?;
    report.orphans_deleted = sweep_orphans(&config.upload_dir, &live, config.orphan_min_age);
    if report != HousekeepingReport::default() {
        tracing::info!(?report, "job housekeeping");
    }
    Ok(report)
}

/// Cancels a queued or running job and runs its cleanup (a running job's worker stops on its
/// own). Blocking.
pub fn cancel(context: &JobContext, job_id: &str) -> Result<CancelOutcome, StorageError> {
    let outcome = context.storage().queue.cancel(job_id)?;
    if let CancelOutcome::Cancelled(job) = &outcome {
        context.registry().cleanup(job);
    }
    Ok(outcome)
}

/// Housekeeping at once, then every half lease (between 1 s and 1 min) until `stop`.
pub(crate) async fn housekeeping_loop(context: JobContext, mut stop: watch::Receiver<bool>) {
    let every = (context.config().lease / 2).clamp(Duration::from_secs(1), Duration::from_mins(1));
    loop {
        let pass = context.clone();
        match tokio::task::spawn_blocking(move || housekeep(&pass)).await {
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
