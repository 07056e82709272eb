use actix_web::HttpResponse;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /health`: liveness, without authentication.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}
