//! `/admin/tokens`: API token administration (admin sessions or admin tokens).

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{NewTokenRequest, RawQuotaLimits, TokenInfo};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorBody};
use crate::extract::blocking;
use crate::extractors::Admin;
use crate::routes::health::StatusOk;
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

/// The upstream `TokenResponse`, plus the public id (for revocation) and the timestamps.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    /// The raw value, only in the creation response.
    token: Option<String>,
    id: String,
    token_hint: String,
    user_id: i64,
    display_name: String,
    roles: Vec<String>,
    /// Empty means every feature.
    allowed_features: Vec<String>,
    #[schema(inline)]
    quota_limits: RawQuotaLimits,
    created_at: chrono::DateTime<chrono::Utc>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TokenResponse {
    fn new(info: TokenInfo, token: Option<String>) -> Self {
        Self {
            token,
            id: info.id,
            token_hint: info.token_hint,
            user_id: info.user_id,
            display_name: info.display_name,
            roles: info.roles,
            allowed_features: info.allowed_features,
            quota_limits: info.quota_limits,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
            expires_at: info.expires_at,
        }
    }
}

/// List API tokens
///
/// Their raw values are never shown again after creation.
#[utoipa::path(get, path = "/admin/tokens", operation_id = "list_tokens", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    responses((status = 200, description = "Tokens", body = Vec<TokenResponse>), GuardErrors))]
pub async fn list(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let tokens = blocking(move || auth.list_tokens()).await?;
    let body: Vec<TokenResponse> = tokens
        .into_iter()
        .map(|info| TokenResponse::new(info, None))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    /// A chosen raw value; by default a random one is generated.
    #[serde(default)]
    token: Option<String>,
    user_id: i64,
    display_name: String,
    #[serde(default)]
    roles: Vec<String>,
    /// Empty means every feature the user has.
    #[serde(default)]
    allowed_features: Vec<String>,
    /// Per-scope limits; `null` means unlimited.
    #[serde(default)]
    #[schema(inline)]
    quota_limits: RawQuotaLimits,
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Create an API token
///
/// The answer is the only time its raw value is shown.
#[utoipa::path(post, path = "/admin/tokens", operation_id = "create_token", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    request_body = CreateBody,
    responses(
        (status = 200, description = "Created; `token` holds the raw value", body = TokenResponse),
        (status = 400, description = "Invalid role, feature, quota, expiry or value", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn create(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    // After the body (see `crate::extractors`): upstream parses it before authenticating.
    Admin::extract(&request).await?;
    let body = body.into_inner();
    let new_token = NewTokenRequest {
        token: body.token,
        user_id: body.user_id,
        display_name: body.display_name,
        roles: body.roles,
        allowed_features: body.allowed_features,
        quota_limits: body.quota_limits,
        expires_at: body.expires_at,
    };
    let auth = state.auth.clone();
    let created = blocking(move || auth.create_token(&new_token)).await?;
    state.token_cache.clear();
    Ok(HttpResponse::Ok().json(TokenResponse::new(created.info, Some(created.token))))
}

/// Revoke an API token
///
/// By its public id; it stops working at once.
#[utoipa::path(delete, path = "/admin/tokens/{token_id}", operation_id = "revoke_token", tag = "admin",
    security(("apiToken" = []), ("session" = [])),
    params(("token_id" = String, Path, description = "The token's public id")),
    responses(
        (status = 200, description = "Revoked", body = StatusOk),
        (status = 404, description = "No such token", body = ErrorBody),
        GuardErrors))]
pub async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token_id = path.into_inner();
    blocking(move || auth.revoke_token(&token_id)).await?;
    // The revoked token must stop working at once on this instance.
    state.token_cache.clear();
    Ok(StatusOk::response())
}
