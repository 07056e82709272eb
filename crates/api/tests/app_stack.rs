//! The harness tests the application `recozik-web` serves ([`recozik_api::app`]), middleware
//! included: in process, CORS answers preflights for the configured origins; behind a socket,
//! the security headers and the JSON 404 are there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use actix_web::http::Method;
use actix_web::test;
use serde_json::{Value, json};
use support::{Fakes, TestApp, TestServer, client, server_settings};

const ORIGIN: &str = "https://app.example.org";

#[actix_web::test]
async fn the_in_process_service_answers_cors_for_the_configured_origins() {
    let app = TestApp::builder()
        .configure(|s| {
            s.cors_enabled = true;
            s.cors_origins = vec![ORIGIN.to_owned()];
        })
        .build();
    let service = app.service().await;

    let preflight = test::TestRequest::default()
        .method(Method::OPTIONS)
        .uri("/whoami")
        .peer_addr(support::peer())
        .insert_header(("origin", ORIGIN))
        .insert_header(("access-control-request-method", "GET"))
        .to_request();
    let response = test::call_service(&service, preflight).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), ORIGIN);
    assert_eq!(
        headers.get("access-control-allow-credentials").unwrap(),
        "true"
    );

    // Another origin is served, without a CORS header.
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/health")
            .insert_header(("origin", "https://elsewhere.example.com"))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_server_sends_the_security_headers_and_the_json_404() {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let server = TestServer::start(server_settings(media.path(), &fakes));

    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("x-frame-options").unwrap(), "DENY");
    assert_eq!(
        response.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );

    let response = client().get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Not Found", "code": "not_found"}));
    server.stop().await;
}
