//! HTTP details every route shares: `405` names the allowed methods in `Allow` (RFC 9110
//! §15.5.6), and a database pool that cannot hand out a connection answers `503` with
//! `Retry-After` — including while credentials are being resolved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use actix_web::test;
use serde_json::Value;
use support::{ADMIN_PASSWORD, ADMIN_TOKEN, TestApp, login, with_token};

fn allow_set(response: &actix_web::dev::ServiceResponse) -> Option<BTreeSet<String>> {
    let value = response.headers().get("allow")?.to_str().ok()?;
    Some(
        value
            .split(',')
            .map(|method| method.trim().to_ascii_uppercase())
            .filter(|method| !method.is_empty())
            .collect(),
    )
}

/// `/admin/users/{user_id}` → `/admin/users/1`.
fn concrete(template: &str) -> String {
    let mut path = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                path.push('1');
            }
            _ if !in_param => path.push(c),
            _ => {}
        }
    }
    path
}

#[actix_web::test]
async fn every_405_lists_the_methods_of_its_route_in_allow() {
    let app = TestApp::start_with(|_| {});
    let service = app.service().await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let document: Value = test::read_body_json(response).await;
    let mut routes: Vec<(String, BTreeSet<String>)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, operations)| {
            let methods = operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| ["get", "post", "put", "delete", "patch"].contains(&key.as_str()))
                .map(|key| key.to_ascii_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    // The WebSocket route is not an OpenAPI operation but is a route all the same.
    routes.push((
        "/ws/jobs/{job_id}".to_owned(),
        BTreeSet::from(["GET".to_owned()]),
    ));
    assert!(routes.len() > 15, "the document lists the routes");

    let mut checked = 0;
    for (template, methods) in &routes {
        let uri = concrete(template);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if methods.contains(method) {
                continue;
            }
            let request = test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&uri)
                .peer_addr(support::peer())
                .to_request();
            let response = test::call_service(&service, request).await;
            assert_eq!(response.status(), 405, "{method} {uri}");
            assert_eq!(
                allow_set(&response).as_ref(),
                Some(methods),
                "{method} {uri}: Allow must list the route's methods"
            );
            let body: Value = test::read_body_json(response).await;
            assert_eq!(body["code"], "method_not_allowed");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} wrong-method requests checked");
}

fn assert_unavailable(response: &actix_web::dev::ServiceResponse, what: &str) {
    assert_eq!(response.status(), 503, "{what}");
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{what}: Retry-After");
}

#[actix_web::test]
async fn an_exhausted_pool_answers_503_with_retry_after_on_every_route() {
    let app = TestApp::start_with(|s| {
        s.database_checkout_timeout_seconds = 1;
        s.token_cache_seconds = 0;
    });
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;

    // Every connection of both pools is taken (the pools hold at most 8).
    let mut held = Vec::new();
    for db in [&app.state.storage.auth, &app.state.storage.jobs] {
        while let Ok(conn) = db.conn() {
            held.push(conn);
        }
    }
    assert!(held.len() >= 2);

    let token = |request: test::TestRequest| with_token(request, ADMIN_TOKEN);
    let cases: Vec<(&str, actix_http::Request)> = vec![
        (
            "token resolution",
            token(test::TestRequest::get().uri("/whoami")).to_request(),
        ),
        (
            "session resolution",
            session
                .apply(test::TestRequest::get().uri("/whoami"), false)
                .to_request(),
        ),
        (
            "login",
            test::TestRequest::post()
                .uri("/auth/login")
                .peer_addr(support::peer())
                .set_json(serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
                .to_request(),
        ),
        (
            "refresh",
            session
                .apply(test::TestRequest::post().uri("/auth/refresh"), true)
                .to_request(),
        ),
        (
            "job list",
            token(test::TestRequest::get().uri("/jobs")).to_request(),
        ),
        (
            "job detail",
            token(test::TestRequest::get().uri("/jobs/0123456789abcdef0123456789abcdef"))
                .to_request(),
        ),
        (
            "user list",
            token(test::TestRequest::get().uri("/admin/users")).to_request(),
        ),
        (
            "WebSocket handshake",
            token(
                test::TestRequest::get()
                    .uri("/ws/jobs/0123456789abcdef0123456789abcdef")
                    .insert_header(("upgrade", "websocket"))
                    .insert_header(("connection", "Upgrade"))
                    .insert_header(("sec-websocket-version", "13"))
                    .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")),
            )
            .to_request(),
        ),
        (
            "token list",
            session
                .apply(test::TestRequest::get().uri("/admin/tokens"), false)
                .to_request(),
        ),
    ];
    for (what, request) in cases {
        let response = test::call_service(&service, request).await;
        assert_unavailable(&response, what);
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["code"], "unavailable", "{what}");
        assert!(
            !body.to_string().contains("pool"),
            "{what}: no internal text"
        );
    }
    // Routes without the database still answer.
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/health").to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);

    drop(held);
    let response = test::call_service(
        &service,
        token(test::TestRequest::get().uri("/whoami")).to_request(),
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "served again once connections are free"
    );
}
