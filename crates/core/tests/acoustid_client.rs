//! The AcoustID client against a local fake of the lookup endpoint.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::time::{Duration, Instant};

use identify_support::{
    MBID_1, MBID_2, REL_1, REL_2, RG_1, Recorder, Sequence, acoustid_payload, fast_config,
    form_value, max_in_window,
};
use recozik_core::acoustid::parse_lookup;
use recozik_core::{AcoustIdClient, AcoustIdConfig, AcoustIdError, Release, Secret};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> AcoustIdClient {
    let config = fast_config(&server.uri(), "http://127.0.0.1:9", "http://127.0.0.1:9");
    AcoustIdClient::new(&config.acoustid).expect("valid config")
}

async fn lookup(server: &MockServer) -> Result<Vec<recozik_core::Match>, AcoustIdError> {
    client(server)
        .lookup(&Secret::new("key-123"), "AQAAFINGERPRINT", 10.4)
        .await
}

#[tokio::test]
async fn parses_nested_release_groups_and_merges_recordings() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acoustid_payload()))
        .expect(1)
        .mount(&server)
        .await;

    let matches = lookup(&server).await.expect("lookup succeeds");

    // MBID_1 appears in two results: one match, best score, sorted first.
    assert_eq!(matches.len(), 2);
    let first = &matches[0];
    assert_eq!(first.recording_id, MBID_1);
    assert!((first.score - 0.93).abs() < 1e-9);
    assert_eq!(first.title.as_deref(), Some("Chanson"));
    assert_eq!(first.artist.as_deref(), Some("Artiste feat. Invité"));
    assert_eq!(first.release_group_id.as_deref(), Some(RG_1));
    assert_eq!(first.release_group_title.as_deref(), Some("Album X"));
    // The track id of the result the match was first seen in.
    assert_eq!(first.acoustid_id.as_deref(), Some("track-low"));
    assert_eq!(
        first.releases,
        vec![
            Release {
                title: Some("Album X".into()), // compressed away: the group's title
                release_id: Some(REL_1.into()),
                date: Some("2018-05-01".into()),
                country: Some("FR".into()),
            },
            Release {
                title: Some("Album X (Deluxe)".into()),
                release_id: Some(REL_2.into()),
                date: Some("2019-02".into()), // from the first release event
                country: Some("XW".into()),
            },
            Release {
                title: Some("Best Of".into()), // releases of every group are kept
                release_id: Some("r-bestof".into()),
                date: Some("2020".into()),
                country: None,
            },
        ]
    );
    assert_eq!(matches[1].recording_id, MBID_2);
    assert_eq!(matches[1].artist.as_deref(), Some("Solo"));
}

#[tokio::test]
async fn sends_the_documented_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "results": []})),
        )
        .mount(&server)
        .await;

    let matches = lookup(&server).await.expect("lookup succeeds");
    assert!(matches.is_empty());

    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let body = &request.body;
    assert_eq!(form_value(body, "format").as_deref(), Some("json"));
    assert_eq!(form_value(body, "client").as_deref(), Some("key-123"));
    assert_eq!(form_value(body, "duration").as_deref(), Some("10"));
    assert_eq!(
        form_value(body, "fingerprint").as_deref(),
        Some("AQAAFINGERPRINT")
    );
    assert_eq!(
        form_value(body, "meta").as_deref(),
        Some("recordings releasegroups releases tracks compress")
    );
}

#[tokio::test]
async fn an_empty_key_fails_without_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let error = client(&server)
        .lookup(&Secret::new("   "), "AQAA", 10.0)
        .await
        .expect_err("no key");
    assert_eq!(error, AcoustIdError::MissingApiKey);
}

fn error_body(code: i64, message: &str) -> serde_json::Value {
    json!({"status": "error", "error": {"code": code, "message": message}})
}

#[tokio::test]
async fn maps_every_error_code_and_keeps_the_message() {
    type Check = fn(&AcoustIdError) -> bool;
    let cases: Vec<(i64, &str, Check)> = vec![
        (
            4,
            "invalid API key",
            |e| matches!(e, AcoustIdError::InvalidApiKey { code: 4, message } if message == "invalid API key"),
        ),
        (6, "invalid user API key", |e| {
            matches!(e, AcoustIdError::InvalidApiKey { code: 6, .. })
        }),
        (
            3,
            "invalid fingerprint",
            |e| matches!(e, AcoustIdError::InvalidFingerprint { code: 3, message } if message == "invalid fingerprint"),
        ),
        (
            2,
            "missing required parameter \"fingerprint\"",
            |e| matches!(e, AcoustIdError::Service { code: 2, message } if message.contains("fingerprint")),
        ),
        (8, "invalid duration", |e| {
            matches!(e, AcoustIdError::Service { code: 8, .. })
        }),
    ];
    for (code, message, check) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(error_body(code, message)))
            .expect(1) // not retried
            .mount(&server)
            .await;
        let error = lookup(&server).await.expect_err("service error");
        assert!(check(&error), "code {code} mapped to {error:?}");
        assert_eq!(error.service_code(), Some(code));
        assert!(error.to_string().contains(message), "{error}");
        assert!(!error.is_transient());
    }
}

#[tokio::test]
async fn the_rate_limit_code_is_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body(14, "too many requests")))
        .expect(3) // 1 + max_retries
        .mount(&server)
        .await;
    let error = lookup(&server).await.expect_err("still limited");
    assert!(matches!(
        error,
        AcoustIdError::RateLimited { code: Some(14), ref message, .. } if message == "too many requests"
    ));
}

#[tokio::test]
async fn http_429_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            ResponseTemplate::new(200).set_body_json(acoustid_payload()),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let started = Instant::now();
    let matches = lookup(&server).await.expect("succeeds after the wait");
    assert_eq!(matches.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let error = lookup(&server).await.expect_err("gives up");
    assert!(matches!(
        error,
        AcoustIdError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_hours(1)
    ));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(500).set_body_string("<html>oops</html>"),
            ResponseTemplate::new(503).set_body_json(error_body(13, "service unavailable")),
            ResponseTemplate::new(200).set_body_json(acoustid_payload()),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    assert_eq!(lookup(&server).await.expect("third attempt").len(), 2);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let error = lookup(&server).await.expect_err("always 500");
    assert_eq!(error, AcoustIdError::Http { status: 500 });
    assert_eq!(error.code(), "acoustid_http_error");
}

#[tokio::test]
async fn times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(acoustid_payload())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let mut config = fast_config(&server.uri(), "http://127.0.0.1:9", "http://127.0.0.1:9");
    config.acoustid.timeout_seconds = 0.2;
    config.acoustid.retry.max_retries = 1;
    let started = Instant::now();
    let error = AcoustIdClient::new(&config.acoustid)
        .expect("config")
        .lookup(&Secret::new("k"), "AQAA", 10.0)
        .await
        .expect_err("timeout");
    assert_eq!(error, AcoustIdError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error() {
    // Nothing listens on the discard port of localhost.
    let config = fast_config(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    let error = AcoustIdClient::new(&config.acoustid)
        .expect("config")
        .lookup(&Secret::new("secret-key"), "AQAA", 10.0)
        .await
        .expect_err("refused");
    assert!(matches!(error, AcoustIdError::Network { .. }), "{error:?}");
    assert!(!error.to_string().contains("secret-key"));
}

#[tokio::test]
async fn malformed_bodies_never_panic() {
    for body in [
        "not json at all",
        "{\"status\": \"ok\", \"results\": ",
        "[1, 2, 3]",
        "{\"results\": []}",
        "{\"status\": \"ok\", \"results\": {\"a\": 1}}",
        "{\"status\": \"error\"}",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let error = lookup(&server).await.expect_err(body);
        assert!(
            matches!(error, AcoustIdError::InvalidResponse { .. }),
            "{body}: {error:?}"
        );
    }
}

#[test]
fn odd_shapes_are_skipped_not_fatal() {
    let payload = json!({
        "status": "ok",
        "results": [
            {"score": "0.5", "recordings": null},
            {"score": "bad", "recordings": [
                {"id": ""},
                {"title": "no id"},
                "not an object",
                {"id": "rec-x", "artists": [{"joinphrase": " & "}, {"name": 5}, {"name": "Only"}],
                 "releasegroups": ["not an object"], "releases": [1, {"title": "Flat"}]}
            ]},
            "garbage"
        ]
    });
    let matches = parse_lookup(&payload).expect("lenient");
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].recording_id, "rec-x");
    assert!(matches[0].score.abs() < f64::EPSILON);
    assert_eq!(matches[0].artist.as_deref(), Some("Only"));
    assert_eq!(matches[0].release_group_id, None);
    assert_eq!(matches[0].releases.len(), 1);
    assert_eq!(matches[0].releases[0].title.as_deref(), Some("Flat"));
}

#[test]
fn recording_level_releases_are_read() {
    // The shape returned when only `releases` (not release groups) is requested.
    let payload = json!({"status": "ok", "results": [{"id": "t", "score": 0.8, "recordings": [
        {"id": "rec-1", "title": "T", "releases": [
            {"id": "r1", "title": "Alb", "date": {"year": 2001}, "country": "FR"},
            {"id": "r1", "title": "Alb", "date": {"year": 2001}, "country": "FR"}
        ]}
    ]}]});
    let matches = parse_lookup(&payload).expect("ok");
    assert_eq!(
        matches[0].releases,
        vec![Release {
            title: Some("Alb".into()),
            release_id: Some("r1".into()),
            date: Some("2001".into()),
            country: Some("FR".into()),
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_throttle_allows_three_requests_per_second() {
    let server = MockServer::start().await;
    let recorder = Recorder::new(
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "results": []})),
    );
    Mock::given(method("POST"))
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    let config = AcoustIdConfig {
        endpoint: format!("{}/v2/lookup", server.uri()),
        ..AcoustIdConfig::default()
    };
    assert!((config.requests_per_second - 3.0).abs() < f64::EPSILON);
    let client = AcoustIdClient::new(&config).expect("config");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.lookup(&Secret::new("k"), "AQAA", 10.0).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("lookup");
    }
    let times = recorder.times();
    assert!(times.len() >= 10);
    assert!(
        max_in_window(&times, Duration::from_secs(1)) <= 3,
        "{times:?}"
    );
}

#[tokio::test]
async fn validates_keys_without_a_fingerprint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |request: &wiremock::Request| {
            if form_value(&request.body, "client").as_deref() == Some("good") {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"status": "ok", "tracks": [{"id": "9ff43b6a-4f16-427c-93c2-92307ca505e0"}]}))
            } else {
                ResponseTemplate::new(400).set_body_json(error_body(4, "invalid API key"))
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    client
        .validate_key(&Secret::new("good"))
        .await
        .expect("valid");
    let error = client
        .validate_key(&Secret::new("bad"))
        .await
        .expect_err("rejected");
    assert_eq!(
        error,
        AcoustIdError::InvalidApiKey {
            code: 4,
            message: "invalid API key".into()
        }
    );
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(
        form_value(&requests[0].body, "trackid").as_deref(),
        Some("9ff43b6a-4f16-427c-93c2-92307ca505e0")
    );
    assert!(
        requests.iter().all(|r| r.url.query().is_none()),
        "the key is never in a URL"
    );
}
