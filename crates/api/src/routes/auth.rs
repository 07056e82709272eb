//! `/auth/*`: login, refresh, logout, register (admin), change-password.

use actix_web::cookie::{Cookie, SameSite as CookieSameSite, time};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use recozik_auth::LoginResponse;
use recozik_auth::principal::clear_cookies;
use recozik_auth::{
    CookieSpec, IssuedSession, LimitClass, NewUserRequest, RawQuotaLimits, SameSite,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, Credentials, blocking};
use crate::extractors::{SessionUser, UserAdmin};
use crate::routes::health::StatusOk;
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

pub fn to_cookie(spec: &CookieSpec) -> Cookie<'static> {
    let mut cookie = Cookie::build(spec.name, spec.value.clone())
        .path(spec.path)
        .http_only(spec.http_only)
        .secure(spec.secure)
        .same_site(match spec.same_site {
            SameSite::Strict => CookieSameSite::Strict,
            SameSite::Lax => CookieSameSite::Lax,
        })
        .max_age(time::Duration::seconds(spec.max_age_secs))
        .finish();
    if let Ok(expires) = time::OffsetDateTime::from_unix_timestamp(spec.expires.timestamp()) {
        cookie.set_expires(expires);
    }
    cookie
}

fn with_cookies<'a>(
    builder: &mut HttpResponseBuilder,
    specs: impl IntoIterator<Item = &'a CookieSpec>,
) {
    for spec in specs {
        builder.cookie(to_cookie(spec));
    }
}

fn session_response(state: &AppState, issued: &IssuedSession) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    with_cookies(
        &mut builder,
        &issued.cookies(&state.settings.auth_settings()),
    );
    builder.json(issued.response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    username: String,
    password: String,
    /// Keep the refresh cookie for the long ("remember me") lifetime.
    #[serde(default)]
    remember: bool,
}

/// Log in
///
/// Sets the session, refresh and CSRF cookies.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in; the cookies are set", body = LoginResponse),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 403, description = "The user is disabled", body = ErrorBody),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = ErrorBody),
        Invalid))]
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    extract::rate_limit(&request, &state, LimitClass::Login)?;
    let auth = state.auth.clone();
    let body = body.into_inner();
    let issued =
        blocking(move || auth.login(&body.username, &body.password, body.remember)).await?;
    Ok(session_response(&state, &issued))
}

/// Rotate the session
///
/// Reads the refresh cookie (and the CSRF header); sets new cookies. A refresh cookie used
/// twice ends its whole session family.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    security(("session" = [])),
    responses(
        (status = 200, description = "Refreshed; new cookies are set", body = LoginResponse),
        GuardErrors))]
pub async fn refresh(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    extract::rate_limit(&request, &state, LimitClass::Refresh)?;
    let credentials = Credentials::of(&request);
    credentials.source().check_csrf()?;
    let auth = state.auth.clone();
    let issued = blocking(move || auth.refresh(credentials.refresh_cookie.as_deref())).await?;
    Ok(session_response(&state, &issued))
}

/// Log out
///
/// Ends the session and clears the cookies; the CSRF header is required even when the session
/// has already expired.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    security(("session" = [])),
    responses(
        (status = 200, description = "Logged out", body = StatusOk),
        (status = 403, description = "The CSRF header does not match", body = ErrorBody)))]
pub async fn logout(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let credentials = Credentials::of(&request);
    credentials.source().check_csrf()?;
    let auth = state.auth.clone();
    blocking(move || {
        auth.logout(
            credentials.session_cookie.as_deref(),
            credentials.refresh_cookie.as_deref(),
        )
    })
    .await?;
    let mut builder = HttpResponse::Ok();
    with_cookies(&mut builder, &clear_cookies(chrono::Utc::now()));
    Ok(builder.json(StatusOk::OK))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    username: String,
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    password: String,
    /// Default: `readonly`.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// Empty means every feature.
    #[serde(default)]
    allowed_features: Vec<String>,
    /// Per-scope limits; `null` means unlimited.
    #[serde(default)]
    #[schema(inline)]
    quota_limits: RawQuotaLimits,
}

/// The answer of `POST /auth/register`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Registered {
    #[schema(example = "ok")]
    status: &'static str,
    /// The new user's id.
    id: i64,
}

/// Create a user
///
/// For admins (a session with the CSRF header, or an admin API token).
#[utoipa::path(post, path = "/auth/register", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    request_body = RegisterBody,
    responses(
        (status = 200, description = "Created", body = Registered),
        (status = 400, description = "Invalid or already taken username, e-mail, password, role, feature or quota", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn register(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    // The body, then this route's own limit, then the admin (with the API limit), in that
    // order: hence no extractor in the signature (see `crate::extractors`).
    extract::rate_limit(&request, &state, LimitClass::Register)?;
    UserAdmin::extract(&request).await?;
    let body = body.into_inner();
    let new_user = NewUserRequest {
        username: body.username,
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        roles: body.roles,
        allowed_features: body.allowed_features,
        quota_limits: body.quota_limits,
    };
    let auth = state.auth.clone();
    let created = blocking(move || auth.register(&new_user)).await?;
    // Upstream answered `{"status":"ok"}`; the new id is added for clients that need it.
    Ok(HttpResponse::Ok().json(Registered {
        status: "ok",
        id: created.id,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordBody {
    old_password: String,
    new_password: String,
}

/// Change one's password
///
/// Session cookie only; every session of the user ends and the cookies are cleared.
#[utoipa::path(post, path = "/auth/change-password", tag = "auth",
    security(("session" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 200, description = "Changed", body = StatusOk),
        (status = 400, description = "The new password is too weak (a wrong current password is a 401)", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn change_password(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    extract::rate_limit(&request, &state, LimitClass::ChangePassword)?;
    let SessionUser(principal) = SessionUser::extract(&request).await?;
    let auth = state.auth.clone();
    let body = body.into_inner();
    blocking(move || {
        auth.change_password(principal.user_id, &body.old_password, &body.new_password)
    })
    .await?;
    let mut builder = HttpResponse::Ok();
    with_cookies(&mut builder, &clear_cookies(chrono::Utc::now()));
    Ok(builder.json(StatusOk::OK))
}
