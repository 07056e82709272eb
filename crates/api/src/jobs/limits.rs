//! Per-user upload limits and the free-space floor of the media root.
//!
//! An upload is admitted ([`UploadBudget::admit`]) before its body is read: the user's
//! unfinished jobs (plus uploads of theirs still streaming on this instance) must stay under
//! `max_queued_jobs_per_user`; the bytes those jobs' files occupy, plus the streaming uploads,
//! plus the request's declared length must stay under `max_pending_upload_mb_per_user`; and the
//! media root's file system must keep `min_free_disk_mb` free. While the body streams, every
//! chunk is counted again ([`UploadBudget::add`], [`DiskFloor::check`]), so a body without
//! `Content-Length`, or one that lies about it, is stopped as soon as it goes over; the
//! caller's [`super::PendingUpload`] guard then deletes the partial file.
//!
//! [`UploadLimits`] is every limit of one upload request, from the settings: the file cap (or
//! uploads disabled), the declared length with the form's overhead, the number and size of the
//! other form fields, and the per-user caps [`UploadBudget::admit`] checks.
//!
//! Jobs and their files are counted from the database, so they are shared by every instance;
//! uploads still streaming and open sockets are counted per instance, in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use recozik_storage::StorageError;

pub use super::upload_limits::UploadLimits;
use crate::state::AppState;

/// Why an upload is refused (or could not be checked).
#[derive(Debug, thiserror::Error)]
pub enum UploadLimitError {
    /// 413: the file (or the declared request length) is over the cap.
    #[error("Upload exceeds configured size limit")]
    TooLarge,
    /// 413: uploads are turned off (`max_upload_mb` is 0 or less).
    #[error("File uploads are disabled (max_upload_mb={max_upload_mb})")]
    Disabled { max_upload_mb: i64 },
    /// 400: more than [`UploadLimits::MAX_FIELDS`] form fields besides the file.
    #[error("Too many form fields")]
    TooManyFields,
    /// 413: a form field other than the file is over [`UploadLimits::FIELD_BYTES`].
    #[error("Form field too large")]
    FieldTooLarge,
    /// 429: the user already has `limit` unfinished jobs.
    #[error("Too many queued jobs: at most {limit} unfinished jobs per user")]
    TooManyQueuedJobs { limit: u32 },
    /// 507: the user's pending uploads would exceed the per-user byte limit.
    #[error("Pending uploads would exceed the limit of {limit_mb} MiB per user")]
    PendingUploadsTooLarge { limit_mb: u64 },
    /// 507: storing the upload would leave less than the configured free space.
    #[error("Not enough free disk space to store the upload")]
    InsufficientStorage,
    /// The jobs database could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Uploads being received on this instance, per user: (count, bytes so far). They are not in
/// the database yet, so concurrent uploads of one user must be counted here.
#[derive(Debug, Default)]
pub struct InFlightUploads {
    users: Mutex<HashMap<i64, (u32, u64)>>,
}

impl InFlightUploads {
    fn of(&self, user_id: i64) -> (u32, u64) {
        self.users
            .lock()
            .map(|users| users.get(&user_id).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    fn update(&self, user_id: i64, count: i64, bytes: i64) {
        let Ok(mut users) = self.users.lock() else {
            return;
        };
        let entry = users.entry(user_id).or_default();
        entry.0 = entry.0.saturating_add_signed(count as i32);
        entry.1 = entry.1.saturating_add_signed(bytes);
        if *entry == (0, 0) {
            users.remove(&user_id);
        }
    }
}

/// The free-space floor of the media root.
#[derive(Debug, Clone)]
pub struct DiskFloor {
    root: PathBuf,
    min_free: u64,
}

impl DiskFloor {
    pub fn new(state: &AppState) -> Self {
        Self {
            root: state.settings.base_media_root.clone(),
            min_free: state.settings.min_free_disk_mb.saturating_mul(1024 * 1024),
        }
    }

    /// Refuses when writing `more` bytes would leave less than the floor free. Blocking (one
    /// `statvfs`).
    pub fn check(&self, more: u64) -> Result<(), UploadLimitError> {
        if self.min_free == 0 {
            return Ok(());
        }
        match free_bytes(&self.root) {
            Ok(free) if free >= self.min_free.saturating_add(more) => Ok(()),
            Ok(free) => {
                tracing::warn!(
                    free,
                    floor = self.min_free,
                    "upload refused: disk almost full"
                );
                Err(UploadLimitError::InsufficientStorage)
            }
            Err(error) => {
                // Uploads are not blocked on a file system that cannot report its free space.
                tracing::warn!(root = %self.root.display(), %error, "cannot read free disk space");
                Ok(())
            }
        }
    }
}

/// Bytes available to unprivileged users on the file system of `path`.
#[cfg(unix)]
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stats = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::other("free space is only checked on Unix"))
}

/// One admitted upload of a user: counted among the user's in-flight uploads until dropped.
#[derive(Debug)]
pub struct UploadBudget {
    state: AppState,
    user_id: i64,
    /// Bytes of the user's unfinished jobs' files when the upload was admitted.
    committed: u64,
    /// This upload's bytes so far.
    received: u64,
    cap: Option<u64>,
    /// The setting behind `cap`, for the refusal's text.
    cap_mb: u64,
}

impl UploadBudget {
    /// Checks the limits before any of the body is read; `declared` is the request's
    /// `Content-Length`, when sent. Blocking (one database read, a `stat` per pending file).
    pub fn admit(
        state: &AppState,
        limits: &UploadLimits,
        user_id: i64,
        declared: Option<u64>,
    ) -> Result<Self, UploadLimitError> {
        let unfinished = state.storage.queue.unfinished_uploads_of(user_id)?;
        let (streaming, streaming_bytes) = state.upload_limits.of(user_id);
        let limit = limits.max_queued_jobs;
        if limit > 0 && unfinished.len().saturating_add(streaming as usize) >= limit as usize {
            return Err(UploadLimitError::TooManyQueuedJobs { limit });
        }
        let declared = declared.unwrap_or(0);
        DiskFloor::new(state).check(declared)?;
        let committed: u64 = unfinished
            .iter()
            .flatten()
            .map(|path| recozik_jobs::files::upload_bytes(std::path::Path::new(path)))
            .sum();
        let cap = limits.pending_cap;
        if let Some(cap) = cap
            && committed
                .saturating_add(streaming_bytes)
                .saturating_add(declared)
                > cap
        {
            return Err(UploadLimitError::PendingUploadsTooLarge {
                limit_mb: limits.pending_mb,
            });
        }
        state.upload_limits.update(user_id, 1, 0);
        Ok(Self {
            state: state.clone(),
            user_id,
            committed,
            received: 0,
            cap,
            cap_mb: limits.pending_mb,
        })
    }

    /// Counts `bytes` more of this upload; refuses once the user's pending bytes (their jobs'
    /// files and every upload of theirs streaming here) go over the limit.
    pub fn add(&mut self, bytes: u64) -> Result<(), UploadLimitError> {
        self.received = self.received.saturating_add(bytes);
        self.state
            .upload_limits
            .update(self.user_id, 0, bytes as i64);
        let Some(cap) = self.cap else {
            return Ok(());
        };
        let (_, streaming) = self.state.upload_limits.of(self.user_id);
        if self.committed.saturating_add(streaming) > cap {
            return Err(UploadLimitError::PendingUploadsTooLarge {
                limit_mb: self.cap_mb,
            });
        }
        Ok(())
    }
}

impl Drop for UploadBudget {
    fn drop(&mut self) {
        // Once the job exists its file is counted from the database instead.
        self.state
            .upload_limits
            .update(self.user_id, -1, -(self.received as i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_come_and_go() {
        let uploads = InFlightUploads::default();
        uploads.update(1, 1, 0);
        uploads.update(1, 0, 500);
        uploads.update(1, 1, 0);
        assert_eq!(uploads.of(1), (2, 500));
        assert_eq!(uploads.of(2), (0, 0));
        uploads.update(1, -1, -500);
        uploads.update(1, -1, 0);
        assert_eq!(uploads.of(1), (0, 0));
        assert!(uploads.users.lock().is_ok_and(|u| u.is_empty()));
    }

    #[cfg(unix)]
    #[test]
    fn the_disk_floor_refuses_what_would_leave_too_little_free() {
        let dir = std::env::temp_dir();
        let free = free_bytes(&dir).unwrap_or(0);
        assert!(free > 0);
        let floor = DiskFloor {
            root: dir.clone(),
            min_free: 1,
        };
        assert!(floor.check(0).is_ok());
        assert!(matches!(
            floor.check(u64::MAX),
            Err(UploadLimitError::InsufficientStorage)
        ));
        let off = DiskFloor {
            root: dir,
            min_free: 0,
        };
        assert!(off.check(u64::MAX).is_ok(), "0 turns the check off");
    }
}
