//! The HTTP contract: the behaviours the upstream test suite checked, and our fixes of its bugs, on
//! an in-process app with a temporary SQLite media root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use actix_web::test;
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, ADMIN_TOKEN, TestApp, login, with_token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn body(response: actix_web::dev::ServiceResponse) -> Value {
    test::read_body_json(response).await
}

#[actix_web::test]
async fn health_and_security_headers() {
    let app = TestApp::start();
    let service = app.service().await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/health").to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    assert!(
        headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("default-src")
    );
    assert_eq!(
        headers.get("referrer-policy").unwrap(),
        "same-origin",
        "the setting wins"
    );
    assert!(
        headers.get("strict-transport-security").is_none(),
        "HSTS only in production"
    );
    assert_eq!(body(response).await, json!({"status": "ok"}));
}

#[actix_web::test]
async fn production_mode_sends_configured_hsts() {
    let app = TestApp::start_with(|s| {
        s.production_mode = true;
        s.admin_password = "Prod-Password-123!".to_owned();
    });
    let service = app.service().await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/health").to_request(),
    )
    .await;
    assert_eq!(
        response.headers().get("strict-transport-security").unwrap(),
        "max-age=63072000; includeSubDomains"
    );
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::start();
    let service = app.service().await;
    let response =
        test::call_service(&service, test::TestRequest::get().uri("/nope").to_request()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        body(response).await,
        json!({"detail": "Not Found", "code": "not_found"})
    );
    let response = test::call_service(
        &service,
        test::TestRequest::delete().uri("/health").to_request(),
    )
    .await;
    assert_eq!(response.status(), 405);
    assert_eq!(body(response).await["code"], "method_not_allowed");
}

#[actix_web::test]
async fn malformed_and_incomplete_json_give_422_details() {
    let app = TestApp::start();
    let service = app.service().await;
    let request = test::TestRequest::post()
        .uri("/auth/login")
        .peer_addr(support::peer())
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json")
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["type"], "json_invalid");
    let request = test::TestRequest::post()
        .uri("/auth/login")
        .peer_addr(support::peer())
        .set_json(json!({"username": "admin"}))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(detail["detail"][0]["type"], "missing");
}

#[actix_web::test]
async fn whoami_with_token_and_with_session() {
    let app = TestApp::start();
    let service = app.service().await;
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/whoami"), ADMIN_TOKEN).to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let who = body(response).await;
    assert_eq!(who["user_id"], "admin");
    assert_eq!(who["roles"], json!(["admin"]));
    // An empty list means every feature; the seeded admin token lists them.
    let features = who["allowed_features"].as_array().unwrap();
    assert!(
        features.is_empty() || features.contains(&json!("identify")),
        "{who}"
    );

    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::get().uri("/whoami"), false)
            .to_request(),
    )
    .await;
    let who = body(response).await;
    assert_eq!(who["user_id"], "admin");
    assert_eq!(
        who["email"], "admin@localhost",
        "sessions carry the e-mail (upstream showed null)"
    );

    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/whoami")
            .peer_addr(support::peer())
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body(response).await["detail"], "Missing auth");
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/whoami"), "wrong").to_request(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body(response).await["detail"], "Invalid API token");
}

#[actix_web::test]
async fn refresh_register_and_change_password_require_csrf() {
    let app = TestApp::start();
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;

    let refresh = |csrf| {
        session
            .apply(test::TestRequest::post().uri("/auth/refresh"), csrf)
            .to_request()
    };
    assert_eq!(
        test::call_service(&service, refresh(false)).await.status(),
        403
    );
    let response = test::call_service(&service, refresh(true)).await;
    assert_eq!(response.status(), 200);
    let session = support::Session {
        access: support::cookie_value(&response, "recozik_session").unwrap(),
        refresh: support::cookie_value(&response, "recozik_refresh").unwrap(),
        csrf: support::cookie_value(&response, "recozik_csrf").unwrap(),
    };

    let payload = json!({"username": "charlie", "email": "charlie@example.com", "password": "Str0ngPassw0rd!",
        "display_name": "Charlie", "roles": ["operator"], "allowed_features": ["identify"], "quota_limits": {"acoustid_lookup": 100}});
    let register = |csrf| {
        session
            .apply(test::TestRequest::post().uri("/auth/register"), csrf)
            .set_json(&payload)
            .to_request()
    };
    assert_eq!(
        test::call_service(&service, register(false)).await.status(),
        403
    );
    let response = test::call_service(&service, register(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await["status"], "ok");

    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::get().uri("/admin/users"), false)
            .to_request(),
    )
    .await;
    let users = body(response).await;
    let charlie = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "charlie")
        .unwrap()
        .clone();
    assert_eq!(charlie["email"], "charlie@example.com");
    assert_eq!(charlie["display_name"], "Charlie");
    assert_eq!(charlie["roles"], json!(["operator"]));

    let change = |csrf| {
        session
            .apply(test::TestRequest::post().uri("/auth/change-password"), csrf)
            .set_json(json!({"old_password": ADMIN_PASSWORD, "new_password": "Str0ngPassw0rd!"}))
            .to_request()
    };
    assert_eq!(
        test::call_service(&service, change(false)).await.status(),
        403
    );
    let response = test::call_service(&service, change(true)).await;
    assert_eq!(response.status(), 200);
    // Every session of the user ended.
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::get().uri("/admin/users"), false)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 401);
}

#[actix_web::test]
async fn the_sixth_login_in_a_minute_is_rate_limited() {
    let app = TestApp::start();
    let service = app.service().await;
    for _ in 0..5 {
        let request = test::TestRequest::post()
            .uri("/auth/login")
            .peer_addr(support::peer())
            .insert_header(("X-Forwarded-For", "203.0.113.1"))
            .set_json(json!({"username": "admin", "password": "wrong"}))
            .to_request();
        let response = test::call_service(&service, request).await;
        assert_eq!(response.status(), 401);
        assert_eq!(body(response).await["detail"], "Invalid credentials");
    }
    let request = test::TestRequest::post()
        .uri("/auth/login")
        .peer_addr(support::peer())
        .set_json(json!({"username": "admin", "password": "wrong"}))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    // Other classes have their own buckets.
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/whoami"), ADMIN_TOKEN).to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn every_forwarded_for_line_counts_so_a_client_cannot_pick_its_rate_limit_key() {
    let app = TestApp::start_with(|s| s.rate_limit_trusted_proxies = 1);
    let service = app.service().await;
    // The client sends its own X-Forwarded-For line, different each time; our one proxy adds a
    // second line with the address it saw. The key must be the proxy's entry.
    let attempt = |spoofed: String| {
        test::TestRequest::post()
            .uri("/auth/login")
            .peer_addr(support::peer())
            .append_header(("X-Forwarded-For", spoofed))
            .append_header(("X-Forwarded-For", "203.0.113.77"))
            .set_json(json!({"username": "admin", "password": "wrong"}))
            .to_request()
    };
    for i in 0..5 {
        let response = test::call_service(&service, attempt(format!("198.51.100.{i}"))).await;
        assert_eq!(response.status(), 401);
    }
    let response = test::call_service(&service, attempt("198.51.100.99".to_owned())).await;
    assert_eq!(response.status(), 429);
}

#[actix_web::test]
async fn deactivated_users_cannot_log_in() {
    let app = TestApp::start();
    let service = app.service().await;
    let id = support::create_user(&app.state, "dora", &["user"], &[]);
    app.state
        .auth
        .update_user(
            id,
            &recozik_auth::UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    let request = test::TestRequest::post()
        .uri("/auth/login")
        .peer_addr(support::peer())
        .set_json(json!({"username": "dora", "password": "TestPassword1!"}))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 403);
    assert_eq!(body(response).await["detail"], "user_disabled");
}

async fn fake_acoustid() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "ok",
            "results": [{"id": "trk-1", "score": 0.93, "recordings": [
                {"id": "rec-1", "title": "Track", "artists": [{"name": "Artist"}]}
            ]}]
        })))
        .mount(&server)
        .await;
    server
}

#[actix_web::test]
async fn the_readonly_token_never_reaches_the_audd_enterprise_endpoint_unmetered() {
    let acoustid = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "results": []})),
        )
        .mount(&acoustid)
        .await;
    let audd = MockServer::start().await;
    // The standard endpoint answers "no match" once (the plain request); the enterprise
    // endpoint must never be called: the read-only token has no enterprise quota.
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "success", "result": null})),
        )
        .expect(1)
        .mount(&audd)
        .await;
    Mock::given(method("POST"))
        .and(path("/enterprise/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "success", "result": []})),
        )
        .expect(0)
        .mount(&audd)
        .await;
    let readonly = "readonly-token-for-the-audd-test";
    let app = TestApp::start_with(|s| {
        s.acoustid_endpoint = format!("{}/v2/lookup", acoustid.uri());
        s.audd_token = Some("audd-secret".to_owned());
        s.audd_endpoint_standard = format!("{}/", audd.uri());
        s.audd_endpoint_enterprise = format!("{}/enterprise/", audd.uri());
        s.readonly_token = Some(readonly.to_owned());
        s.readonly_quota_audd_standard = Some(5);
    });
    std::fs::copy(
        support::fixture("wav_s16_8k_mono.wav"),
        app.media.path().join("clip.wav"),
    )
    .unwrap();
    let service = app.service().await;
    for force_audd_enterprise in [false, true] {
        let request = with_token(
            test::TestRequest::post().uri("/identify/from-path"),
            readonly,
        )
        .set_json(json!({"audio_path": "clip.wav", "force_audd_enterprise": force_audd_enterprise}))
        .to_request();
        let response = test::call_service(&service, request).await;
        assert_eq!(response.status(), 200, "forced: {force_audd_enterprise}");
        let result = body(response).await;
        assert!(
            result["audd_error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Quota exceeded for audd_enterprise_lookup"),
            "forced: {force_audd_enterprise}: {result}"
        );
    }
    audd.verify().await;
}

#[actix_web::test]
async fn identify_from_path_runs_the_pipeline_inside_the_media_root() {
    let acoustid = fake_acoustid().await;
    let app =
        TestApp::start_with(|s| s.acoustid_endpoint = format!("{}/v2/lookup", acoustid.uri()));
    std::fs::copy(
        support::fixture("wav_s16_8k_mono.wav"),
        app.media.path().join("clip.wav"),
    )
    .unwrap();
    let service = app.service().await;
    let call = |audio_path: &str| {
        with_token(
            test::TestRequest::post().uri("/identify/from-path"),
            ADMIN_TOKEN,
        )
        .set_json(json!({"audio_path": audio_path}))
        .to_request()
    };
    let response = test::call_service(&service, call("clip.wav")).await;
    assert_eq!(response.status(), 200);
    let result = body(response).await;
    assert_eq!(result["match_source"], "acoustid");
    assert_eq!(result["matches"][0]["title"], "Track");
    assert!(result["fingerprint"].as_str().unwrap().starts_with("AQAA"));

    let response = test::call_service(&service, call("../secret.flac")).await;
    assert_eq!(response.status(), 400);
    assert!(
        body(response).await["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("traversal")
    );
    let response = test::call_service(&service, call("/etc/passwd")).await;
    assert_eq!(response.status(), 400);
    assert!(
        body(response).await["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("absolute paths")
    );

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.flac"), b"x").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.flac"),
        app.media.path().join("link.flac"),
    )
    .unwrap();
    let response = test::call_service(&service, call("link.flac")).await;
    assert_eq!(response.status(), 400);
    assert!(
        body(response).await["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("symbolic")
    );

    // The server's own files are never served, whatever their extension.
    let response = test::call_service(&service, call("auth.db")).await;
    assert_eq!(response.status(), 400);
    let response = test::call_service(&service, call("missing.mp3")).await;
    assert_eq!(response.status(), 404);
    std::fs::write(app.media.path().join("notes.txt"), b"x").unwrap();
    let response = test::call_service(&service, call("notes.txt")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(body(response).await["code"], "extension_not_allowed");

    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/identify/from-path")
            .peer_addr(support::peer())
            .set_json(json!({"audio_path": "clip.wav"}))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 401);
}

#[actix_web::test]
async fn bad_audio_is_a_400_without_server_paths() {
    let app = TestApp::start();
    std::fs::write(
        app.media.path().join("fake.mp3"),
        b"this is text, not audio",
    )
    .unwrap();
    let service = app.service().await;
    let request = with_token(
        test::TestRequest::post().uri("/identify/from-path"),
        ADMIN_TOKEN,
    )
    .set_json(json!({"audio_path": "fake.mp3"}))
    .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 400);
    let error = body(response).await;
    assert!(
        !error["detail"]
            .as_str()
            .unwrap()
            .contains(&*app.media.path().to_string_lossy()),
        "{error}"
    );
}

#[actix_web::test]
async fn a_token_without_identify_is_refused_before_any_path_check() {
    let app = TestApp::start();
    let service = app.service().await;
    let user = support::create_user(&app.state, "rita", &["user"], &[]);
    let token = support::create_token(&app.state, user, &[], &["rename"]);
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/whoami"), &token).to_request(),
    )
    .await;
    assert_eq!(body(response).await["allowed_features"], json!(["rename"]));
    let request = with_token(test::TestRequest::post().uri("/identify/from-path"), &token)
        .set_json(json!({"audio_path": "does-not-exist.mp3"}))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 403);
    assert!(
        body(response).await["detail"]
            .as_str()
            .unwrap()
            .contains("identify")
    );
}

#[actix_web::test]
async fn admin_tokens_show_the_secret_once_and_can_be_revoked() {
    let app = TestApp::start();
    let service = app.service().await;
    let bob = support::create_user(&app.state, "bob", &["user", "operator"], &[]);
    let raw = "bob-chosen-token-value-0123456789";
    let request = with_token(test::TestRequest::post().uri("/admin/tokens"), ADMIN_TOKEN)
        .set_json(
            json!({"token": raw, "user_id": bob, "display_name": "bobtok", "roles": ["operator"],
            "allowed_features": ["identify"], "quota_limits": {"acoustid_lookup": 1}}),
        )
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 200);
    let created = body(response).await;
    assert_eq!(created["token"], raw);
    assert!(
        created["token_hint"]
            .as_str()
            .unwrap()
            .ends_with(&raw[raw.len() - 4..])
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/admin/tokens"), ADMIN_TOKEN).to_request(),
    )
    .await;
    let listed = body(response).await;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["token"], Value::Null);
    assert!(
        entry["token_hint"]
            .as_str()
            .unwrap()
            .ends_with(&raw[raw.len() - 4..])
    );

    // Duplicates and unknown features are refused; a non-admin cannot manage tokens.
    let request = with_token(test::TestRequest::post().uri("/admin/tokens"), ADMIN_TOKEN)
        .set_json(json!({"token": raw, "user_id": bob, "display_name": "again"}))
        .to_request();
    assert_eq!(test::call_service(&service, request).await.status(), 409);
    let request = with_token(test::TestRequest::post().uri("/admin/tokens"), ADMIN_TOKEN)
        .set_json(json!({"user_id": bob, "display_name": "x", "allowed_features": ["teleport"]}))
        .to_request();
    let response = test::call_service(&service, request).await;
    assert_eq!(response.status(), 400);
    assert!(
        body(response).await["detail"]
            .as_str()
            .unwrap()
            .contains("Unknown feature")
    );
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/admin/tokens"), raw).to_request(),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(body(response).await["detail"], "Admin only");

    let response = test::call_service(
        &service,
        with_token(
            test::TestRequest::delete().uri(&format!("/admin/tokens/{id}")),
            ADMIN_TOKEN,
        )
        .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/whoami"), raw).to_request(),
    )
    .await;
    assert_eq!(response.status(), 401, "a revoked token stops working");
}

#[actix_web::test]
async fn an_admin_creates_a_readonly_token_for_itself_from_the_dashboard() {
    let app = TestApp::start();
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    // The upstream dashboard's token form, for the admin's own account.
    let payload = json!({"user_id": 1, "display_name": "read-only helper", "roles": ["readonly"],
        "allowed_features": ["identify"],
        "quota_limits": {"acoustid_lookup": 10, "musicbrainz_enrich": null, "audd_standard_lookup": null}});
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::post().uri("/admin/tokens"), true)
            .set_json(&payload)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let created = body(response).await;
    let raw = created["token"].as_str().unwrap().to_owned();
    let whoami = body(
        test::call_service(
            &service,
            with_token(test::TestRequest::get().uri("/whoami"), &raw).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(whoami["roles"], json!(["readonly"]));
}

#[actix_web::test]
async fn token_creation_by_cookie_needs_csrf() {
    let app = TestApp::start();
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    let payload = json!({"user_id": 1, "display_name": "from the dashboard"});
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::post().uri("/admin/tokens"), false)
            .set_json(&payload)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::post().uri("/admin/tokens"), true)
            .set_json(&payload)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn admin_user_management() {
    let app = TestApp::start();
    let service = app.service().await;
    let alice = support::create_user(&app.state, "alice", &["user"], &[]);
    support::create_user(&app.state, "bob", &["user"], &[]);
    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    let get = |uri: &str| {
        session
            .apply(test::TestRequest::get().uri(uri), false)
            .to_request()
    };

    let users = body(test::call_service(&service, get("/admin/users")).await).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.len() >= 3 && names.contains(&"alice") && names.contains(&"bob"),
        "{names:?}"
    );
    let page = body(test::call_service(&service, get("/admin/users?limit=2")).await).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let offset =
        body(test::call_service(&service, get("/admin/users?limit=2&offset=1")).await).await;
    assert_ne!(offset[0]["id"], page[0]["id"]);
    assert_eq!(
        test::call_service(&service, get("/admin/users?limit=-1"))
            .await
            .status(),
        422
    );

    let user =
        body(test::call_service(&service, get(&format!("/admin/users/{alice}"))).await).await;
    for key in ["id", "username", "email", "created_at"] {
        assert!(user.get(key).is_some(), "{key}");
    }
    assert!(
        user["created_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {user}"
    );
    assert_eq!(
        test::call_service(&service, get("/admin/users/9999"))
            .await
            .status(),
        404
    );
    assert_eq!(
        test::call_service(&service, get("/admin/users/abc"))
            .await
            .status(),
        422
    );

    let update = json!({"email": "Alice.New@Example.com", "display_name": "Alice N", "is_active": true,
        "roles": ["operator", "readonly"], "allowed_features": ["identify", "rename"], "quota_limits": {"acoustid_lookup": 5}});
    let response = test::call_service(
        &service,
        session
            .apply(
                test::TestRequest::put().uri(&format!("/admin/users/{alice}")),
                true,
            )
            .set_json(&update)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let updated = body(response).await;
    assert_eq!(updated["email"], "alice.new@example.com");
    assert_eq!(updated["display_name"], "Alice N");
    let response = test::call_service(
        &service,
        session
            .apply(
                test::TestRequest::put().uri(&format!("/admin/users/{alice}")),
                true,
            )
            .set_json(json!({"allowed_features": ["flying"]}))
            .to_request(),
    )
    .await;
    assert_eq!(
        response.status(),
        400,
        "unknown features are refused on every write path"
    );

    // Sessions: list, revoke.
    let _alice_session = login(&service, "alice", "TestPassword1!").await;
    let sessions =
        body(test::call_service(&service, get(&format!("/admin/users/{alice}/sessions"))).await)
            .await;
    assert!(!sessions.as_array().unwrap().is_empty());
    assert!(sessions[0].get("expires_at").is_some());
    let response = test::call_service(
        &service,
        session
            .apply(
                test::TestRequest::delete().uri(&format!("/admin/users/{alice}/sessions")),
                true,
            )
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let sessions =
        body(test::call_service(&service, get(&format!("/admin/users/{alice}/sessions"))).await)
            .await;
    assert_eq!(sessions, json!([]));

    // Passwords.
    let reset = |password: &str| {
        session
            .apply(
                test::TestRequest::post().uri(&format!("/admin/users/{alice}/reset-password")),
                true,
            )
            .set_json(json!({"new_password": password}))
            .to_request()
    };
    assert_eq!(
        test::call_service(&service, reset("weak")).await.status(),
        400
    );
    assert_eq!(
        test::call_service(&service, reset("An0ther-Strong-One"))
            .await
            .status(),
        200
    );

    // Deactivate, then delete.
    let response = test::call_service(
        &service,
        session
            .apply(
                test::TestRequest::put().uri(&format!("/admin/users/{alice}")),
                true,
            )
            .set_json(json!({"is_active": false}))
            .to_request(),
    )
    .await;
    assert_eq!(body(response).await["is_active"], false);
    let response = test::call_service(
        &service,
        session
            .apply(
                test::TestRequest::delete().uri(&format!("/admin/users/{alice}")),
                true,
            )
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        test::call_service(&service, get(&format!("/admin/users/{alice}")))
            .await
            .status(),
        404
    );
}

#[actix_web::test]
async fn register_refuses_weak_passwords() {
    let app = TestApp::start();
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    for password in ["short", "nouppercase123!", "NoDigits!"] {
        let payload = json!({"username": "eve", "email": "eve@example.com", "password": password});
        let response = test::call_service(
            &service,
            session
                .apply(test::TestRequest::post().uri("/auth/register"), true)
                .set_json(&payload)
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 400, "{password}");
    }
}

#[actix_web::test]
async fn user_endpoints_are_for_admins_only() {
    let app = TestApp::start();
    let service = app.service().await;
    let reader = support::create_user(&app.state, "reader", &["readonly"], &[]);
    let session = login(&service, "reader", "TestPassword1!").await;
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::get().uri("/admin/users"), false)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(body(response).await["detail"], "Admin required");
    let reader_token = support::create_token(&app.state, reader, &[], &[]);
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/admin/users"), &reader_token).to_request(),
    )
    .await;
    assert_eq!(response.status(), 403);
    // Admin routes accept admin tokens as well as sessions (upstream: sessions only).
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/admin/users"), ADMIN_TOKEN).to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let payload =
        json!({"username": "tokenmade", "email": "t@example.com", "password": "Str0ngPassw0rd!"});
    let response = test::call_service(
        &service,
        with_token(test::TestRequest::post().uri("/auth/register"), ADMIN_TOKEN)
            .set_json(&payload)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn logout_needs_csrf_and_clears_cookies() {
    let app = TestApp::start();
    let service = app.service().await;
    let session = login(&service, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        test::call_service(
            &service,
            session
                .apply(test::TestRequest::post().uri("/auth/logout"), false)
                .to_request()
        )
        .await
        .status(),
        403
    );
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::post().uri("/auth/logout"), true)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .response()
            .cookies()
            .any(|c| c.name() == "recozik_session" && c.value().is_empty())
    );
    let response = test::call_service(
        &service,
        session
            .apply(test::TestRequest::get().uri("/whoami"), false)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 401);
}

#[actix_web::test]
async fn openapi_and_docs_are_served() {
    let app = TestApp::start();
    let service = app.service().await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    let document = body(response).await;
    assert_eq!(document["openapi"], "3.1.0");
    for route in [
        "/health",
        "/whoami",
        "/identify/from-path",
        "/identify/upload",
        "/jobs",
        "/jobs/{job_id}",
        "/ws/jobs/{job_id}",
        "/admin/tokens",
        "/admin/tokens/{token_id}",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/register",
        "/auth/change-password",
        "/admin/users",
        "/admin/users/{user_id}",
        "/admin/users/{user_id}/reset-password",
        "/admin/users/{user_id}/sessions",
    ] {
        assert!(
            document["paths"].get(route).is_some(),
            "{route} is documented"
        );
    }
    let response =
        test::call_service(&service, test::TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(response.status(), 200);
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        page.contains("Recozik Web API") && !page.contains("https://"),
        "self-contained page"
    );
}

#[actix_web::test]
async fn a_failed_acoustid_lookup_gives_its_quota_unit_back() {
    let acoustid = MockServer::start().await;
    // The first lookup fails (AcoustID unavailable, through both retries), later ones succeed.
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&acoustid)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "ok",
            "results": [{"id": "trk-1", "score": 0.9, "recordings": [{"id": "rec-1", "title": "Track"}]}]
        })))
        .with_priority(2)
        .mount(&acoustid)
        .await;
    let app =
        TestApp::start_with(|s| s.acoustid_endpoint = format!("{}/v2/lookup", acoustid.uri()));
    std::fs::copy(
        support::fixture("wav_s16_8k_mono.wav"),
        app.media.path().join("clip.wav"),
    )
    .unwrap();
    let service = app.service().await;
    let user = support::create_user(&app.state, "quota", &["user"], &[]);
    let token = app
        .state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            user_id: user,
            display_name: "one lookup a day".to_owned(),
            quota_limits: [("acoustid_lookup".to_owned(), Some(1))]
                .into_iter()
                .collect(),
            ..recozik_auth::NewTokenRequest::default()
        })
        .unwrap()
        .token;
    let call = || {
        with_token(test::TestRequest::post().uri("/identify/from-path"), &token)
            .set_json(json!({"audio_path": "clip.wav"}))
            .to_request()
    };
    let failed = test::call_service(&service, call()).await;
    assert_eq!(failed.status(), 400, "the AcoustID failure is reported");
    let first = test::call_service(&service, call()).await;
    assert_eq!(
        first.status(),
        200,
        "the failed lookup did not use the only unit"
    );
    let second = test::call_service(&service, call()).await;
    assert_eq!(second.status(), 429);
    assert!(second.headers().get("retry-after").is_some());
}
