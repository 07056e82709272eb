//! `/auth/*`: login, refresh, logout, register (admin), change-password.

use actix_web::cookie::{Cookie, SameSite as CookieSameSite, time};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use recozik_auth::principal::clear_cookies;
use recozik_auth::{
    CookieSpec, IssuedSession, LimitClass, NewUserRequest, RawQuotaLimits, SameSite,
};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{self, Credentials, blocking};
use crate::extractors::{SessionUser, UserAdmin};
use crate::state::{AppState, auth_settings};

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

fn ok_status() -> serde_json::Value {
    serde_json::json!({"status": "ok"})
}

fn session_response(state: &AppState, issued: &IssuedSession) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    with_cookies(
        &mut builder,
        &issued.cookies(&auth_settings(&state.settings)),
    );
    builder.json(issued.response())
}

#[derive(Debug, Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    remember: bool,
}

/// `POST /auth/login`
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

/// `POST /auth/refresh`
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

/// `POST /auth/logout` (CSRF required, even when not logged in).
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
    Ok(builder.json(ok_status()))
}

#[derive(Debug, Deserialize)]
pub struct RegisterBody {
    username: String,
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    password: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    allowed_features: Vec<String>,
    #[serde(default)]
    quota_limits: RawQuotaLimits,
}

/// `POST /auth/register`: an admin (session with CSRF, or admin API token) creates a user.
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
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "id": created.id})))
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordBody {
    old_password: String,
    new_password: String,
}

/// `POST /auth/change-password`: every session of the user ends (cookies cleared).
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
    Ok(builder.json(ok_status()))
}
