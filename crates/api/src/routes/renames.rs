//! `POST /jobs/{job_id}/renames` (plan, or apply with `apply: true`) and
//! `POST /jobs/{job_id}/renames/undo`: the non-interactive `rename-from-log` over a finished
//! batch's entries ([`recozik_jobs::renames`]).

use std::collections::HashMap;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{Feature, Principal, check_feature};
use recozik_core::batch::rename::{
    ConflictStrategy, EntryChoices, EntryMessage, PlannedMove, RenameOptions, UndoOutcome,
};
use recozik_jobs::batch::BatchPayload;
use recozik_jobs::renames::{apply_renames, plan_renames, undo_renames};
use recozik_storage::{BatchStore, Job};
use serde::{Deserialize, Serialize};

use super::jobs::accessible_job;
use crate::codes;
use crate::error::{ApiError, ErrorBody};
use crate::extract::blocking;
use crate::extractors::Authenticated;
use crate::jobs::batch::folder_under;
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

/// How to rename; every field is optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RenameBody {
    /// Placeholders `artist`, `title`, `album`, `score`, `recording_id`, `release_group_id`,
    /// `release_id`, `ext`, `stem`; default `{artist} - {title}`.
    template: Option<String>,
    /// `append` (default), `skip` or `overwrite`.
    on_conflict: Option<String>,
    #[serde(default)]
    require_template_fields: bool,
    /// Default true.
    deduplicate_template: Option<bool>,
    /// Default true.
    metadata_fallback: Option<bool>,
    /// Per entry path, the 0-based index of the proposal to use (as listed in `choices`).
    #[serde(default)]
    select: HashMap<String, usize>,
    /// A folder under the media root that receives a copy of each file before it moves.
    backup_dir: Option<String>,
    /// `false` (default): only plan.
    #[serde(default)]
    apply: bool,
}

/// A plan, or what an apply did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RenameAnswer {
    /// Whether files were moved.
    applied: bool,
    /// The planned moves (`applied` set on those performed).
    entries: Vec<PlannedMove>,
    skipped: Vec<EntryMessage>,
    errors: Vec<EntryMessage>,
    /// The proposals of each entry, for a `select` of another one.
    choices: Vec<EntryChoices>,
    /// Set when an apply stopped early (a move failed).
    interrupted: bool,
    /// `planned` (or `renamed`), `skipped`, `errors`.
    summary: serde_json::Value,
}

const MAX_TEMPLATE_CHARS: usize = 512;

fn options(state: &AppState, body: RenameBody) -> Result<(RenameOptions, bool), ApiError> {
    let mut options = RenameOptions::default();
    if let Some(template) = body.template {
        if template.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(ApiError::bad_request(
                codes::INVALID_TEMPLATE,
                format!("template must be at most {MAX_TEMPLATE_CHARS} characters"),
            ));
        }
        options.template = template;
    }
    if let Some(strategy) = body.on_conflict {
        options.on_conflict = ConflictStrategy::parse(&strategy).ok_or_else(|| {
            ApiError::bad_request(
                codes::INVALID_ON_CONFLICT,
                "Invalid on_conflict value. Choose append, skip, or overwrite.",
            )
        })?;
    }
    options.require_template_fields = body.require_template_fields;
    options.deduplicate_template = body.deduplicate_template.unwrap_or(true);
    options.metadata_fallback = body.metadata_fallback.unwrap_or(true);
    options.select = body.select;
    if let Some(backup) = body.backup_dir {
        let root = state
            .settings
            .base_media_root
            .canonicalize()
            .map_err(|error| ApiError::internal(&error))?;
        options.backup_dir = Some(folder_under(&root, &backup)?);
    }
    Ok((options, body.apply))
}

/// The caller, the finished batch `job_id` and the folder its paths are relative to.
async fn finished_batch(
    state: &web::Data<AppState>,
    request: &HttpRequest,
    job_id: String,
) -> Result<(Principal, Job, PathBuf), ApiError> {
    let Authenticated(principal) = Authenticated::extract(request).await?;
    let job = accessible_job(state, &principal, job_id).await?;
    let payload = (recozik_jobs::kind::kind_of(&job.payload).as_deref() == Some("batch"))
        .then(|| serde_json::from_str::<BatchPayload>(&job.payload).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::not_found(
                codes::NOT_A_BATCH,
                "This job is not a batch: it has no per-file results",
            )
        })?;
    if job.upload_path.is_some() {
        return Err(ApiError::bad_request(
            codes::RENAMES_NOT_AVAILABLE,
            "Renames apply to batches of files under the media root, not to uploaded files",
        ));
    }
    if !job.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_NOT_FINISHED,
            "The batch is still running: rename once it has finished",
        ));
    }
    Ok((principal, job, payload.base))
}

/// Plan or apply renames from a batch
///
/// A dry run by default; `apply: true` (needs the `rename` feature) moves the files, never
/// outside the media root nor through a symbolic link, and journals every move so that
/// `POST /jobs/{job_id}/renames/undo` can move them back.
#[utoipa::path(post, path = "/jobs/{job_id}/renames", operation_id = "job_renames", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "A finished batch job")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The plan, or what was applied", body = RenameAnswer),
        (status = 400, description = "Bad options or backup folder", body = ErrorBody),
        (status = 404, description = "No such job, or not a batch", body = ErrorBody),
        (status = 409, description = "The batch is still running", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn renames(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let (principal, job, root) = finished_batch(&state, &request, path.into_inner()).await?;
    let (options, apply) = options(&state, body.into_inner())?;
    if apply {
        check_feature(&principal, Feature::Rename)?;
    }
    let store = BatchStore::new(state.storage.jobs.clone());
    let answer = blocking(move || {
        if apply {
            let (plan, outcome) = apply_renames(&store, &job.id, &root, &options)?;
            let mut errors = plan.errors;
            errors.extend(outcome.errors);
            Ok::<_, recozik_storage::StorageError>(RenameAnswer {
                applied: true,
                entries: outcome.moves,
                skipped: plan.skipped,
                errors,
                choices: plan.choices,
                interrupted: outcome.interrupted,
                summary: serde_json::to_value(outcome.summary).unwrap_or_default(),
            })
        } else {
            let plan = plan_renames(&store, &job.id, &root, &options)?;
            Ok(RenameAnswer {
                applied: false,
                entries: plan.planned,
                skipped: plan.skipped,
                errors: plan.errors,
                choices: plan.choices,
                interrupted: false,
                summary: serde_json::to_value(plan.summary).unwrap_or_default(),
            })
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Undo the last applied renames of a batch
///
/// Moves every file of the last applied set back, refusing (and listing) a file that changed
/// since. Needs the `rename` feature.
#[utoipa::path(post, path = "/jobs/{job_id}/renames/undo", operation_id = "job_renames_undo", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "A finished batch job")),
    responses(
        (status = 200, description = "What was moved back and what was refused", body = UndoOutcome),
        (status = 404, description = "No such job, or not a batch", body = ErrorBody),
        (status = 409, description = "Nothing to undo, or the batch is still running", body = ErrorBody),
        GuardErrors))]
pub async fn undo(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (principal, job, root) = finished_batch(&state, &request, path.into_inner()).await?;
    check_feature(&principal, Feature::Rename)?;
    let store = BatchStore::new(state.storage.jobs.clone());
    let outcome = blocking(move || undo_renames(&store, &job.id, &root)).await?;
    Ok(HttpResponse::Ok().json(outcome))
}
