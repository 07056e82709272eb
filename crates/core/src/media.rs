//! Confining client-supplied paths to a media root.
//!
//! A client names a file relative to the server's media root; this module turns that into an
//! absolute path that is guaranteed to stay inside the root, to be a regular file reached without
//! any symbolic link leaving the root, and not to be one of the server's own files (databases,
//! pending uploads).

use std::path::{Component, Path, PathBuf};

/// Why a client path was refused. The `Display` texts are the ones the HTTP API returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaPathError {
    #[error("Missing audio path")]
    Missing,
    #[error("Absolute paths or directory traversal components are not allowed.")]
    Traversal,
    #[error("Path outside media root")]
    OutsideRoot,
    #[error("Audio file not found")]
    NotFound,
    #[error("Path is not a file")]
    NotAFile,
    #[error("Symbolic links are not allowed.")]
    SymbolicLink,
    #[error("Path is reserved for the server's own files")]
    Reserved,
    #[error("File extension '{extension}' not allowed. Allowed: {allowed}")]
    Extension { extension: String, allowed: String },
    #[error("Media root is not accessible")]
    RootUnavailable,
}

/// The suffix used for extension checks: the last `.xxx` of the base name, lower-cased, or
/// `""` when there is none (a name like `.mp3` has no suffix, like a hidden file).
pub fn extension_of(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rfind('.') {
        Some(0) | None => String::new(),
        Some(index) => base[index..].to_ascii_lowercase(),
    }
}

/// Checks `extension_of(name)` against an allow-list of lower-case suffixes with their dot.
pub fn check_extension(name: &str, allowed: &[String]) -> Result<String, MediaPathError> {
    let extension = extension_of(name);
    if allowed.contains(&extension) {
        Ok(extension)
    } else {
        Err(MediaPathError::Extension {
            extension,
            allowed: allowed.join(", "),
        })
    }
}

/// Resolves `requested` under `root`. `reserved` lists absolute paths (files or folders) that
/// must never be served even though they live under the root.
pub fn resolve_under_root(
    root: &Path,
    requested: &str,
    reserved: &[PathBuf],
) -> Result<PathBuf, MediaPathError> {
    let requested = requested.trim();
    if requested.is_empty() {
        return Err(MediaPathError::Missing);
    }
    let normalised = requested.replace('\\', "/");
    let relative = Path::new(&normalised);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(MediaPathError::Traversal);
    }
    let root = root
        .canonicalize()
        .map_err(|_| MediaPathError::RootUnavailable)?;
    let joined = root.join(relative);
    let metadata = std::fs::symlink_metadata(&joined).map_err(|_| MediaPathError::NotFound)?;
    if metadata.file_type().is_symlink() {
        return Err(MediaPathError::SymbolicLink);
    }
    if !metadata.is_file() {
        return Err(MediaPathError::NotAFile);
    }
    // A symbolic link in a parent folder may still lead elsewhere.
    let resolved = joined
        .canonicalize()
        .map_err(|_| MediaPathError::NotFound)?;
    if !resolved.starts_with(&root) {
        return Err(MediaPathError::OutsideRoot);
    }
    if reserved
        .iter()
        .any(|forbidden| is_reserved(&resolved, forbidden))
    {
        return Err(MediaPathError::Reserved);
    }
    Ok(resolved)
}

/// True when `resolved` is `forbidden`, lies under it, or is one of its SQLite companion files
/// (`auth.db-wal`, `auth.db-shm`, `auth.db-journal` next to `auth.db`).
fn is_reserved(resolved: &Path, forbidden: &Path) -> bool {
    let forbidden = forbidden
        .canonicalize()
        .unwrap_or_else(|_| forbidden.to_owned());
    if resolved.starts_with(&forbidden) {
        return true;
    }
    match (resolved.file_name(), forbidden.file_name()) {
        (Some(name), Some(base)) => {
            resolved.parent() == forbidden.parent()
                && name.to_string_lossy().starts_with(&*base.to_string_lossy())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with_files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("music/sub")).unwrap();
        std::fs::write(dir.path().join("music/song.mp3"), b"x").unwrap();
        std::fs::write(dir.path().join("auth.db"), b"x").unwrap();
        std::fs::write(dir.path().join("auth.db-wal"), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join("uploads")).unwrap();
        std::fs::write(dir.path().join("uploads/abc.mp3"), b"x").unwrap();
        dir
    }

    #[test]
    fn accepts_files_inside_the_root() {
        let dir = root_with_files();
        let path = resolve_under_root(dir.path(), "music/song.mp3", &[]).unwrap();
        assert!(path.ends_with("music/song.mp3"));
        assert!(resolve_under_root(dir.path(), "music\\song.mp3", &[]).is_ok());
        assert!(resolve_under_root(dir.path(), "./music/song.mp3", &[]).is_ok());
    }

    #[test]
    fn refuses_in_the_documented_order() {
        let dir = root_with_files();
        let root = dir.path();
        assert_eq!(
            resolve_under_root(root, "  ", &[]),
            Err(MediaPathError::Missing)
        );
        assert_eq!(
            resolve_under_root(root, "/etc/passwd", &[]),
            Err(MediaPathError::Traversal)
        );
        assert_eq!(
            resolve_under_root(root, "music/../../x", &[]),
            Err(MediaPathError::Traversal)
        );
        assert_eq!(
            resolve_under_root(root, "..\\x", &[]),
            Err(MediaPathError::Traversal)
        );
        assert_eq!(
            resolve_under_root(root, "music/none.mp3", &[]),
            Err(MediaPathError::NotFound)
        );
        assert_eq!(
            resolve_under_root(root, "music/sub", &[]),
            Err(MediaPathError::NotAFile)
        );
    }

    #[test]
    fn refuses_symbolic_links() {
        let dir = root_with_files();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.mp3"), b"x").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.mp3"),
            dir.path().join("link.mp3"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked-dir")).unwrap();
        assert_eq!(
            resolve_under_root(dir.path(), "link.mp3", &[]),
            Err(MediaPathError::SymbolicLink)
        );
        assert_eq!(
            resolve_under_root(dir.path(), "linked-dir/secret.mp3", &[]),
            Err(MediaPathError::OutsideRoot)
        );
    }

    #[test]
    fn refuses_the_servers_own_files() {
        let dir = root_with_files();
        let reserved = [dir.path().join("auth.db"), dir.path().join("uploads")];
        for name in ["auth.db", "auth.db-wal", "uploads/abc.mp3"] {
            assert_eq!(
                resolve_under_root(dir.path(), name, &reserved),
                Err(MediaPathError::Reserved),
                "{name}"
            );
        }
    }

    #[test]
    fn extensions_follow_the_upload_rules() {
        let allowed = vec![".mp3".to_owned(), ".flac".to_owned()];
        assert_eq!(check_extension("a/B.MP3", &allowed), Ok(".mp3".to_owned()));
        assert_eq!(extension_of(".mp3"), "");
        assert_eq!(extension_of("noext"), "");
        let error = check_extension("x.txt", &allowed).unwrap_err();
        assert_eq!(
            error.to_string(),
            "File extension '.txt' not allowed. Allowed: .mp3, .flac"
        );
    }
}
