//! `/admin/users/*`: user administration, for admins (session or API token).

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{Auth, RawQuotaLimits, UserPatch};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::blocking;
use crate::extractors::{Paging, UserAdmin};
use crate::state::AppState;

/// Runs `work` with the auth service on a blocking thread, for the admin `_admin` proves the
/// caller is.
async fn as_admin<T: Send + 'static>(
    request: &HttpRequest,
    state: &AppState,
    _admin: UserAdmin,
    work: impl FnOnce(Auth) -> recozik_auth::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
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

/// `GET /admin/users` pages: 100 by default, at most 500 (upstream accepted anything, and
/// negative values meant "all").
pub type UserPaging = Paging<100, 500>;

/// `GET /admin/users?limit=&offset=`
pub async fn list(
    state: web::Data<AppState>,
    paging: UserPaging,
    _admin: UserAdmin,
) -> Result<HttpResponse, ApiError> {
    let page = paging.page()?;
    let auth = state.auth.clone();
    let users = blocking(move || auth.list_users(page.limit, page.offset)).await?;
    Ok(HttpResponse::Ok().json(users))
}

/// `GET /admin/users/{user_id}`
pub async fn get(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    admin: UserAdmin,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let user = as_admin(&request, &state, admin, move |auth| auth.get_user(user_id)).await?;
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
    // After the body (see `crate::extractors`): upstream parses it before authenticating.
    let admin = UserAdmin::extract(&request).await?;
    let user = as_admin(&request, &state, admin, move |auth| {
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
    admin: UserAdmin,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    as_admin(&request, &state, admin, move |auth| {
        auth.delete_user(user_id)
    })
    .await?;
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
    let admin = UserAdmin::extract(&request).await?;
    as_admin(&request, &state, admin, move |auth| {
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
    admin: UserAdmin,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let sessions = as_admin(&request, &state, admin, move |auth| {
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
    admin: UserAdmin,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    as_admin(&request, &state, admin, move |auth| {
        auth.get_user(user_id)?;
        auth.revoke_user_sessions(user_id)
    })
    .await?;
    Ok(ok_status())
}
