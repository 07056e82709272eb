//! Uploads, jobs and the job WebSocket: `POST /identify/upload`, `GET /jobs`,
//! `GET /jobs/{job_id}`, `DELETE /jobs/{job_id}`, `GET /ws/jobs/{job_id}`.
//!
//! The handlers read the request, call [`crate::jobs`] and render its answer; the job logic
//! (queueing, access rule, cancel) lives there, and the runtime that runs the jobs is
//! [`recozik_jobs`].

use std::time::{Duration, Instant};

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use futures_util::StreamExt;
use recozik_auth::{Feature, LimitClass, Principal};
use recozik_storage::{CancelOutcome, Job, JobEventData, JobStatus, JobSubscription};
use serde::Deserialize;
use serde_json::json;

use super::endpoint;
use crate::codes;
use crate::error::{ApiError, ValidationIssue};
use crate::extract::{self, blocking};
use crate::jobs::limits::{DiskFloor, SocketSlot, UploadBudget};
use crate::jobs::{self, JobFilter, PendingUpload, view};
use crate::pipeline::IdentifyOptions;
use crate::state::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    use actix_web::http::Method as M;
    config
        .service(endpoint("/identify/upload").on(M::POST, upload).build())
        .service(endpoint("/jobs").on(M::GET, list).build())
        .service(
            endpoint("/jobs/{job_id}")
                .on(M::GET, detail)
                .on(M::DELETE, cancel)
                .build(),
        )
        .service(endpoint("/ws/jobs/{job_id}").on(M::GET, websocket).build());
}

// ---------------------------------------------------------------------------------------------
// POST /identify/upload

/// Bytes gathered before one write to disk (memory per upload stays about this size).
const WRITE_CHUNK: usize = 256 * 1024;
/// Largest accepted non-file form field.
const FIELD_LIMIT: usize = 64 * 1024;
/// Most form fields accepted besides the file.
const MAX_FIELDS: usize = 64;
/// Multipart framing and small fields allowed beyond the file cap in `Content-Length`.
const FORM_OVERHEAD: u64 = 1024 * 1024;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::UPLOAD_TOO_LARGE,
        "Upload exceeds configured size limit",
    )
}

fn missing_file() -> ApiError {
    ApiError::validation(vec![ValidationIssue::new(
        "missing",
        &["body", "file"],
        "Field required",
    )])
}

fn multipart_error(error: MultipartError) -> ApiError {
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

/// Form booleans as pydantic reads them; an empty value means "not sent".
fn parse_bool(name: &str, value: &str) -> Result<Option<bool>, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Some(true)),
        "0" | "off" | "f" | "false" | "n" | "no" => Ok(Some(false)),
        _ => Err(ApiError::validation(vec![ValidationIssue::new(
            "bool_parsing",
            &["body", name],
            "Input should be a valid boolean, unable to interpret input",
        )])),
    }
}

fn apply_option(options: &mut IdentifyOptions, name: &str, value: &str) -> Result<(), ApiError> {
    let target = match name {
        "refresh_cache" => &mut options.refresh_cache,
        "metadata_fallback" => &mut options.metadata_fallback,
        "prefer_audd" => &mut options.prefer_audd,
        "force_audd_enterprise" => &mut options.force_audd_enterprise,
        "enable_audd" => {
            options.enable_audd = parse_bool(name, value)?;
            return Ok(());
        }
        // Unknown fields (the dashboard's `locale`, framework keys) are ignored.
        _ => return Ok(()),
    };
    if let Some(flag) = parse_bool(name, value)? {
        *target = flag;
    }
    Ok(())
}

async fn read_small_field(field: &mut Field) -> Result<String, ApiError> {
    let mut data = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        if data.len() + chunk.len() > FIELD_LIMIT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::FIELD_TOO_LARGE,
                "Form field too large",
            ));
        }
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
async fn save_file(
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
        if total > cap {
            return Err(too_large());
        }
        budget.add(chunk.len() as u64)?;
        buffer.extend_from_slice(&chunk);
        if buffer.len() >= WRITE_CHUNK {
            (upload, buffer) = write_blocking(upload, buffer, false, floor.clone()).await?;
        }
    }
    let (upload, _) = write_blocking(upload, buffer, true, floor.clone()).await?;
    Ok(upload)
}

/// The file part: content type, enabled uploads and extension checks (in that order), then
/// the file streamed to `<upload_dir>/<job id><suffix>`.
async fn receive_file(
    state: &AppState,
    field: &mut Field,
    budget: &mut UploadBudget,
) -> Result<(String, PendingUpload), ApiError> {
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
    let Some(cap) = state.settings.max_upload_bytes() else {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::UPLOADS_DISABLED,
            format!(
                "File uploads are disabled (max_upload_mb={})",
                state.settings.max_upload_mb
            ),
        ));
    };
    let filename = field
        .content_disposition()
        .and_then(|disposition| {
            disposition.get_filename().map(str::to_owned).or_else(|| {
                disposition
                    .get_filename_ext()
                    .map(|ext| String::from_utf8_lossy(&ext.value).into_owned())
            })
        })
        .unwrap_or_default();
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

async fn upload(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Headers only: rate limit, credentials, CSRF, then the access pre-check — before any body.
    let principal = extract::principal(&request, &state).await?;
    recozik_auth::check_feature(&principal, Feature::Identify)?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(cap) = state.settings.max_upload_bytes()
        && declared.is_some_and(|length| length > cap.saturating_add(FORM_OVERHEAD))
    {
        return Err(too_large());
    }
    // The per-user and disk limits, still before any of the body is read.
    let mut budget = {
        let (state, user_id) = (state.clone().into_inner(), principal.user_id);
        blocking(move || UploadBudget::admit(&state, user_id, declared)).await?
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
            file = Some(receive_file(&state, &mut field, &mut budget).await?);
        } else {
            fields += 1;
            if fields > MAX_FIELDS {
                return Err(ApiError::bad_request(
                    codes::TOO_MANY_FIELDS,
                    "Too many form fields",
                ));
            }
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
    Ok(HttpResponse::Ok().json(json!({"job_id": job.id, "status": "queued"})))
}

// ---------------------------------------------------------------------------------------------
// GET /jobs, GET /jobs/{id}, DELETE /jobs/{id}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    user_id: Option<String>,
}

fn bound_issue(name: &str, kind: &str, message: &str) -> ApiError {
    ApiError::validation(vec![ValidationIssue::new(kind, &["query", name], message)])
}

async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = extract::principal(&request, &state).await?;
    let ListQuery {
        limit,
        offset,
        user_id,
    } = query.into_inner();
    let limit = limit.unwrap_or(20);
    let offset = offset.unwrap_or(0);
    if limit < 1 {
        return Err(bound_issue(
            "limit",
            "greater_than_equal",
            "Input should be greater than or equal to 1",
        ));
    }
    if limit > 100 {
        return Err(bound_issue(
            "limit",
            "less_than_equal",
            "Input should be less than or equal to 100",
        ));
    }
    if offset < 0 {
        return Err(bound_issue(
            "offset",
            "greater_than_equal",
            "Input should be greater than or equal to 0",
        ));
    }
    let filter = JobFilter::for_principal(&principal, user_id);
    let state = state.into_inner();
    let found = blocking(move || jobs::list(&state, &filter, limit, offset)).await?;
    let body: Vec<_> = found.iter().map(view::job_detail).collect();
    Ok(HttpResponse::Ok().json(body))
}

fn job_not_found() -> ApiError {
    ApiError::not_found(codes::JOB_NOT_FOUND, "Job not found")
}

fn access_denied() -> ApiError {
    ApiError::forbidden(codes::ACCESS_DENIED, "Access denied")
}

/// The job, if `principal` may see it.
async fn accessible_job(
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

async fn detail(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = extract::principal(&request, &state).await?;
    let job = accessible_job(&state, &principal, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view::job_detail(&job)))
}

/// Cancels a queued or running job of the caller (or any job, for an admin): 200 with the
/// cancelled `JobDetail`; 409 when it had already finished.
async fn cancel(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = extract::principal(&request, &state).await?;
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

// ---------------------------------------------------------------------------------------------
// GET /ws/jobs/{job_id}

/// How often the server pings an idle socket.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent for this long (no pong, no frame) is considered gone.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// How long to wait for the `result` event that follows a `completed` status.
const RESULT_WAIT: Duration = Duration::from_secs(5);

fn policy_close(description: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::Policy,
        description: Some(description.to_owned()),
    }
}

/// Whether a cookie-authenticated handshake comes from an allowed page: its `Origin` is one of
/// `cors_origins` or names this server's own host. A handshake without `Origin` comes from a
/// non-browser client (browsers always send it), which cross-site hijacking cannot use.
fn origin_allowed(request: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if state
        .settings
        .cors_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h.trim()))
}

fn internal_close() -> CloseReason {
    CloseReason {
        code: CloseCode::Error,
        description: Some("Internal error".to_owned()),
    }
}

/// Checks the handshake's origin and subscribes to the job, or says how to close. A database
/// that is unavailable right now is the outer error: an HTTP 503 for the handshake.
async fn authorize_socket(
    request: &HttpRequest,
    state: &AppState,
    principal: Principal,
    job_id: String,
) -> Result<Result<(Job, JobSubscription), CloseReason>, ApiError> {
    if principal.is_session() && !origin_allowed(request, state) {
        return Ok(Err(policy_close("Origin not allowed")));
    }
    let queue = state.storage.queue.clone();
    Ok(match blocking(move || queue.subscribe(&job_id)).await {
        Ok(Some((job, subscription))) if jobs::can_access(&principal, &job) => {
            Ok((job, subscription))
        }
        Ok(Some(_)) => Err(policy_close("Access denied")),
        Ok(None) => Err(policy_close("Job not found")),
        Err(error) if error.status_code() == StatusCode::SERVICE_UNAVAILABLE => {
            return Err(error);
        }
        Err(_) => Err(internal_close()),
    })
}

fn too_many_websockets(state: &AppState) -> ApiError {
    ApiError::too_many_requests(
        codes::TOO_MANY_WEBSOCKETS,
        format!(
            "Too many open job WebSockets: at most {} per user",
            state.settings.max_websockets_per_user
        ),
        5,
    )
}

async fn websocket(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The same front door as HTTP requests: the API rate limit, then the credentials through
    // the token memo. Over the limit, too many open sockets or an unavailable database are
    // HTTP answers to the handshake (429, 503 with `Retry-After`): the upgrade only happens
    // when the 101 response below is returned.
    extract::rate_limit(&request, &state, LimitClass::Api)?;
    let (response, session, messages) = actix_ws::handle(&request, body).map_err(|_| {
        ApiError::bad_request(
            codes::WEBSOCKET_REQUIRED,
            "Expected a WebSocket upgrade request",
        )
    })?;
    let (authorized, slot) = match extract::resolve(&request, &state).await {
        Ok(principal) => {
            let slot = SocketSlot::take(&state, principal.user_id)
                .ok_or_else(|| too_many_websockets(&state))?;
            let authorized =
                authorize_socket(&request, &state, principal, path.into_inner()).await?;
            (authorized, Some(slot))
        }
        Err(error) if error.status_code() == StatusCode::SERVICE_UNAVAILABLE => {
            return Err(error);
        }
        Err(error) if error.status_code().is_server_error() => (Err(internal_close()), None),
        Err(error) => (
            Err(policy_close(
                error.detail_text().unwrap_or("Not authenticated"),
            )),
            None,
        ),
    };
    // Denials are sent as close frames (1008), which needs the upgrade to have happened.
    match authorized {
        Ok((job, subscription)) => {
            actix_web::rt::spawn(async move {
                // The slot is held for as long as the socket is followed.
                let _slot = slot;
                follow_job(session, messages, job, subscription).await;
            });
        }
        Err(reason) => {
            actix_web::rt::spawn(async move {
                let _ = session.close(Some(reason)).await;
            });
        }
    }
    Ok(response)
}

async fn close(session: Session, code: CloseCode) {
    let _ = session
        .close(Some(CloseReason {
            code,
            description: None,
        }))
        .await;
}

/// Sends the snapshot, then every later event; closes with 1000 after the terminal events.
/// Answers pings, pings the client and drops the socket when the client goes away.
async fn follow_job(
    mut session: Session,
    mut messages: MessageStream,
    job: Job,
    mut events: JobSubscription,
) {
    if session
        .text(view::snapshot_frame(&job).to_string())
        .await
        .is_err()
    {
        return;
    }
    if job.status.is_terminal() {
        return close(session, CloseCode::Normal).await;
    }
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut result_deadline: Option<tokio::time::Instant> = None;
    loop {
        let result_wait = async {
            match result_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.next() => {
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::warn!(%error, "job event stream failed");
                        return close(session, CloseCode::Error).await;
                    }
                };
                if session.text(view::event_frame(&event).to_string()).await.is_err() {
                    return;
                }
                match &event.data {
                    JobEventData::Status { status: JobStatus::Completed, .. } => {
                        result_deadline = Some(tokio::time::Instant::now() + RESULT_WAIT);
                    }
                    JobEventData::Status { status, .. } if status.is_terminal() => {
                        return close(session, CloseCode::Normal).await;
                    }
                    JobEventData::Result { .. } => return close(session, CloseCode::Normal).await,
                    _ => {}
                }
            }
            () = result_wait => return close(session, CloseCode::Normal).await,
            message = messages.recv() => match message {
                Some(Ok(Message::Ping(bytes))) => {
                    last_heard = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(reason))) => {
                    let _ = session.close(reason).await;
                    return;
                }
                Some(Ok(_)) => last_heard = Instant::now(),
                Some(Err(_)) | None => return,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    tracing::debug!("WebSocket client stopped answering; closing");
                    return close(session, CloseCode::Away).await;
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    }
}
