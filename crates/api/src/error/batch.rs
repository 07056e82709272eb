//! Library batch errors as API errors. Texts never show a server path: a folder is named as
//! the client named it.

use recozik_core::batch::discover::DiscoveryError;
use recozik_jobs::batch::InvalidBatchOptions;
use recozik_jobs::renames::RenameError;

use super::ApiError;
use crate::codes;
use crate::jobs::batch::SelectionError;

impl From<InvalidBatchOptions> for ApiError {
    fn from(error: InvalidBatchOptions) -> Self {
        let code = match error {
            InvalidBatchOptions::Limit => codes::INVALID_LIMIT,
            InvalidBatchOptions::TemplateTooLong => codes::INVALID_TEMPLATE,
        };
        Self::bad_request(code, error.to_string())
    }
}

fn discovery(directory: &str, error: DiscoveryError) -> ApiError {
    use DiscoveryError as E;
    match error {
        E::NotFound { .. } => ApiError::not_found(
            codes::DIRECTORY_NOT_FOUND,
            format!("Directory not found: {directory}"),
        ),
        E::NotADirectory { .. } => ApiError::bad_request(
            codes::NOT_A_DIRECTORY,
            format!("Not a directory: {directory}"),
        ),
        E::OutsideRoot { .. } => {
            ApiError::bad_request(codes::PATH_OUTSIDE_ROOT, "Directory outside the media root")
        }
        E::NonUtf8Path { .. } => ApiError::bad_request(
            codes::NOT_A_DIRECTORY,
            "The directory's path is not valid UTF-8",
        ),
        E::TooManyFiles { limit } => ApiError::bad_request(
            codes::TOO_MANY_BATCH_FILES,
            format!("Too many files: a batch takes at most {limit}"),
        ),
        E::TooManyEntries { .. } | E::TooDeep { .. } => {
            ApiError::bad_request(codes::TOO_MANY_BATCH_FILES, error.to_string())
        }
        E::TooManyPatterns { .. }
        | E::TooManyExtensions { .. }
        | E::PatternTooLong { .. }
        | E::InvalidPattern { .. }
        | E::InvalidExtension { .. } => {
            ApiError::bad_request(codes::INVALID_PATTERN, error.to_string())
        }
        io @ E::Io { .. } => ApiError::internal(&io),
    }
}

impl From<SelectionError> for ApiError {
    fn from(error: SelectionError) -> Self {
        match error {
            SelectionError::Ambiguous => {
                Self::bad_request(codes::INVALID_SELECTION, error.to_string())
            }
            SelectionError::DirectoryNotFound(_) => {
                Self::not_found(codes::DIRECTORY_NOT_FOUND, error.to_string())
            }
            SelectionError::Path(path) => path.into(),
            SelectionError::Discovery { directory, error } => discovery(&directory, error),
            SelectionError::Empty => Self::bad_request(codes::NO_AUDIO_FILES, error.to_string()),
            SelectionError::TooMany { .. } => {
                Self::bad_request(codes::TOO_MANY_BATCH_FILES, error.to_string())
            }
            SelectionError::TooManyQueued { limit } => Self::too_many_requests(
                codes::TOO_MANY_QUEUED_JOBS,
                format!("Too many queued jobs: at most {limit} unfinished jobs per user"),
                30,
            ),
            SelectionError::Submit(submit) => submit.into(),
        }
    }
}

impl From<RenameError> for ApiError {
    fn from(error: RenameError) -> Self {
        match error {
            RenameError::NothingToUndo => Self::new(
                actix_web::http::StatusCode::CONFLICT,
                codes::NOTHING_TO_UNDO,
                error.to_string(),
            ),
            RenameError::Storage(storage) => storage.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use actix_web::ResponseError;
    use actix_web::http::StatusCode;

    use super::*;

    #[test]
    fn discovery_errors_never_show_server_paths() {
        let secret = PathBuf::from("/srv/secret/media/x");
        for error in [
            DiscoveryError::NotFound {
                path: secret.clone(),
            },
            DiscoveryError::NotADirectory {
                path: secret.clone(),
            },
            DiscoveryError::OutsideRoot {
                path: secret.clone(),
            },
            DiscoveryError::NonUtf8Path {
                path: secret.clone(),
            },
        ] {
            let api = discovery("Albums", error);
            assert!(api.status_code() != StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!api.detail_text().unwrap_or_default().contains("/srv"));
        }
    }
}
