use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct WhoAmI {
    /// The username (upstream's field name).
    user_id: String,
    display_name: Option<String>,
    email: String,
    roles: Vec<String>,
    /// Sorted feature names; empty means every feature.
    allowed_features: Vec<&'static str>,
}

/// `GET /whoami`
pub async fn whoami(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = extract::principal(&request, &state).await?;
    Ok(HttpResponse::Ok().json(WhoAmI {
        allowed_features: principal.allowed_feature_names(),
        user_id: principal.username,
        display_name: principal.display_name,
        email: principal.email,
        roles: principal.roles,
    }))
}
