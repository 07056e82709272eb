//! `/admin/tokens`: API token administration (admin sessions or admin tokens).

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use recozik_auth::{NewTokenRequest, RawQuotaLimits, TokenInfo};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::blocking;
use crate::extractors::Admin;
use crate::state::AppState;

/// The upstream `TokenResponse`, plus the public id (for revocation) and the timestamps.
#[derive(Debug, Serialize)]
struct TokenResponse {
    /// The raw value, only in the creation response.
    token: Option<String>,
    id: String,
    token_hint: String,
    user_id: i64,
    display_name: String,
    roles: Vec<String>,
    /// Empty means every feature.
    allowed_features: Vec<String>,
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

/// `GET /admin/tokens`
pub async fn list(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let tokens = blocking(move || auth.list_tokens()).await?;
    let body: Vec<TokenResponse> = tokens
        .into_iter()
        .map(|info| TokenResponse::new(info, None))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    token: Option<String>,
    user_id: i64,
    display_name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    allowed_features: Vec<String>,
    #[serde(default)]
    quota_limits: RawQuotaLimits,
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /admin/tokens` (CSRF applies to cookie sessions, like every unsafe method).
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

/// `DELETE /admin/tokens/{token_id}`: revokes a token by its public id.
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
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}
