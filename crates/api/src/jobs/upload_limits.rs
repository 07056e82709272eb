//! [`UploadLimits`]: every limit of one upload request, read once from the settings (the
//! per-user and disk limits that need the database or the disk are in [`super::limits`]).

use super::limits::UploadLimitError;
use crate::settings::Settings;

/// Every limit of an upload request, read once from the settings.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Largest file in bytes; `None` when uploads are disabled.
    file_cap: Option<u64>,
    /// The setting behind `file_cap`, for the refusal's text.
    max_upload_mb: i64,
    /// Most unfinished jobs per user (0: no limit).
    pub(super) max_queued_jobs: u32,
    /// Most bytes of pending uploads per user; `None`: no limit.
    pub(super) pending_cap: Option<u64>,
    /// The setting behind `pending_cap`, for the refusal's text.
    pub(super) pending_mb: u64,
}

impl UploadLimits {
    /// Most form fields accepted besides the file.
    pub const MAX_FIELDS: usize = 64;
    /// Largest accepted non-file form field.
    pub const FIELD_BYTES: usize = 64 * 1024;
    /// Multipart framing and small fields allowed beyond the file cap in `Content-Length`.
    pub const FORM_OVERHEAD: u64 = 1024 * 1024;

    pub fn new(settings: &Settings) -> Self {
        Self {
            file_cap: settings.max_upload_bytes(),
            max_upload_mb: settings.max_upload_mb,
            max_queued_jobs: settings.max_queued_jobs_per_user,
            pending_cap: settings.max_pending_upload_bytes(),
            pending_mb: settings.max_pending_upload_mb_per_user,
        }
    }

    /// The largest file accepted, or [`UploadLimitError::Disabled`].
    pub fn file_cap(&self) -> Result<u64, UploadLimitError> {
        self.file_cap.ok_or(UploadLimitError::Disabled {
            max_upload_mb: self.max_upload_mb,
        })
    }

    /// Refuses a declared `Content-Length` over the file cap plus the form's overhead, before
    /// any of the body is read (disabled uploads are refused at the file part, upstream's order).
    pub fn check_declared(&self, declared: Option<u64>) -> Result<(), UploadLimitError> {
        match (self.file_cap, declared) {
            (Some(cap), Some(length)) if length > cap.saturating_add(Self::FORM_OVERHEAD) => {
                Err(UploadLimitError::TooLarge)
            }
            _ => Ok(()),
        }
    }

    /// Refuses a file once `received` bytes of it are over `cap`.
    pub fn check_file_bytes(cap: u64, received: u64) -> Result<(), UploadLimitError> {
        if received > cap {
            Err(UploadLimitError::TooLarge)
        } else {
            Ok(())
        }
    }

    /// Refuses the `count`-th non-file field when it is one too many.
    pub fn check_field_count(count: usize) -> Result<(), UploadLimitError> {
        if count > Self::MAX_FIELDS {
            Err(UploadLimitError::TooManyFields)
        } else {
            Ok(())
        }
    }

    /// Refuses a non-file field once `bytes` of it are over the field limit.
    pub fn check_field_bytes(bytes: usize) -> Result<(), UploadLimitError> {
        if bytes > Self::FIELD_BYTES {
            Err(UploadLimitError::FieldTooLarge)
        } else {
            Ok(())
        }
    }
}
