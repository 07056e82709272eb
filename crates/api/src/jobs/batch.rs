//! Library batches as the API sees them: which files a request selects (a folder with the
//! discovery rules, or a list of paths, all confined to the media root), and the submission of
//! the batch job ([`recozik_jobs::batch`] runs it).

use std::path::{Component, Path, PathBuf};

use recozik_auth::Principal;
use recozik_core::batch::discover::{DiscoveryError, DiscoveryLimits, DiscoveryRules, discover};
use recozik_core::media::{MediaPathError, resolve_under_root};
use recozik_jobs::SubmitError;
use recozik_jobs::batch::BatchOptions;
use recozik_storage::Job;

use crate::state::AppState;

/// Why a selection cannot become a batch. `Display` is the client text.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("Send either `directory` or `paths`, not both and not neither")]
    Ambiguous,
    #[error("Directory not found: {0}")]
    DirectoryNotFound(String),
    #[error("{0}")]
    Path(#[from] MediaPathError),
    /// `directory` is the folder as the client named it (the error's own paths are the
    /// server's and are not shown).
    #[error("{error}")]
    Discovery {
        directory: String,
        error: DiscoveryError,
    },
    #[error("No audio files matched the selection.")]
    Empty,
    #[error("Too many files: a batch takes at most {limit}")]
    TooMany { limit: usize },
    #[error("Too many queued jobs: at most {limit} unfinished jobs per user")]
    TooManyQueued { limit: u32 },
    #[error("{0}")]
    Submit(#[from] SubmitError),
}

/// The files a request names.
#[derive(Debug, Clone)]
pub enum Selection {
    Directory {
        directory: String,
        rules: DiscoveryRules,
    },
    Paths(Vec<String>),
}

/// The server's own files under the media root, never part of a batch.
pub fn reserved_paths(state: &AppState) -> Vec<PathBuf> {
    let settings = &state.settings;
    vec![
        settings.base_media_root.join(&settings.auth_db_filename),
        settings.base_media_root.join(&settings.jobs_db_filename),
        settings.upload_dir(),
    ]
}

/// `requested` (relative to the media root; empty or `.` is the root itself) as a folder
/// path, refusing absolute paths and `..` before the file system is touched.
pub fn folder_under(root: &Path, requested: &str) -> Result<PathBuf, SelectionError> {
    let normalised = requested.trim().replace('\\', "/");
    let relative = Path::new(&normalised);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(MediaPathError::Traversal.into());
    }
    Ok(root.join(relative))
}

/// Resolves `selection` to paths relative to the media root, sorted and de-duplicated, every
/// one a regular file under the root that is not the server's own. Blocking (walks folders).
pub fn resolve(state: &AppState, selection: &Selection) -> Result<Vec<String>, SelectionError> {
    let settings = &state.settings;
    let limit = settings.max_batch_files.max(1);
    let root = settings
        .base_media_root
        .canonicalize()
        .map_err(|_| MediaPathError::RootUnavailable)?;
    let reserved: Vec<PathBuf> = reserved_paths(state)
        .into_iter()
        .map(|path| path.canonicalize().unwrap_or(path))
        .collect();
    let mut files = match selection {
        Selection::Directory { directory, rules } => {
            let folder = folder_under(&root, directory)?;
            let limits = DiscoveryLimits {
                max_files: limit,
                ..DiscoveryLimits::default()
            };
            match discover(&root, &folder, rules, &limits) {
                Ok(found) => found,
                Err(DiscoveryError::NotFound { .. }) => {
                    return Err(SelectionError::DirectoryNotFound(directory.clone()));
                }
                Err(DiscoveryError::TooManyFiles { .. }) => {
                    return Err(SelectionError::TooMany { limit });
                }
                Err(error) => {
                    return Err(SelectionError::Discovery {
                        directory: directory.clone(),
                        error,
                    });
                }
            }
        }
        Selection::Paths(paths) => {
            if paths.len() > limit {
                return Err(SelectionError::TooMany { limit });
            }
            let mut resolved = Vec::with_capacity(paths.len());
            let allowed = &settings.allowed_upload_extensions;
            for requested in paths {
                let path = resolve_under_root(&root, requested, &reserved)?;
                // The same rule as `from-path`: only the accepted audio extensions.
                recozik_core::media::check_extension(&path.to_string_lossy(), allowed)?;
                let relative = path
                    .strip_prefix(&root)
                    .map_err(|_| MediaPathError::OutsideRoot)?;
                let Some(text) = relative.to_str() else {
                    return Err(MediaPathError::NotFound.into());
                };
                resolved.push(text.replace('\\', "/"));
            }
            resolved.sort();
            resolved.dedup();
            resolved
        }
    };
    files.retain(|relative| {
        let path = root.join(relative);
        !reserved.iter().any(|forbidden| path.starts_with(forbidden))
    });
    if files.is_empty() {
        return Err(SelectionError::Empty);
    }
    Ok(files)
}

/// Queues a batch over `files` (relative to the media root) for `principal`. Blocking.
pub fn submit(
    state: &AppState,
    principal: &Principal,
    files: Vec<String>,
    options: BatchOptions,
) -> Result<Job, SelectionError> {
    let limit = state.settings.max_queued_jobs_per_user;
    let unfinished = state
        .storage
        .queue
        .unfinished_uploads_of(principal.user_id)
        .map_err(|error| SelectionError::Submit(error.into()))?;
    if limit > 0 && unfinished.len() >= limit as usize {
        return Err(SelectionError::TooManyQueued { limit });
    }
    let root = state
        .settings
        .base_media_root
        .canonicalize()
        .map_err(|_| MediaPathError::RootUnavailable)?;
    Ok(recozik_jobs::batch::submit(
        &state.jobs,
        principal,
        root,
        files,
        options,
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_outside_the_root_are_refused_before_any_lookup() {
        let root = Path::new("/srv/media");
        for hostile in ["../etc", "/etc", "a/../../b", "..\\x"] {
            assert!(
                matches!(
                    folder_under(root, hostile),
                    Err(SelectionError::Path(MediaPathError::Traversal))
                ),
                "{hostile}"
            );
        }
        assert_eq!(
            folder_under(root, "").ok(),
            Some(PathBuf::from("/srv/media/"))
        );
        assert_eq!(
            folder_under(root, "./Albums/2020").ok(),
            Some(PathBuf::from("/srv/media/Albums/2020"))
        );
    }
}
