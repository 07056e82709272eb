//! `POST /identify/upload`: a multipart upload streamed to disk under the upload limits
//! ([`UploadLimits`], [`UploadBudget`], [`DiskFloor`]), then queued as a job
//! ([`crate::jobs::submit_upload`]).

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use recozik_auth::Feature;

use crate::codes;
use crate::error::{ApiError, ErrorBody, ValidationIssue};
use crate::extract::blocking;
use crate::extractors::Authenticated;
use crate::jobs::limits::{DiskFloor, UploadBudget, UploadLimits};
use crate::jobs::{self, PendingUpload};
use crate::pipeline::IdentifyOptions;
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::routes::upload_form::{Queued, UploadForm, apply_option};
use crate::state::AppState;

/// Bytes gathered before one write to disk (memory per upload stays about this size).
const WRITE_CHUNK: usize = 256 * 1024;

pub(super) fn missing_file() -> ApiError {
    ApiError::validation(vec![ValidationIssue::new(
        "missing",
        &["body", "file"],
        "Field required",
    )])
}

pub(super) fn multipart_error(error: MultipartError) -> ApiError {
    match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => missing_file(),
        other => {
            tracing::debug!(error = %other, "malformed multipart upload");
            ApiError::bad_request(
                codes::INVALID_MULTIPART,
                "Malformed multipart/form-data body",
            )
        }
    }
}

pub(super) async fn read_small_field(field: &mut Field) -> Result<String, ApiError> {
    let mut data = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        UploadLimits::check_field_bytes(data.len() + chunk.len())?;
        data.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Writes `buffer` on a blocking thread, unless it would take the disk below its free-space
/// floor; the guard travels with the work so a cancelled or refused request still deletes the
/// file.
async fn write_blocking(
    mut upload: PendingUpload,
    mut buffer: Vec<u8>,
    last: bool,
    floor: DiskFloor,
) -> Result<(PendingUpload, Vec<u8>), ApiError> {
    let (upload, buffer, outcome) = web::block(move || {
        let outcome = floor
            .check(buffer.len() as u64)
            .map_err(ApiError::from)
            .and_then(|()| {
                let mut written = upload.write_all(&buffer);
                if written.is_ok() && last {
                    written = upload.finish();
                }
                written.map_err(|error| ApiError::internal(&error))
            });
        buffer.clear();
        (upload, buffer, outcome)
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    outcome?;
    Ok((upload, buffer))
}

/// Streams the file part to disk, enforcing the size cap, the user's pending-bytes limit and
/// the disk's free-space floor while reading.
pub(super) async fn save_file(
    field: &mut Field,
    mut upload: PendingUpload,
    cap: u64,
    budget: &mut UploadBudget,
    floor: &DiskFloor,
) -> Result<PendingUpload, ApiError> {
    let mut buffer = Vec::with_capacity(WRITE_CHUNK);
    let mut total: u64 = 0;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        total += chunk.len() as u64;
        UploadLimits::check_file_bytes(cap, total)?;
        budget.add(chunk.len() as u64)?;
        buffer.extend_from_slice(&chunk);
        if buffer.len() >= WRITE_CHUNK {
            (upload, buffer) = write_blocking(upload, buffer, false, floor.clone()).await?;
        }
    }
    let (upload, _) = write_blocking(upload, buffer, true, floor.clone()).await?;
    Ok(upload)
}

/// Refuses a file part whose declared type is not `audio/*` (no type is accepted).
pub(super) fn check_part_type(field: &Field) -> Result<(), ApiError> {
    let content_type = field
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("?"));
    if let Some(kind) = content_type.filter(|kind| !kind.is_empty())
        && !kind.starts_with("audio/")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "Expected audio/* upload",
        ));
    }
    Ok(())
}

/// The file name the client gave a part (empty when none).
pub(super) fn part_filename(field: &Field) -> String {
    field
        .content_disposition()
        .and_then(|disposition| {
            disposition.get_filename().map(str::to_owned).or_else(|| {
                disposition
                    .get_filename_ext()
                    .map(|ext| String::from_utf8_lossy(&ext.value).into_owned())
            })
        })
        .unwrap_or_default()
}

/// The file part: content type, enabled uploads and extension checks (in that order), then
/// the file streamed to `<upload_dir>/<job id><suffix>`.
async fn receive_file(
    state: &AppState,
    limits: &UploadLimits,
    field: &mut Field,
    budget: &mut UploadBudget,
) -> Result<(String, PendingUpload), ApiError> {
    check_part_type(field)?;
    let cap = limits.file_cap()?;
    let filename = part_filename(field);
    let suffix =
        recozik_core::media::check_extension(&filename, &state.settings.allowed_upload_extensions)?;
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    let (dir, stem) = (state.settings.upload_dir(), job_id.clone());
    let upload = blocking(move || {
        PendingUpload::create(&dir, &stem, &suffix).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let upload = save_file(field, upload, cap, budget, &DiskFloor::new(state)).await?;
    if upload.written() == 0 {
        return Err(ApiError::bad_request(codes::EMPTY_UPLOAD, "Empty upload"));
    }
    Ok((job_id, upload))
}

/// Upload a file and queue its identification
///
/// The file is streamed to disk under the upload limits, then identified by a job: follow it
/// with `GET /jobs/{job_id}` or the WebSocket. Needs the `identify` feature.
#[utoipa::path(post, path = "/identify/upload", operation_id = "identify_upload", tag = "identify",
    security(("apiToken" = []), ("session" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Queued", body = Queued),
        (status = 400, description = "Extension not allowed, empty file or malformed form", body = ErrorBody),
        (status = 413, description = "Too large, or uploads are disabled", body = ErrorBody),
        (status = 415, description = "The file part is not `audio/*`", body = ErrorBody),
        (status = 507, description = "Not enough free disk space under the media root", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn upload(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Headers only: rate limit, credentials, CSRF (the extractor), then the access pre-check
    // — before any of the body.
    recozik_auth::check_feature(&principal, Feature::Identify)?;
    let limits = UploadLimits::new(&state.settings);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    limits.check_declared(declared)?;
    // The per-user and disk limits, still before any of the body is read.
    let mut budget = {
        let (state, user_id) = (state.clone().into_inner(), principal.user_id);
        blocking(move || UploadBudget::admit(&state, &limits, user_id, declared)).await?
    };

    let mut multipart = Multipart::new(request.headers(), body);
    let mut file: Option<(String, PendingUpload)> = None;
    let mut options = IdentifyOptions::default();
    let mut fields = 0_usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if file.is_some() {
                return Err(ApiError::validation(vec![ValidationIssue::new(
                    codes::TOO_MANY_FILES,
                    &["body", "file"],
                    "Send a single file",
                )]));
            }
            file = Some(receive_file(&state, &limits, &mut field, &mut budget).await?);
        } else {
            fields += 1;
            UploadLimits::check_field_count(fields)?;
            let value = read_small_field(&mut field).await?;
            apply_option(&mut options, &name, &value)?;
        }
    }
    let Some((job_id, upload)) = file else {
        return Err(missing_file());
    };
    let job = {
        let state = state.clone().into_inner();
        blocking(move || jobs::submit_upload(&state, &principal, &job_id, upload, options)).await?
    };
    Ok(HttpResponse::Ok().json(Queued::new(job.id)))
}
