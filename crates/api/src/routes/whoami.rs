//! `GET /whoami`: the caller as the API sees it.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::error::ApiError;
use crate::extractors::Authenticated;
use crate::routes::openapi::GuardErrors;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WhoAmI {
    /// The username (upstream's field name).
    user_id: String,
    display_name: Option<String>,
    email: String,
    roles: Vec<String>,
    /// Sorted feature names; empty means every feature.
    allowed_features: Vec<&'static str>,
}

/// The caller's identity
#[utoipa::path(get, path = "/whoami", tag = "auth",
    security(("apiToken" = []), ("session" = [])),
    responses((status = 200, description = "Identity", body = WhoAmI), GuardErrors))]
pub async fn whoami(Authenticated(principal): Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(WhoAmI {
        allowed_features: principal.allowed_feature_names(),
        user_id: principal.username,
        display_name: principal.display_name,
        email: principal.email,
        roles: principal.roles,
    }))
}
