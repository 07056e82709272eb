//! `POST /identify/from-path`: identify a file under the media root, synchronously.

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{Feature, check_feature};
use recozik_core::identify::NoProgress;
use recozik_core::media::{check_extension, resolve_under_root};
use serde::Deserialize;

use crate::error::{ApiError, ErrorBody};
use crate::extract;
use crate::extractors::Authenticated;
use crate::pipeline::{IdentifyOptions, build_request, identify_as};
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;
use recozik_core::identify::IdentifyResult;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FromPathBody {
    /// Relative to the media root.
    audio_path: String,
    #[serde(flatten)]
    options: IdentifyOptions,
}

/// Files under the media root that are the server's own and never served.
fn reserved_paths(state: &AppState) -> Vec<std::path::PathBuf> {
    let settings = &state.settings;
    vec![
        settings.base_media_root.join(&settings.auth_db_filename),
        settings.base_media_root.join(&settings.jobs_db_filename),
        settings.upload_dir(),
    ]
}

/// Identify a file under the media root
///
/// Synchronous: the answer is the identification. Needs the `identify` feature.
#[utoipa::path(post, path = "/identify/from-path", operation_id = "identify_from_path", tag = "identify",
    security(("apiToken" = []), ("session" = [])),
    request_body = FromPathBody,
    responses(
        (status = 200, description = "The identification", body = IdentifyResult),
        (status = 400, description = "Bad path or extension, unreadable audio, or an upstream failure", body = ErrorBody),
        (status = 404, description = "Audio file not found", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn from_path(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<FromPathBody>,
) -> Result<HttpResponse, ApiError> {
    // After the body (see `crate::extractors`): upstream parses it before authenticating.
    let Authenticated(principal) = Authenticated::extract(&request).await?;
    // Permission first, so that a caller without it cannot probe which files exist.
    check_feature(&principal, Feature::Identify)?;
    let body = body.into_inner();
    body.options.validate()?;
    let root = state.settings.base_media_root.clone();
    let reserved = reserved_paths(&state);
    let path =
        extract::blocking(move || resolve_under_root(&root, &body.audio_path, &reserved)).await?;
    check_extension(
        &path.to_string_lossy(),
        &state.settings.allowed_upload_extensions,
    )?;
    let identify_request = build_request(&state.settings, path, &body.options);
    let result = identify_as(&state, principal, &identify_request, &NoProgress).await?;
    Ok(HttpResponse::Ok().json(result))
}
