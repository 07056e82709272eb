//! `/admin/users/*`: user administration, for admin sessions only.

use actix_web::{HttpRequest, HttpResponse, web};
use recozik_auth::{Principal, RawQuotaLimits, UserPatch, require_session_admin};
use serde::Deserialize;

use crate::error::{ApiError, ValidationIssue};
use crate::extract::{self, blocking};
use crate::state::AppState;

async fn admin(request: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    Ok(require_session_admin(
        extract::session_principal(request, state).await?,
    )?)
}

#[derive(Debug, Deserialize)]
pub struct Paging {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Largest page of users (upstream accepted anything, and negative values meant "all").
const MAX_USERS_PAGE: i64 = 500;

/// `GET /admin/users?limit=&offset=`
pub async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let limit = paging.limit.unwrap_or(100);
    let offset = paging.offset.unwrap_or(0);
    let mut issues = Vec::new();
    if !(1..=MAX_USERS_PAGE).contains(&limit) {
        issues.push(ValidationIssue::new(
            "range",
            &["query", "limit"],
            format!("limit must be between 1 and {MAX_USERS_PAGE}"),
        ));
    }
    if offset < 0 {
        issues.push(ValidationIssue::new(
            "greater_than_equal",
            &["query", "offset"],
            "offset must be at least 0",
        ));
    }
    if !issues.is_empty() {
        return Err(ApiError::validation(issues));
    }
    let auth = state.auth.clone();
    let users = blocking(move || auth.list_users(limit, offset)).await?;
    Ok(HttpResponse::Ok().json(users))
}

/// `GET /admin/users/{user_id}`
pub async fn get(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    let user = blocking(move || auth.get_user(user_id)).await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    allowed_features: Option<Vec<String>>,
    #[serde(default)]
    quota_limits: Option<RawQuotaLimits>,
}

/// `PUT /admin/users/{user_id}`: partial update; `null` or absent leaves a field unchanged.
pub async fn update(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let body = body.into_inner();
    let patch = UserPatch {
        email: body.email,
        display_name: body.display_name,
        is_active: body.is_active,
        roles: body.roles,
        allowed_features: body.allowed_features,
        quota_limits: body.quota_limits,
    };
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    let user = blocking(move || auth.update_user(user_id, &patch)).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// `DELETE /admin/users/{user_id}`: the user's sessions, tokens and quota usage go too.
pub async fn delete(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    blocking(move || auth.delete_user(user_id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

#[derive(Debug, Deserialize)]
pub struct ResetBody {
    new_password: String,
}

/// `POST /admin/users/{user_id}/reset-password`: ends every session of that user.
pub async fn reset_password(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    let password = body.into_inner().new_password;
    blocking(move || auth.reset_password(user_id, &password)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

/// `GET /admin/users/{user_id}/sessions`: sessions whose refresh has not expired.
pub async fn sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    let sessions = blocking(move || {
        auth.get_user(user_id)?;
        auth.list_user_sessions(user_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(sessions))
}

/// `DELETE /admin/users/{user_id}/sessions`
pub async fn revoke_sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&request, &state).await?;
    let auth = state.auth.clone();
    let user_id = path.into_inner();
    blocking(move || {
        auth.get_user(user_id)?;
        auth.revoke_user_sessions(user_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}
