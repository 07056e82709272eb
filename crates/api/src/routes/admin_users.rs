//! `/admin/users/*`: user administration, for admins (session or API token).

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{Auth, RawQuotaLimits, SessionInfo, UserInfo, UserPatch};
use serde::Deserialize;

use crate::error::{ApiError, ErrorBody};
use crate::extract::blocking;
use crate::extractors::{Paging, UserAdmin};
use crate::routes::health::StatusOk;
use crate::routes::openapi::{GuardErrors, Invalid};
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

/// `GET /admin/users` pages: 100 by default, at most 500 (upstream accepted anything, and
/// negative values meant "all").
pub type UserPaging = Paging<100, 500>;

/// List users
#[utoipa::path(get, path = "/admin/users", operation_id = "list_users", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(UserPaging),
    responses((status = 200, description = "Users", body = Vec<UserInfo>), GuardErrors, Invalid))]
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

/// A user
#[utoipa::path(get, path = "/admin/users/{user_id}", operation_id = "get_user", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserInfo),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors))]
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

/// Absent or `null` fields are left unchanged.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    #[schema(inline)]
    quota_limits: Option<RawQuotaLimits>,
}

/// Update a user
///
/// A partial update: absent or `null` fields are left unchanged.
#[utoipa::path(put, path = "/admin/users/{user_id}", operation_id = "update_user", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The updated user", body = UserInfo),
        (status = 400, description = "Invalid e-mail, role, feature or quota, or the last active admin would be lost", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors, Invalid))]
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

/// Delete a user
///
/// The user's sessions, tokens and quota usage go too.
#[utoipa::path(delete, path = "/admin/users/{user_id}", operation_id = "delete_user", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Deleted", body = StatusOk),
        (status = 400, description = "The last active admin cannot be deleted", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors))]
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
    Ok(StatusOk::response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetBody {
    new_password: String,
}

/// Set a user's password
///
/// Every session of that user ends.
#[utoipa::path(post, path = "/admin/users/{user_id}/reset-password", operation_id = "reset_user_password", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    request_body = ResetBody,
    responses(
        (status = 200, description = "Done", body = StatusOk),
        (status = 400, description = "The password is too weak", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors, Invalid))]
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
    Ok(StatusOk::response())
}

/// A user's live sessions
///
/// Sessions whose refresh has not expired.
#[utoipa::path(get, path = "/admin/users/{user_id}/sessions", operation_id = "list_user_sessions", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Sessions", body = Vec<SessionInfo>),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors))]
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

/// End every session of a user
#[utoipa::path(delete, path = "/admin/users/{user_id}/sessions", operation_id = "revoke_user_sessions", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = StatusOk),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors))]
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
    Ok(StatusOk::response())
}
