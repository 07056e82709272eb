//! `/admin/users/*`: user administration, for admins (session or API token).

use actix_web::{HttpRequest, HttpResponse, web};
use recozik_auth::{Auth, AuthError, RawQuotaLimits, UserPatch};
use serde::Deserialize;

use crate::error::{ApiError, ValidationIssue};
use crate::extract::{self, blocking};
use crate::state::AppState;

/// Checks that the caller is an admin, by session (CSRF included on unsafe methods) or by API
/// token (upstream accepted sessions only).
pub async fn require_admin(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let principal = extract::principal(request, state).await?;
    if principal.is_admin() {
        Ok(())
    } else {
        Err(AuthError::AdminRequired.into())
    }
}

/// Checks for an admin, then runs `work` with the auth service on a blocking thread.
async fn as_admin<T: Send + 'static>(
    request: &HttpRequest,
    state: &AppState,
    work: impl FnOnce(Auth) -> recozik_auth::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    require_admin(request, state).await?;
    let auth = state.auth.clone();
    let outcome = blocking(move || work(auth)).await?;
    if request.method() != actix_web::http::Method::GET {
        // Users changed: memoised token principals may be stale.
        state.token_cache.clear();
    }
    Ok(outcome)
}

fn ok_status() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
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
    require_admin(&request, &state).await?;
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
    let user_id = path.into_inner();
    let user = as_admin(&request, &state, move |auth| auth.get_user(user_id)).await?;
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
    let body = body.into_inner();
    let patch = UserPatch {
        email: body.email,
        display_name: body.display_name,
        is_active: body.is_active,
        roles: body.roles,
        allowed_features: body.allowed_features,
        quota_limits: body.quota_limits,
    };
    let user_id = path.into_inner();
    let user = as_admin(&request, &state, move |auth| {
        auth.update_user(user_id, &patch)
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

/// `DELETE /admin/users/{user_id}`: the user's sessions, tokens and quota usage go too.
pub async fn delete(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    as_admin(&request, &state, move |auth| auth.delete_user(user_id)).await?;
    Ok(ok_status())
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
    let user_id = path.into_inner();
    let password = body.into_inner().new_password;
    as_admin(&request, &state, move |auth| {
        auth.reset_password(user_id, &password)
    })
    .await?;
    Ok(ok_status())
}

/// `GET /admin/users/{user_id}/sessions`: sessions whose refresh has not expired.
pub async fn sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let sessions = as_admin(&request, &state, move |auth| {
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
    let user_id = path.into_inner();
    as_admin(&request, &state, move |auth| {
        auth.get_user(user_id)?;
        auth.revoke_user_sessions(user_id)
    })
    .await?;
    Ok(ok_status())
}
