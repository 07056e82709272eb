//! [`TestApp`]: the application state on a temporary media root, and the application of
//! `recozik-web` ([`recozik_api::app`]) on it as an in-process `actix_web::test` service; the
//! request helpers of that service.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::test;
use futures_util::FutureExt as _;
use futures_util::future::Map;
use recozik_api::{AppState, Settings};

use super::{ADMIN_PASSWORD, ADMIN_TOKEN};

/// Settings of an in-process app: `media_root`, the test admin, MusicBrainz and the cache off,
/// everything else (rate limits included) as shipped.
pub fn app_settings(media_root: &Path) -> Settings {
    Settings {
        base_media_root: media_root.to_path_buf(),
        admin_token: ADMIN_TOKEN.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        acoustid_api_key: "api-key".to_owned(),
        musicbrainz_enabled: false,
        cache_enabled: false,
        ..Settings::default()
    }
}

/// The application state of a test, on its own temporary media root.
pub struct TestApp {
    pub state: AppState,
    pub media: tempfile::TempDir,
}

/// Builds a [`TestApp`]: [`app_settings`] on a new temporary media root, then the changes of
/// [`TestAppBuilder::configure`].
pub struct TestAppBuilder {
    media: tempfile::TempDir,
    settings: Settings,
}

impl TestAppBuilder {
    /// Changes the settings (the calls add up, in order).
    #[must_use]
    pub fn configure(mut self, configure: impl FnOnce(&mut Settings)) -> Self {
        configure(&mut self.settings);
        self
    }

    /// Opens the databases and seeds them, as `recozik-web` does at start.
    pub fn build(self) -> TestApp {
        let state = AppState::build(self.settings).expect("app state");
        TestApp {
            state,
            media: self.media,
        }
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        let media = tempfile::tempdir().unwrap();
        let settings = app_settings(media.path());
        TestAppBuilder { media, settings }
    }

    /// An app with [`app_settings`] as they are.
    pub fn start() -> Self {
        Self::builder().build()
    }

    /// An app with [`app_settings`] changed by `configure`.
    pub fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::builder().configure(configure).build()
    }

    /// The application exactly as `recozik-web` serves it ([`recozik_api::app`]: security
    /// headers, CORS, request tracing, the API, the JSON 404), in process. Response bodies are
    /// boxed so that helpers can name the response type.
    pub async fn service(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        BoxedBody {
            service: test::init_service(recozik_api::app(self.state.clone())).await,
        }
    }
}

/// A service whose responses have a boxed body (`ServiceResponse<BoxBody>`).
struct BoxedBody<S> {
    service: S,
}

type Boxing<B> =
    fn(Result<ServiceResponse<B>, actix_web::Error>) -> Result<ServiceResponse, actix_web::Error>;

impl<S, B> Service<actix_http::Request> for BoxedBody<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse;
    type Error = actix_web::Error;
    type Future = Map<S::Future, Boxing<B>>;

    forward_ready!(service);

    fn call(&self, request: actix_http::Request) -> Self::Future {
        let boxing: Boxing<B> = |result| result.map(ServiceResponse::map_into_boxed_body);
        self.service.call(request).map(boxing)
    }
}

/// The client address of the in-process requests (the rate limits key on it).
pub fn peer() -> std::net::SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

/// A request with an API token and the [`peer`] address.
pub fn with_token(request: test::TestRequest, token: &str) -> test::TestRequest {
    request.peer_addr(peer()).insert_header((
        HeaderName::from_static("x-api-token"),
        HeaderValue::from_str(token).unwrap(),
    ))
}

/// Session cookies after a login.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

impl Session {
    /// The session, refresh and CSRF cookies of `response` (a login or a refresh).
    pub fn from_response(response: &ServiceResponse) -> Self {
        Self {
            access: cookie_value(response, "recozik_session").unwrap(),
            refresh: cookie_value(response, "recozik_refresh").unwrap(),
            csrf: cookie_value(response, "recozik_csrf").unwrap(),
        }
    }

    /// Adds the cookies and the [`peer`] address, and the CSRF header when `csrf` is true.
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

/// `POST /auth/login`, expecting a 200; returns the session.
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
    Session::from_response(&response)
}
