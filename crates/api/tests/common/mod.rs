//! A Recozik app in process, on a temporary media root, for the HTTP tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, test, web};
use recozik_api::settings::Settings;
use recozik_api::{AppState, error, middleware, mount};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
pub const ADMIN_PASSWORD: &str = "DevPassword1!";

pub struct TestApp {
    pub state: AppState,
    pub media: tempfile::TempDir,
}

/// Settings for a test: temporary media root, MusicBrainz and AudD off, cache off.
pub fn settings(media: &std::path::Path) -> Settings {
    Settings {
        base_media_root: media.to_path_buf(),
        admin_token: ADMIN_TOKEN.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        acoustid_api_key: "api-key".to_owned(),
        musicbrainz_enabled: false,
        cache_enabled: false,
        ..Settings::default()
    }
}

pub fn start_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let media = tempfile::tempdir().unwrap();
    let mut settings = settings(media.path());
    configure(&mut settings);
    let state = AppState::build(settings).expect("app state");
    TestApp { state, media }
}

pub fn start() -> TestApp {
    start_with(|_| {})
}

/// The full application as `recozik-web` serves it (headers, mount, 404 handler).
pub async fn service(
    state: &AppState,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let state = state.clone();
    test::init_service(
        App::new()
            .wrap(middleware::security_headers(&state.settings))
            .configure(move |config| mount(config, state.clone()))
            .default_service(web::to(error::not_found)),
    )
    .await
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures")
        .join(name)
}

pub fn peer() -> std::net::SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

/// A request with the admin token and a peer address.
pub fn with_token(request: test::TestRequest, token: &str) -> test::TestRequest {
    request.peer_addr(peer()).insert_header((
        HeaderName::from_static("x-api-token"),
        HeaderValue::from_str(token).unwrap(),
    ))
}

/// Session cookies after a login: (session, refresh, csrf).
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

impl Session {
    /// Adds the cookies, and the CSRF header when `csrf` is true.
    pub fn apply(&self, request: test::TestRequest, csrf: bool) -> test::TestRequest {
        let mut request = request
            .peer_addr(peer())
            .cookie(actix_web::cookie::Cookie::new(
                "recozik_session",
                self.access.clone(),
            ))
            .cookie(actix_web::cookie::Cookie::new(
                "recozik_refresh",
                self.refresh.clone(),
            ))
            .cookie(actix_web::cookie::Cookie::new(
                "recozik_csrf",
                self.csrf.clone(),
            ));
        if csrf {
            request = request.insert_header(("X-CSRF-Token", self.csrf.clone()));
        }
        request
    }
}

pub fn cookie_value(response: &ServiceResponse, name: &str) -> Option<String> {
    response
        .response()
        .cookies()
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

pub async fn login<S>(app: &S, username: &str, password: &str) -> Session
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let response = test::call_service(
        app,
        test::TestRequest::post()
            .uri("/auth/login")
            .peer_addr(peer())
            .set_json(serde_json::json!({"username": username, "password": password}))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200, "login of {username}");
    Session {
        access: cookie_value(&response, "recozik_session").unwrap(),
        refresh: cookie_value(&response, "recozik_refresh").unwrap(),
        csrf: cookie_value(&response, "recozik_csrf").unwrap(),
    }
}

/// Creates a user directly through the auth service; returns its id.
pub fn create_user(state: &AppState, username: &str, roles: &[&str], features: &[&str]) -> i64 {
    state
        .auth
        .register(&recozik_auth::NewUserRequest {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            display_name: Some(format!("{username} display")),
            password: "TestPassword1!".to_owned(),
            roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            quota_limits: recozik_auth::RawQuotaLimits::new(),
        })
        .unwrap()
        .id
}

/// Creates a token for `user_id`; returns the raw value.
pub fn create_token(state: &AppState, user_id: i64, roles: &[&str], features: &[&str]) -> String {
    state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            user_id,
            display_name: "test token".to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..recozik_auth::NewTokenRequest::default()
        })
        .unwrap()
        .token
}
