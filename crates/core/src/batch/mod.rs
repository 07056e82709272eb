//! Library batches: choosing the files of a folder, the per-file log entries of a batch and
//! their export formats, the display and rename templates, and renames planned from the
//! entries (with a journal, so that an applied set can be undone). No database, no HTTP: the
//! batch job (`recozik_jobs`) stores the entries and the API serves them.

pub mod discover;
pub mod entry;
pub mod format;
pub mod log;
pub mod rename;
