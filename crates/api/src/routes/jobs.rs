//! Job reads and cancel: `GET /jobs`, `GET /jobs/{job_id}`, `DELETE /jobs/{job_id}`.
//!
//! The handlers read the request, call [`crate::jobs`] and render its answer; the job logic
//! (listing, access rule, cancel) lives there, and the runtime that runs the jobs is
//! [`recozik_jobs`].

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use recozik_auth::Principal;
use recozik_storage::{CancelOutcome, Job};
use serde::Deserialize;

use crate::codes;
use crate::error::{ApiError, ErrorBody};
use crate::extract::blocking;
use crate::extractors::{Authenticated, Paging};
use crate::jobs::view::{self, JobDetail};
use crate::jobs::{self, JobFilter};
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

/// `GET /jobs` pages: 20 by default, at most 100.
pub type JobPaging = Paging<20, 100>;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A username to filter by (admins only).
    user_id: Option<String>,
}

/// List jobs, newest first
///
/// A user sees their own jobs; an admin sees every job, or one user's with `user_id`.
#[utoipa::path(get, path = "/jobs", operation_id = "list_jobs", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(JobPaging, ListQuery),
    responses((status = 200, description = "Jobs", body = Vec<JobDetail>), GuardErrors, Invalid))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
    paging: JobPaging,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let page = paging.page()?;
    let filter = JobFilter::for_principal(&principal, query.into_inner().user_id);
    let state = state.into_inner();
    let found = blocking(move || jobs::list(&state, &filter, page.limit, page.offset)).await?;
    let body: Vec<_> = found.iter().map(view::job_detail).collect();
    Ok(HttpResponse::Ok().json(body))
}

pub(super) fn job_not_found() -> ApiError {
    ApiError::not_found(codes::JOB_NOT_FOUND, "Job not found")
}

pub(super) fn access_denied() -> ApiError {
    ApiError::forbidden(codes::ACCESS_DENIED, "Access denied")
}

/// The job, if `principal` may see it.
pub(super) async fn accessible_job(
    state: &web::Data<AppState>,
    principal: &Principal,
    job_id: String,
) -> Result<Job, ApiError> {
    let queue = state.storage.queue.clone();
    let job = blocking(move || queue.get(&job_id))
        .await?
        .ok_or_else(job_not_found)?;
    if jobs::can_access(principal, &job) {
        Ok(job)
    } else {
        Err(access_denied())
    }
}

/// A job
#[utoipa::path(get, path = "/jobs/{job_id}", operation_id = "get_job", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobDetail),
        (status = 404, description = "Job not found", body = ErrorBody),
        GuardErrors))]
pub async fn detail(
    state: web::Data<AppState>,
    path: web::Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let job = accessible_job(&state, &principal, path.into_inner()).await?;
    let mut detail = view::job_detail(&job);
    if detail.kind == "batch" {
        let store = recozik_storage::BatchStore::new(state.storage.jobs.clone());
        let progress = blocking(move || store.progress(&job.id)).await?;
        detail.progress = Some(progress.into());
    }
    Ok(HttpResponse::Ok().json(detail))
}

/// `DELETE /jobs/{job_id}`: cancels a queued or running job of the caller (or any job, for an
/// admin): 200 with the cancelled `JobDetail`; 409 when it had already finished.
#[utoipa::path(delete, path = "/jobs/{job_id}", operation_id = "cancel_job", tag = "jobs", summary = "Cancel a job",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Cancelled", body = JobDetail),
        (status = 404, description = "Job not found", body = ErrorBody),
        (status = 409, description = "The job had already finished", body = ErrorBody),
        GuardErrors))]
pub async fn cancel(
    state: web::Data<AppState>,
    path: web::Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let job = accessible_job(&state, &principal, path.into_inner()).await?;
    let inner = state.into_inner();
    match blocking(move || jobs::cancel(&inner, &job.id)).await? {
        CancelOutcome::Cancelled(job) => Ok(HttpResponse::Ok().json(view::job_detail(&job))),
        CancelOutcome::AlreadyFinished(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::JOB_FINISHED,
            format!("Job already finished (status: {})", job.status),
        )),
        CancelOutcome::NotFound => Err(job_not_found()),
    }
}
