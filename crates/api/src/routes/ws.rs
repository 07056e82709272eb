//! The job WebSocket: `GET /ws/jobs/{job_id}` sends the job's snapshot, then its events, and
//! closes after the terminal ones. Refusals after the upgrade are close frames whose text comes
//! from the same [`ApiError`] the HTTP routes would answer.

use std::time::{Duration, Instant};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use recozik_auth::{LimitClass, Principal};
use recozik_storage::{Job, JobEventData, JobStatus, JobSubscription};

use super::jobs::{access_denied, job_not_found};
use crate::codes;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, blocking};
use crate::jobs::sockets::SocketSlot;
use crate::jobs::{self, view};
use crate::state::AppState;

/// How often the server pings an idle socket.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent for this long (no pong, no frame) is considered gone.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// How long to wait for the `result` event that follows a `completed` status.
const RESULT_WAIT: Duration = Duration::from_secs(5);

/// The close frame of a refusal: 1011 with the generic text for a failure of this server,
/// else 1008 (policy violation) with the error's client text.
fn close_reason(error: &ApiError) -> CloseReason {
    let server = error.status_code().is_server_error();
    CloseReason {
        code: if server {
            CloseCode::Error
        } else {
            CloseCode::Policy
        },
        description: Some(
            error
                .detail_text()
                .unwrap_or("Not authenticated")
                .to_owned(),
        ),
    }
}

/// Whether a cookie-authenticated handshake comes from an allowed page (the rule is
/// [`recozik_auth::principal::websocket_origin_allowed`]).
fn origin_allowed(request: &HttpRequest, state: &AppState) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    recozik_auth::principal::websocket_origin_allowed(
        request
            .headers()
            .get(header::ORIGIN)
            .map(header::HeaderValue::as_bytes),
        host,
        &state.settings.cors_origins,
    )
}

/// Checks the handshake's origin and subscribes to the job, or says why not. A database that
/// is unavailable right now is the outer error: an HTTP 503 for the handshake.
async fn authorize_socket(
    request: &HttpRequest,
    state: &AppState,
    principal: Principal,
    job_id: String,
) -> Result<Result<(Job, JobSubscription), ApiError>, ApiError> {
    if principal.is_session() && !origin_allowed(request, state) {
        return Ok(Err(ApiError::forbidden(
            codes::ACCESS_DENIED,
            "Origin not allowed",
        )));
    }
    let queue = state.storage.queue.clone();
    Ok(match blocking(move || queue.subscribe(&job_id)).await {
        Ok(Some((job, subscription))) if jobs::can_access(&principal, &job) => {
            Ok((job, subscription))
        }
        Ok(Some(_)) => Err(access_denied()),
        Ok(None) => Err(job_not_found()),
        Err(error) if error.status_code() == StatusCode::SERVICE_UNAVAILABLE => {
            return Err(error);
        }
        Err(error) => Err(error),
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

/// Follow a job over a WebSocket
///
/// Frames: a `snapshot` of the job, then its `status`, `message` and `result` events; the
/// server closes with 1000 after the terminal events. Authentication: the `X-API-Token`
/// header, else the session cookie (then the page's `Origin` must be allowed). A refusal after
/// the upgrade closes with 1008 and the reason as text (1011 for a failure of the server).
#[utoipa::path(get, path = "/ws/jobs/{job_id}", operation_id = "follow_job", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses(
        (status = 101, description = "Switching protocols: the WebSocket is open"),
        (status = 429, description = "Too many open WebSockets for this user, or rate limited", body = ErrorBody),
        (status = 503, description = "Temporarily unable to read the job; see `Retry-After`", body = ErrorBody)))]
pub async fn websocket(
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
        Err(error) => (Err(error), None),
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
        Err(error) => {
            let reason = close_reason(&error);
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
