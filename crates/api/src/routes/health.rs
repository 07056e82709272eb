//! `GET /health`, and the `{"status": "ok"}` body several routes answer.

use actix_web::HttpResponse;
use serde::Serialize;

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StatusOk {
    #[schema(example = "ok")]
    status: &'static str,
}

impl StatusOk {
    pub(crate) const OK: Self = Self { status: "ok" };

    /// A 200 with this body.
    pub(crate) fn response() -> HttpResponse {
        HttpResponse::Ok().json(Self::OK)
    }
}

/// Liveness
///
/// Answers while the process serves HTTP; no authentication.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "Alive", body = StatusOk)))]
pub async fn health() -> HttpResponse {
    StatusOk::response()
}
