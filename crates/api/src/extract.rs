//! Reading credentials from requests and resolving principals (the auth rules themselves live in
//! `recozik_auth`).

use std::net::IpAddr;

use actix_web::{HttpRequest, web};
use recozik_auth::principal::{
    API_TOKEN_HEADER, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE, SESSION_COOKIE,
};
use recozik_auth::{CredentialSource, LimitClass, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// The credential-bearing parts of a request, owned so they can cross to a blocking thread.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub method: String,
    pub session_cookie: Option<String>,
    pub refresh_cookie: Option<String>,
    pub api_token: Option<String>,
    pub csrf_cookie: Option<String>,
    pub csrf_header: Option<String>,
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn cookie(request: &HttpRequest, name: &str) -> Option<String> {
    request.cookie(name).map(|c| c.value().to_owned())
}

impl Credentials {
    pub fn of(request: &HttpRequest) -> Self {
        Self {
            method: request.method().as_str().to_owned(),
            session_cookie: cookie(request, SESSION_COOKIE),
            refresh_cookie: cookie(request, REFRESH_COOKIE),
            api_token: header(request, API_TOKEN_HEADER),
            csrf_cookie: cookie(request, CSRF_COOKIE),
            csrf_header: header(request, CSRF_HEADER),
        }
    }

    pub fn source(&self) -> CredentialSource<'_> {
        CredentialSource {
            method: &self.method,
            session_cookie: self.session_cookie.as_deref(),
            api_token: self.api_token.as_deref(),
            csrf_cookie: self.csrf_cookie.as_deref(),
            csrf_header: self.csrf_header.as_deref(),
        }
    }
}

/// Every line of a header, in the order received. A line that is not visible ASCII is kept as
/// an empty entry, so that it still takes its place in a list (and is never read as an address).
fn header_lines<'r>(request: &'r HttpRequest, name: &str) -> Vec<&'r str> {
    request
        .headers()
        .get_all(name)
        .map(|value| value.to_str().unwrap_or_default())
        .collect()
}

/// The client's address, honouring `X-Forwarded-For` (all its lines) only through the trusted
/// proxies.
pub fn client_ip(request: &HttpRequest, state: &AppState) -> IpAddr {
    let peer = request.peer_addr().map(|address| address.ip());
    recozik_auth::client_ip(
        peer,
        &header_lines(request, "x-forwarded-for"),
        &header_lines(request, "x-real-ip"),
        state.settings.rate_limit_trusted_proxies as usize,
    )
}

/// Counts the request against `class` for this client; 429 with `Retry-After` when over.
pub fn rate_limit(
    request: &HttpRequest,
    state: &AppState,
    class: LimitClass,
) -> Result<(), ApiError> {
    state
        .limiters
        .check(class, client_ip(request, state))
        .map_err(ApiError::from)
}

/// Runs blocking work (database, Argon2) off the async executor.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match web::block(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(error) => Err(ApiError::internal(&error)),
    }
}

/// The principal of an API request (session cookie first, then `X-API-Token`), after the API
/// rate limit; CSRF is enforced for unsafe methods on cookie sessions.
pub async fn principal(request: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    rate_limit(request, state, LimitClass::Api)?;
    resolve(request, state).await
}

/// The principal of a request's credentials, through the token memo (no rate limit: the
/// caller has counted the request already).
pub async fn resolve(request: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    let credentials = Credentials::of(request);
    // Token-only requests may be answered from the short-lived memo (the session cookie, when
    // present, always wins and is always checked).
    let token = match (&credentials.session_cookie, &credentials.api_token) {
        (None, Some(token)) if !token.is_empty() => Some(token.clone()),
        _ => None,
    };
    if let Some(principal) = token.as_deref().and_then(|t| state.token_cache.get(t)) {
        return Ok(principal);
    }
    let auth = state.auth.clone();
    let principal = blocking(move || auth.resolve_principal(&credentials.source())).await?;
    if let Some(token) = token {
        state.token_cache.put(&token, &principal);
    }
    Ok(principal)
}

/// The principal of a session-only route, or `None` (CSRF enforced for unsafe methods).
pub async fn session_principal(
    request: &HttpRequest,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    let credentials = Credentials::of(request);
    let auth = state.auth.clone();
    blocking(move || auth.resolve_session_only(&credentials.source())).await
}
