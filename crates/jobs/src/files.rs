//! Upload files: naming, the delete-unless-committed guard, and the orphan sweep.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file being received. Dropped before [`PendingUpload::commit`], it deletes the file, so no
/// failure path (a client error, a disconnect, a panic, a cancelled handler) leaves it behind.
#[derive(Debug)]
pub struct PendingUpload {
    path: PathBuf,
    file: Option<std::fs::File>,
    written: u64,
    committed: bool,
}

impl PendingUpload {
    /// Creates `<dir>/<stem><suffix>` (the stem is a fresh job id). Blocking.
    pub fn create(dir: &Path, stem: &str, suffix: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{stem}{suffix}"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
            written: 0,
            committed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data`. Blocking.
    pub fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("upload file already closed"));
        };
        file.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Flushes and closes the file (the guard still owns the path). Blocking.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Hands the file over (to a job): it is no longer deleted on drop.
    pub fn commit(mut self) -> PathBuf {
        self.committed = true;
        self.file = None;
        std::mem::take(&mut self.path)
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.file = None;
        remove_upload(&self.path);
    }
}

/// The folder of an uploaded batch, `<dir>/<job id>/`, being filled. Dropped before
/// [`PendingUploadDir::commit`], it deletes the folder with whatever it holds.
#[derive(Debug)]
pub struct PendingUploadDir {
    path: PathBuf,
    committed: bool,
}

impl PendingUploadDir {
    /// Creates `<dir>/<job_id>/` (which must not exist). Blocking.
    pub fn create(dir: &Path, job_id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(job_id);
        std::fs::create_dir(&path)?;
        Ok(Self {
            path,
            committed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the folder over (to a job): it is no longer deleted on drop.
    pub fn commit(mut self) -> PathBuf {
        self.committed = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for PendingUploadDir {
    fn drop(&mut self) {
        if !self.committed {
            remove_upload(&self.path);
        }
    }
}

/// Bytes an upload occupies: a file's size, or the sizes of the files of an uploaded batch's
/// folder. Blocking.
pub fn upload_bytes(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| entry.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|meta| meta.len())
                    .sum()
            })
            .unwrap_or_default(),
        _ => 0,
    }
}

/// Deletes an upload: a file, or an uploaded batch's folder (never through a symbolic link);
/// a missing one is fine, other failures are logged.
pub fn remove_upload(path: &Path) {
    let is_folder = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
    let removed = if is_folder {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Ok(()) => tracing::debug!(path = %path.display(), "upload file deleted"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %path.display(), %error, "cannot delete upload file"),
    }
}

/// Whether `name` looks like an upload of ours: 32 lower-case hex digits, then nothing or a
/// `.suffix`. Compares bytes, so any file name — one with a multi-byte character across the
/// 32nd byte, or one that is not UTF-8 at all — is answered without a panic.
fn is_upload_name(name: &[u8]) -> bool {
    let Some((stem, rest)) = name.split_at_checked(32) else {
        return false;
    };
    stem.iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && (rest.is_empty() || rest.starts_with(b"."))
}

/// When an upload last changed: a folder's newest file counts (a file still streaming into an
/// uploaded batch's folder keeps the folder young).
fn last_change(path: &Path, meta: &std::fs::Metadata) -> Option<SystemTime> {
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    let newest = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|entry| entry.metadata().ok()?.modified().ok())
        .max();
    own.max(newest)
}

/// Deletes the uploads of `dir` (files, and uploaded batches' folders) that look like uploads, are referenced by no live job (`live`
/// holds their paths as stored) and were last modified more than `min_age` ago (so an upload
/// still streaming on this or another instance is left alone). Returns how many went.
/// Blocking.
pub fn sweep_orphans(dir: &Path, live: &[String], min_age: Duration) -> usize {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "cannot list the upload folder");
            return 0;
        }
    };
    let live: HashSet<&Path> = live.iter().map(Path::new).collect();
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if !is_upload_name(name.as_encoded_bytes()) || live.contains(path.as_path()) {
            continue;
        }
        // `DirEntry::metadata` does not follow links: a link is neither a file nor a folder.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() && !meta.is_dir() {
            continue;
        }
        let age = last_change(&path, &meta)
            .and_then(|modified| now.duration_since(modified).ok())
            .unwrap_or_default();
        if age < min_age {
            continue;
        }
        tracing::info!(path = %path.display(), "deleting orphaned upload");
        remove_upload(&path);
        removed += 1;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names() {
        assert!(is_upload_name(b"0123456789abcdef0123456789abcdef.mp3"));
        assert!(is_upload_name(b"0123456789abcdef0123456789abcdef"));
        assert!(!is_upload_name(b"0123456789ABCDEF0123456789abcdef.mp3"));
        assert!(!is_upload_name(b".gitkeep"));
        assert!(!is_upload_name(b"0123456789abcdef0123456789abcdefx"));
    }

    #[test]
    fn names_with_a_multibyte_character_at_byte_32_are_not_uploads() {
        // 31 ASCII bytes, then a two-byte character straddling the 32-byte boundary.
        assert!(!is_upload_name(
            "0123456789abcdef0123456789abcde\u{e9}.mp3".as_bytes()
        ));
        // Bytes 30..33 are one three-byte character.
        assert!(!is_upload_name(
            format!("{}\u{20ac}", "\u{e9}".repeat(15)).as_bytes()
        ));
    }

    #[cfg(unix)]
    #[test]
    fn sweep_survives_any_file_name() -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir()?;
        let old = SystemTime::now() - Duration::from_hours(1);
        let names: [&[u8]; 3] = [
            "0123456789abcdef0123456789abcde\u{e9}.mp3".as_bytes(),
            b"0123456789abcdef0123456789abcdef\xff\xfe",
            b"\xff0123456789abcdef0123456789abcde.mp3",
        ];
        for name in names {
            let file = std::fs::File::create(dir.path().join(std::ffi::OsStr::from_bytes(name)))?;
            file.set_modified(old)?;
        }
        let orphan = dir.path().join("00000000000000000000000000000001.mp3");
        std::fs::File::create(&orphan)?.set_modified(old)?;
        assert_eq!(sweep_orphans(dir.path(), &[], Duration::from_mins(1)), 1);
        assert!(!orphan.exists());
        // A second pass works too (the first one did not poison anything).
        assert_eq!(sweep_orphans(dir.path(), &[], Duration::from_mins(1)), 0);
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            3,
            "foreign names are kept"
        );
        Ok(())
    }

    #[test]
    fn guard_deletes_unless_committed() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut dropped = PendingUpload::create(dir.path(), "a", ".mp3")?;
        dropped.write_all(b"abc")?;
        let path = dropped.path().to_owned();
        assert!(path.exists());
        drop(dropped);
        assert!(!path.exists());
        let mut kept = PendingUpload::create(dir.path(), "b", ".mp3")?;
        kept.write_all(b"abc")?;
        kept.finish()?;
        assert_eq!(kept.written(), 3);
        let path = kept.commit();
        assert!(path.exists());
        Ok(())
    }

    #[test]
    fn sweep_keeps_live_recent_and_foreign_files() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let old = SystemTime::now() - Duration::from_hours(1);
        let mk = |name: &str, modified: Option<SystemTime>| -> std::io::Result<PathBuf> {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path)?;
            if let Some(at) = modified {
                file.set_modified(at)?;
            }
            Ok(path)
        };
        let orphan = mk("00000000000000000000000000000001.mp3", Some(old))?;
        let live = mk("00000000000000000000000000000002.mp3", Some(old))?;
        let fresh = mk("00000000000000000000000000000003.mp3", None)?;
        let foreign = mk("keep-me.txt", Some(old))?;
        let removed = sweep_orphans(
            dir.path(),
            &[live.display().to_string()],
            Duration::from_mins(1),
        );
        assert_eq!(removed, 1);
        assert!(!orphan.exists());
        assert!(live.exists() && fresh.exists() && foreign.exists());
        Ok(())
    }
}
