//! `POST /identify/batch`: a library batch over a folder or a list of files under the media
//! root, queued as one durable job ([`crate::jobs::batch`]).

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{Feature, check_feature};
use recozik_core::batch::discover::DiscoveryRules;
use recozik_jobs::JobKind;
use recozik_jobs::batch::BatchOptions;
use recozik_jobs::kinds::identify_batch::IdentifyBatch;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorBody};
use crate::extract::blocking;
use crate::extractors::Authenticated;
use crate::jobs::batch::{self, Selection, SelectionError};
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

/// Either `directory` (with the discovery rules) or `paths`, plus the batch options.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BatchBody {
    /// A folder relative to the media root (`""` or `.` is the root itself).
    directory: Option<String>,
    /// Include sub-folders at any depth.
    #[serde(default)]
    recursive: bool,
    /// Globs matched against file names (or against paths when they contain `/`).
    #[serde(default)]
    patterns: Vec<String>,
    /// Extensions to keep (`mp3` or `.mp3`); without patterns or extensions the usual audio
    /// extensions apply.
    #[serde(default)]
    extensions: Vec<String>,
    /// Files relative to the media root, instead of `directory`.
    paths: Option<Vec<String>>,
    #[serde(flatten)]
    options: BatchOptions,
}

impl BatchBody {
    fn selection(&mut self) -> Result<Selection, SelectionError> {
        match (self.directory.take(), self.paths.take()) {
            (Some(directory), None) => Ok(Selection::Directory {
                directory,
                rules: DiscoveryRules {
                    recursive: self.recursive,
                    patterns: std::mem::take(&mut self.patterns),
                    extensions: std::mem::take(&mut self.extensions),
                },
            }),
            (None, Some(paths)) => Ok(Selection::Paths(paths)),
            _ => Err(SelectionError::Ambiguous),
        }
    }
}

/// The answer: the job to follow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BatchQueued {
    job_id: String,
    #[schema(example = "queued")]
    status: &'static str,
    #[schema(example = "batch")]
    kind: &'static str,
    /// Files in the batch.
    files: usize,
}

impl BatchQueued {
    pub(crate) fn new(job_id: String, files: usize) -> Self {
        Self {
            job_id,
            status: "queued",
            kind: <IdentifyBatch as JobKind>::NAME,
            files,
        }
    }
}

/// Identify a folder or a list of files
///
/// One durable job: follow it with `GET /jobs/{job_id}` (its `progress`) or the WebSocket,
/// read its entries with `GET /jobs/{job_id}/results`. Needs the `identify` and
/// `identify_batch` features.
#[utoipa::path(post, path = "/identify/batch", operation_id = "identify_batch", tag = "identify",
    security(("apiToken" = []), ("session" = [])),
    request_body = BatchBody,
    responses(
        (status = 200, description = "Queued", body = BatchQueued),
        (status = 400, description = "No audio file matched, a bad path or pattern, too many files, or bad options", body = ErrorBody),
        (status = 404, description = "Directory not found", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn identify_batch(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<BatchBody>,
) -> Result<HttpResponse, ApiError> {
    // After the body, as `from-path` (see `crate::extractors`).
    let Authenticated(principal) = Authenticated::extract(&request).await?;
    check_feature(&principal, Feature::Identify)?;
    check_feature(&principal, Feature::IdentifyBatch)?;
    let mut body = body.into_inner();
    body.options.validate()?;
    let selection = body.selection()?;
    let options = body.options;
    let state = state.into_inner();
    let (job, files) = blocking(move || {
        let files = batch::resolve(&state, &selection)?;
        let count = files.len();
        let job = batch::submit(&state, &principal, files, options)?;
        Ok::<_, SelectionError>((job, count))
    })
    .await?;
    Ok(HttpResponse::Ok().json(BatchQueued::new(job.id, files)))
}
