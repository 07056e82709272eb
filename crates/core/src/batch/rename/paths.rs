//! Confinement: entry paths are checked as text (relative, no `..`, bounded), then walked from
//! the root one component at a time with `symlink_metadata`, so that no symbolic link is ever
//! followed and nothing outside the root is touched.

use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};

use super::{MAX_PATH_BYTES, MAX_PATH_COMPONENTS};

/// A path relative to the root, as checked `/`-free components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RelPath {
    parts: Vec<String>,
}

/// Why an entry path is refused before touching the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathProblem {
    /// Empty, too long, too deep, or with a NUL byte.
    Invalid,
    /// Absolute, or climbing with `..`.
    Outside,
}

/// Why a relative path does not name a usable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileProblem {
    NotFound,
    /// The file, or a folder on its way, is a symbolic link.
    Symlink,
    /// A folder or another special file.
    NotFile,
    Outside,
}

/// What is at a target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Occupant {
    Free,
    File,
    Symlink,
    /// A folder, another special file, or something that cannot be inspected.
    Other,
}

impl RelPath {
    pub(super) fn parse(raw: &str) -> Result<Self, PathProblem> {
        if raw.is_empty() || raw.len() > MAX_PATH_BYTES || raw.contains('\0') {
            return Err(PathProblem::Invalid);
        }
        let mut parts = Vec::new();
        for component in Path::new(raw).components() {
            match component {
                Component::Normal(part) => {
                    let part = part.to_str().ok_or(PathProblem::Invalid)?;
                    parts.push(part.to_owned());
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(PathProblem::Outside);
                }
            }
            if parts.len() > MAX_PATH_COMPONENTS {
                return Err(PathProblem::Invalid);
            }
        }
        if parts.is_empty() {
            return Err(PathProblem::Invalid);
        }
        Ok(Self { parts })
    }

    pub(super) fn file_name(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }

    fn parent_parts(&self) -> &[String] {
        self.parts.split_last().map_or(&[], |(_, parent)| parent)
    }

    /// Whether both paths are in the same folder.
    pub(super) fn same_folder(&self, other: &Self) -> bool {
        self.parent_parts() == other.parent_parts()
    }

    /// The same folder with another file name (a single component, already sanitised).
    pub(super) fn with_file_name(&self, name: &str) -> Self {
        let mut parts = self.parent_parts().to_vec();
        parts.push(name.to_owned());
        Self { parts }
    }

    /// `/`-separated, as plans and messages show it.
    pub(super) fn to_slash(&self) -> String {
        self.parts.join("/")
    }

    /// The path under `base`.
    pub(super) fn under(&self, base: &Path) -> PathBuf {
        let mut path = base.to_path_buf();
        path.extend(&self.parts);
        path
    }

    /// The parent folder under `base`.
    pub(super) fn parent_under(&self, base: &Path) -> PathBuf {
        let mut path = base.to_path_buf();
        path.extend(self.parent_parts());
        path
    }

    /// Walks the path from `root` (canonical) without following links; on success, the file's
    /// absolute path and metadata.
    pub(super) fn resolve_file(&self, root: &Path) -> Result<(PathBuf, Metadata), FileProblem> {
        let mut current = root.to_path_buf();
        let last = self.parts.len().saturating_sub(1);
        let mut found = None;
        for (index, part) in self.parts.iter().enumerate() {
            current.push(part);
            let meta = fs::symlink_metadata(&current).map_err(|_| FileProblem::NotFound)?;
            if meta.file_type().is_symlink() {
                return Err(FileProblem::Symlink);
            }
            if index < last && !meta.is_dir() {
                return Err(FileProblem::NotFound);
            }
            if index == last {
                if !meta.is_file() {
                    return Err(FileProblem::NotFile);
                }
                found = Some(meta);
            }
        }
        let meta = found.ok_or(FileProblem::NotFound)?;
        // Belt and braces: the walk saw no link, but a bind mount or a race could still put the
        // folder elsewhere.
        let parent = current
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .ok_or(FileProblem::NotFound)?;
        if !parent.starts_with(root) {
            return Err(FileProblem::Outside);
        }
        Ok((current, meta))
    }
}

/// What is at `path`, without following a link.
pub(super) fn occupant(path: &Path) -> Occupant {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Occupant::Symlink,
        Ok(meta) if meta.is_file() => Occupant::File,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Occupant::Free,
        Ok(_) | Err(_) => Occupant::Other,
    }
}

/// A path from an entry for messages when it could not be checked: at most a few hundred
/// characters, control characters replaced.
pub(super) fn shown(raw: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 200;
    let mut text: String = raw
        .chars()
        .take(MAX_SHOWN_CHARS)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if raw.chars().nth(MAX_SHOWN_CHARS).is_some() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        let path = RelPath::parse("./a/./b/c.mp3").unwrap();
        assert_eq!(path.to_slash(), "a/b/c.mp3");
        assert_eq!(path.file_name(), "c.mp3");
        assert_eq!(path.with_file_name("d.mp3").to_slash(), "a/b/d.mp3");
        assert!(path.same_folder(&RelPath::parse("a/b/x").unwrap()));
        assert!(!path.same_folder(&RelPath::parse("a/x").unwrap()));
        assert_eq!(RelPath::parse("top.mp3").unwrap().to_slash(), "top.mp3");
    }

    #[test]
    fn hostile_paths_are_refused() {
        assert_eq!(RelPath::parse("../x.mp3"), Err(PathProblem::Outside));
        assert_eq!(RelPath::parse("a/../../x.mp3"), Err(PathProblem::Outside));
        assert_eq!(RelPath::parse("a/.."), Err(PathProblem::Outside));
        assert_eq!(RelPath::parse("/etc/passwd"), Err(PathProblem::Outside));
        assert_eq!(RelPath::parse(""), Err(PathProblem::Invalid));
        assert_eq!(RelPath::parse("."), Err(PathProblem::Invalid));
        assert_eq!(RelPath::parse("a\0b.mp3"), Err(PathProblem::Invalid));
        assert_eq!(
            RelPath::parse(&"a".repeat(MAX_PATH_BYTES + 1)),
            Err(PathProblem::Invalid)
        );
        assert_eq!(
            RelPath::parse(&"a/".repeat(MAX_PATH_COMPONENTS + 1)),
            Err(PathProblem::Invalid)
        );
    }

    #[test]
    fn shown_paths_are_bounded() {
        assert_eq!(shown("a\nb"), "a\u{FFFD}b");
        let long = shown(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), 201);
    }
}
