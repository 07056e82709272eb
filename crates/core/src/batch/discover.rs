//! Choosing the files of a library folder for a batch: glob patterns, an extension filter,
//! recursion, and the bounds that keep a hostile tree or hostile rules from costing unbounded
//! time or memory.
//!
//! The rules follow the upstream `identify-batch`: with neither patterns nor extensions the
//! [`DEFAULT_EXTENSIONS`] apply; with patterns and no extensions there is no extension filter;
//! symlinks (files and folders) are never followed nor kept; hidden files are kept.
//!
//! [`discover`] answers paths **relative to the media root**, `/`-separated, as
//! [`BatchEntry::path`](super::entry::BatchEntry::path) stores them; open one with
//! `root.join(path)`. It is blocking: async callers run it on a blocking thread. The tree can
//! change after the walk, so whoever opens a file still checks it (no symlink, under the root).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The extensions kept when a batch names neither patterns nor extensions.
pub const DEFAULT_EXTENSIONS: [&str; 8] = [
    ".mp3", ".flac", ".wav", ".ogg", ".m4a", ".aac", ".opus", ".wma",
];

/// Which files of a folder a batch takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryRules {
    /// Walk every sub-folder at any depth (else only the folder itself, see `patterns`).
    pub recursive: bool,
    /// Globs (`*`, `?`, `[…]`, `{a,b}`, `**`). A pattern without `/` is matched against file
    /// names; one with `/` against the path relative to the folder, like a glob run from the
    /// folder (so `disc1/*.flac` reaches one level down even without `recursive`, and with
    /// `recursive` it matches at any depth, as `rglob` does). None: every file.
    pub patterns: Vec<String>,
    /// Extensions, case-insensitive, with or without the leading dot (`"MP3"` is `.mp3`).
    pub extensions: Vec<String>,
}

/// Bounds on one discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryLimits {
    /// Files kept.
    pub max_files: usize,
    /// Folder levels below the chosen folder that may be walked.
    pub max_depth: usize,
    /// Patterns, and separately extensions, per rule set.
    pub max_patterns: usize,
    /// Bytes of one pattern or extension.
    pub max_pattern_len: usize,
    /// Directory entries examined (files, folders, links, matched or not): bounds the walk of a
    /// huge tree whose files mostly do not match.
    pub max_entries: usize,
}

impl Default for DiscoveryLimits {
    fn default() -> Self {
        Self {
            max_files: 100_000,
            max_depth: 64,
            max_patterns: 32,
            max_pattern_len: 256,
            max_entries: 1_000_000,
        }
    }
}

/// Why a discovery was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("directory not found: {}", path.display())]
    NotFound { path: PathBuf },
    /// A file, a symlink or anything else that is not a real folder.
    #[error("not a directory: {}", path.display())]
    NotADirectory { path: PathBuf },
    #[error("outside the media root: {}", path.display())]
    OutsideRoot { path: PathBuf },
    /// The folder's own path under the root is not UTF-8, so no entry path could be sent.
    #[error("the folder's path is not valid UTF-8: {}", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error("more than {limit} files match")]
    TooManyFiles { limit: usize },
    #[error("more than {limit} directory entries to examine")]
    TooManyEntries { limit: usize },
    #[error("folders are nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("more than {limit} patterns")]
    TooManyPatterns { limit: usize },
    #[error("more than {limit} extensions")]
    TooManyExtensions { limit: usize },
    /// The pattern itself is not repeated: it may be huge.
    #[error("a pattern or extension is longer than {limit} bytes")]
    PatternTooLong { limit: usize },
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("invalid extension {extension:?}")]
    InvalidExtension { extension: String },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The files of `directory` chosen by `rules`, as `/`-separated paths relative to `root`,
/// sorted and without duplicates.
///
/// `root` is the media root; `directory` must be a real folder (not a symlink) under it, even
/// once resolved. Sub-folders that cannot be read and names that are not UTF-8 are skipped;
/// the chosen folder itself must be readable. The order is component by component (`a/b`
/// before `a-c`), as upstream sorts its resolved paths.
pub fn discover(
    root: &Path,
    directory: &Path,
    rules: &DiscoveryRules,
    limits: &DiscoveryLimits,
) -> Result<Vec<String>, DiscoveryError> {
    let matcher = Matcher::new(rules, limits)?;
    let (folder, prefix) = check_directory(root, directory)?;
    let mut found = walk(&folder, &matcher, limits)?;
    if !prefix.is_empty() {
        for path in &mut found {
            *path = format!("{prefix}/{path}");
        }
    }
    found.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    found.dedup();
    Ok(found)
}

/// Checks `directory` and answers it resolved, with its `/`-separated path under the root.
fn check_directory(root: &Path, directory: &Path) -> Result<(PathBuf, String), DiscoveryError> {
    let outside = || DiscoveryError::OutsideRoot {
        path: directory.to_owned(),
    };
    // Checked on the names first, so that nothing outside the root is ever looked at.
    if !directory.starts_with(root) {
        return Err(outside());
    }
    let metadata = fs::symlink_metadata(directory).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            DiscoveryError::NotFound {
                path: directory.to_owned(),
            }
        } else {
            DiscoveryError::Io {
                path: directory.to_owned(),
                source,
            }
        }
    })?;
    if !metadata.is_dir() {
        return Err(DiscoveryError::NotADirectory {
            path: directory.to_owned(),
        });
    }
    // Then resolved: `..` or a symlinked ancestor could still lead out of the root.
    let resolve = |path: &Path| {
        fs::canonicalize(path).map_err(|source| DiscoveryError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let root = resolve(root)?;
    let folder = resolve(directory)?;
    let relative = folder.strip_prefix(&root).map_err(|_| outside())?;
    let mut prefix = String::new();
    for component in relative.components() {
        let name = component
            .as_os_str()
            .to_str()
            .ok_or_else(|| DiscoveryError::NonUtf8Path {
                path: directory.to_owned(),
            })?;
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(name);
    }
    Ok((folder, prefix))
}

/// The compiled rules.
#[derive(Debug)]
struct Matcher {
    recursive: bool,
    /// `None`: no pattern, every file.
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
    /// `None`: no extension filter.
    extensions: Option<Vec<String>>,
    /// How many folder levels down the walk must go: patterns with `/` may reach below the
    /// folder even without `recursive`.
    reach: usize,
}

impl Matcher {
    fn new(rules: &DiscoveryRules, limits: &DiscoveryLimits) -> Result<Self, DiscoveryError> {
        if rules.patterns.len() > limits.max_patterns {
            return Err(DiscoveryError::TooManyPatterns {
                limit: limits.max_patterns,
            });
        }
        if rules.extensions.len() > limits.max_patterns {
            return Err(DiscoveryError::TooManyExtensions {
                limit: limits.max_patterns,
            });
        }
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut any_name, mut any_path) = (false, false);
        let mut reach = if rules.recursive { usize::MAX } else { 0 };
        for pattern in &rules.patterns {
            let cleaned = clean_pattern(pattern, limits)?;
            if cleaned.contains('/') {
                any_path = true;
                if rules.recursive {
                    // `rglob` semantics: the pattern may start at any depth.
                    let anywhere = if cleaned.starts_with("**/") {
                        cleaned.to_owned()
                    } else {
                        format!("**/{cleaned}")
                    };
                    paths.add(compile(pattern, &anywhere)?);
                } else {
                    // Each level down needs one separator, so this bounds the depth reached.
                    let levels = if cleaned.contains("**") {
                        usize::MAX
                    } else {
                        cleaned.matches('/').count()
                    };
                    reach = reach.max(levels);
                    paths.add(compile(pattern, cleaned)?);
                }
            } else {
                any_name = true;
                names.add(compile(pattern, cleaned)?);
            }
        }
        let build = |builder: GlobSetBuilder, used: bool| -> Result<Option<GlobSet>, _> {
            if used {
                builder
                    .build()
                    .map(Some)
                    .map_err(|error| invalid("", &error))
            } else {
                Ok(None)
            }
        };
        let extensions = if rules.extensions.is_empty() {
            rules
                .patterns
                .is_empty()
                .then(|| DEFAULT_EXTENSIONS.map(str::to_owned).to_vec())
        } else {
            let mut normalised = Vec::with_capacity(rules.extensions.len());
            for extension in &rules.extensions {
                normalised.push(normalise_extension(extension, limits)?);
            }
            Some(normalised)
        };
        Ok(Self {
            recursive: rules.recursive,
            names: build(names, any_name)?,
            paths: build(paths, any_path)?,
            extensions,
            reach,
        })
    }

    /// Whether the file `name`, at `relative` from the folder and `depth` levels below it, is
    /// kept.
    fn keeps(&self, name: &str, relative: &str, depth: usize) -> bool {
        let on_names = self.recursive || depth == 0;
        let selected = match (&self.names, &self.paths) {
            (None, None) => on_names,
            (names, paths) => {
                (on_names && names.as_ref().is_some_and(|set| set.is_match(name)))
                    || paths.as_ref().is_some_and(|set| set.is_match(relative))
            }
        };
        selected
            && self.extensions.as_ref().is_none_or(|allowed| {
                Path::new(name)
                    .extension()
                    .and_then(|extension| extension.to_str())
                    .is_some_and(|extension| {
                        let extension = format!(".{}", extension.to_lowercase());
                        allowed.contains(&extension)
                    })
            })
    }
}

/// Refuses patterns that could never name a file under the folder, and drops a leading `./`.
fn clean_pattern<'p>(
    pattern: &'p str,
    limits: &DiscoveryLimits,
) -> Result<&'p str, DiscoveryError> {
    if pattern.len() > limits.max_pattern_len {
        return Err(DiscoveryError::PatternTooLong {
            limit: limits.max_pattern_len,
        });
    }
    let refuse = |reason: &str| DiscoveryError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    };
    let mut cleaned = pattern;
    while let Some(rest) = cleaned.strip_prefix("./") {
        cleaned = rest;
    }
    if cleaned.trim().is_empty() {
        return Err(refuse("empty pattern"));
    }
    if cleaned.contains('\0') {
        return Err(refuse("contains a NUL character"));
    }
    if cleaned.starts_with('/') {
        return Err(refuse("absolute patterns are not allowed"));
    }
    if cleaned.split('/').any(|part| part == "..") {
        return Err(refuse("a pattern may not leave the folder"));
    }
    Ok(cleaned)
}

/// One glob: `*` and `?` stay within one path component, as in a shell.
fn compile(original: &str, pattern: &str) -> Result<globset::Glob, DiscoveryError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|error| invalid(original, &error))
}

fn invalid(pattern: &str, error: &globset::Error) -> DiscoveryError {
    DiscoveryError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason: error.kind().to_string(),
    }
}

/// Lowercase with one leading dot; a bare dot, separators or a second dot are refused (the
/// filter compares the last extension only, so `.tar.gz` could never match).
fn normalise_extension(
    extension: &str,
    limits: &DiscoveryLimits,
) -> Result<String, DiscoveryError> {
    if extension.len() > limits.max_pattern_len {
        return Err(DiscoveryError::PatternTooLong {
            limit: limits.max_pattern_len,
        });
    }
    let trimmed = extension.trim();
    let bare = trimmed.strip_prefix('.').unwrap_or(trimmed);
    if bare.is_empty() || bare.contains(['.', '/', '\\', '\0']) {
        return Err(DiscoveryError::InvalidExtension {
            extension: extension.to_owned(),
        });
    }
    Ok(format!(".{}", bare.to_lowercase()))
}

/// Walks `folder` without recursion (a deep tree cannot overflow the stack), answering the kept
/// files relative to it.
fn walk(
    folder: &Path,
    matcher: &Matcher,
    limits: &DiscoveryLimits,
) -> Result<Vec<String>, DiscoveryError> {
    let mut pending: Vec<(PathBuf, String, usize)> = vec![(folder.to_owned(), String::new(), 0)];
    let mut kept = Vec::new();
    let mut examined = 0_usize;
    while let Some((current, relative, depth)) = pending.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(source) if depth == 0 => {
                return Err(DiscoveryError::Io {
                    path: current,
                    source,
                });
            }
            // An unreadable sub-folder costs its files, not the batch.
            Err(_) => continue,
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            examined += 1;
            if examined > limits.max_entries {
                return Err(DiscoveryError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            // `DirEntry::file_type` does not follow symlinks, so a link is seen as a link.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_symlink() {
                continue;
            }
            let file_name = entry.file_name();
            // A name that is not UTF-8 could not be stored nor sent as JSON.
            let Some(name) = file_name.to_str() else {
                continue;
            };
            let child = if relative.is_empty() {
                name.to_owned()
            } else {
                format!("{relative}/{name}")
            };
            if file_type.is_dir() {
                if depth >= matcher.reach {
                    continue;
                }
                if depth >= limits.max_depth {
                    return Err(DiscoveryError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                pending.push((entry.path(), child, depth + 1));
            } else if file_type.is_file() && matcher.keeps(name, &child, depth) {
                if kept.len() >= limits.max_files {
                    return Err(DiscoveryError::TooManyFiles {
                        limit: limits.max_files,
                    });
                }
                kept.push(child);
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(recursive: bool, patterns: &[&str], extensions: &[&str]) -> Matcher {
        let rules = DiscoveryRules {
            recursive,
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        };
        Matcher::new(&rules, &DiscoveryLimits::default()).unwrap()
    }

    #[test]
    fn extensions_are_normalised() {
        let limits = DiscoveryLimits::default();
        assert_eq!(normalise_extension("MP3", &limits).unwrap(), ".mp3");
        assert_eq!(normalise_extension(" .FlAc ", &limits).unwrap(), ".flac");
        for bad in ["", ".", "..", "a.b", "a/b", "\\x"] {
            assert!(
                matches!(
                    normalise_extension(bad, &limits),
                    Err(DiscoveryError::InvalidExtension { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn name_and_path_patterns() {
        let flat = matcher(false, &["*.mp3", "disc1/*.flac"], &[]);
        assert!(flat.keeps("a.mp3", "a.mp3", 0));
        assert!(
            !flat.keeps("a.mp3", "sub/a.mp3", 1),
            "names only at the top"
        );
        assert!(flat.keeps("b.flac", "disc1/b.flac", 1));
        assert!(!flat.keeps("b.flac", "x/disc1/b.flac", 2));
        assert_eq!(flat.reach, 1);

        let deep = matcher(true, &["*.mp3", "disc1/*.flac"], &[]);
        assert!(deep.keeps("a.mp3", "x/y/a.mp3", 2));
        assert!(deep.keeps("b.flac", "x/disc1/b.flac", 2));
        assert!(!deep.keeps("b.flac", "disc1/x/b.flac", 2));
    }

    #[test]
    fn defaults_and_no_filter() {
        let default = matcher(false, &[], &[]);
        assert!(default.keeps("a.MP3", "a.MP3", 0));
        assert!(!default.keeps("a.txt", "a.txt", 0));
        assert!(
            !default.keeps(".mp3", ".mp3", 0),
            "a dot file has no extension"
        );
        let any = matcher(false, &["*"], &[]);
        assert!(any.keeps("notes.txt", "notes.txt", 0));
        assert!(any.keeps("README", "README", 0));
    }

    #[test]
    fn hostile_patterns_are_refused() {
        let limits = DiscoveryLimits::default();
        for bad in ["", "./", "/etc/*", "../*", "a/../../b", "a\0b"] {
            assert!(
                matches!(
                    clean_pattern(bad, &limits),
                    Err(DiscoveryError::InvalidPattern { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(clean_pattern("././*.mp3", &limits).unwrap(), "*.mp3");
    }
}
