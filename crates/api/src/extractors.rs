//! Actix extractors for the caller and for paging: a handler names what it needs in its
//! signature instead of calling the credential functions of [`crate::extract`].
//!
//! Ordering: actix polls a handler's extractors together, so an extractor that reads the body
//! (`web::Json`) would race the credential check. Upstream parses the body before it
//! authenticates (and a request refused for its body is not counted by the rate limit), so a
//! handler with a JSON body runs its principal extractor after the body, with
//! `Authenticated::extract(&request).await?`. Path and query extractors answer at once: put
//! the principal extractor after them in the signature and their errors still come first.
//! The principal extractors do nothing until first polled.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use recozik_auth::{AuthError, Principal, require_session};
use serde::Deserialize;

use crate::error::{ApiError, ValidationIssue};
use crate::extract;
use crate::state::AppState;

fn app_state(request: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"the application state is not mounted"))
}

/// The principal of an API request: the API rate limit, then the session cookie (CSRF checked
/// on unsafe methods) or `X-API-Token` (through the token memo).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = app_state(&request)?;
            extract::principal(&request, &state).await.map(Self)
        })
    }
}

/// An admin principal for `/admin/tokens` (session or API token); else 403 `admin_only`.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        authenticated_then(request, payload, |principal| {
            recozik_auth::require_admin(&principal).map(|()| Self(principal))
        })
    }
}

/// An [`Authenticated`] principal that must also pass `check` (auth's admin rules).
fn authenticated_then<T: 'static>(
    request: &HttpRequest,
    payload: &mut Payload,
    check: fn(Principal) -> Result<T, AuthError>,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let authenticated = Authenticated::from_request(request, payload);
    Box::pin(async move {
        let Authenticated(principal) = authenticated.await?;
        Ok(check(principal)?)
    })
}

/// An admin principal for `/admin/users` and register (session or API token; upstream accepted
/// sessions only, hence its own refusal); else 403 `admin_required`.
#[derive(Debug, Clone)]
pub struct UserAdmin(pub Principal);

impl FromRequest for UserAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        authenticated_then(request, payload, |principal| {
            recozik_auth::require_session_admin(Some(principal)).map(Self)
        })
    }
}

/// The principal of a session-only route (CSRF checked on unsafe methods; no rate limit: each
/// such route counts its own class first); else 401 `auth_required`.
#[derive(Debug, Clone)]
pub struct SessionUser(pub Principal);

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = app_state(&request)?;
            let principal = extract::session_principal(&request, &state).await?;
            Ok(Self(require_session(principal)?))
        })
    }
}

#[derive(Debug, Deserialize)]
struct RawPaging {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `?limit=&offset=` of a list route: `limit` defaults to `DEFAULT` and lies in `1..=MAX`,
/// `offset` defaults to 0 and is at least 0.
///
/// The extractor only parses (a value that is not an integer is a 422 at once, like any query
/// error); the bounds are checked by [`Paging::page`], after the caller is authenticated,
/// which is the order upstream answers in (dependencies, then field validation).
#[derive(Debug, Clone, Copy)]
pub struct Paging<const DEFAULT: i64, const MAX: i64> {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A checked page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl<const DEFAULT: i64, const MAX: i64> Paging<DEFAULT, MAX> {
    /// The page, or a 422 listing every bound that fails.
    pub fn page(self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT);
        let offset = self.offset.unwrap_or(0);
        let mut issues = Vec::new();
        if limit < 1 {
            issues.push(bound(
                "limit",
                "greater_than_equal",
                "greater than or equal to",
                1,
            ));
        } else if limit > MAX {
            issues.push(bound(
                "limit",
                "less_than_equal",
                "less than or equal to",
                MAX,
            ));
        }
        if offset < 0 {
            issues.push(bound(
                "offset",
                "greater_than_equal",
                "greater than or equal to",
                0,
            ));
        }
        if issues.is_empty() {
            Ok(Page { limit, offset })
        } else {
            Err(ApiError::validation(issues))
        }
    }
}

/// A query bound in pydantic's words (what a FastAPI `Query(ge=…, le=…)` answers).
fn bound(name: &str, kind: &str, relation: &str, value: i64) -> ValidationIssue {
    ValidationIssue::new(
        kind,
        &["query", name],
        format!("Input should be {relation} {value}"),
    )
}

impl<const DEFAULT: i64, const MAX: i64> FromRequest for Paging<DEFAULT, MAX> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Through `web::Query`, so that a parse error has the app's query error shape.
        let raw = web::Query::<RawPaging>::from_request(request, payload).into_inner();
        std::future::ready(raw.map(|query| Self {
            limit: query.limit,
            offset: query.offset,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(limit: Option<i64>, offset: Option<i64>) -> Paging<20, 100> {
        Paging { limit, offset }
    }

    #[test]
    fn pages_default_and_stay_in_bounds() {
        assert_eq!(
            paging(None, None).page().ok(),
            Some(Page {
                limit: 20,
                offset: 0
            })
        );
        assert!(paging(Some(100), Some(5)).page().is_ok());
        for (limit, offset) in [(Some(0), None), (Some(101), None), (None, Some(-1))] {
            let error = paging(limit, offset).page().err();
            assert_eq!(
                error.map(|e| e.code()),
                Some(crate::codes::VALIDATION_ERROR)
            );
        }
    }
}
