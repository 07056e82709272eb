//! `GET /ws/jobs/{job_id}` (the upstream protocol, with its bugs fixed): exact frame shapes, no gap
//! and no duplicate between snapshot and events, 1008 for every denial, the `Origin` check for
//! cookie authentication, a normal close after the terminal events, and ping/pong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn start(
    delay: Duration,
    configure: impl FnOnce(&mut recozik_api::Settings),
) -> (tempfile::TempDir, Fakes, TestServer) {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    fakes.healthy(delay).await;
    let mut settings = server_settings(media.path(), &fakes);
    configure(&mut settings);
    let server = TestServer::start(settings);
    (media, fakes, server)
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn is_rfc3339_z(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_have_the_exact_shapes_and_follow_the_snapshot_without_gap() {
    // A slow AcoustID keeps the job running while the socket connects.
    let (_media, _fakes, server) = start(Duration::from_secs(2), |_| {}).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    let ws = follow_ws(
        &server.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL), "{ws:?}");

    let snapshot = &ws.frames[0];
    assert_eq!(keys(snapshot), set(&["type", "job"]));
    let job = &snapshot["job"];
    assert_eq!(
        keys(job),
        set(&[
            "job_id",
            "status",
            "created_at",
            "updated_at",
            "finished_at",
            "messages",
            "result",
            "error",
            // Added with library batches: `identify_upload` here.
            "kind"
        ])
    );
    assert_eq!(job["status"], "running");
    assert_eq!(job["kind"], "identify_upload");
    assert!(is_rfc3339_z(&job["created_at"]) && is_rfc3339_z(&job["updated_at"]));
    assert_eq!(job["finished_at"], Value::Null);

    for frame in &ws.frames[1..] {
        match frame["type"].as_str().unwrap() {
            "message" => {
                assert_eq!(keys(frame), set(&["type", "message", "timestamp"]));
                assert!(is_rfc3339_z(&frame["timestamp"]));
            }
            "status" => {
                assert_eq!(
                    keys(frame),
                    set(&["type", "status", "timestamp", "error"]),
                    "{frame}"
                );
                assert!(is_rfc3339_z(&frame["timestamp"]));
            }
            "result" => assert_eq!(keys(frame), set(&["type", "result"])),
            other => panic!("unexpected frame type {other}"),
        }
    }
    let n = ws.frames.len();
    assert_eq!(ws.frames[n - 2]["status"], "completed");
    assert_eq!(ws.frames[n - 1]["type"], "result");

    // Snapshot messages + streamed messages = the stored messages, each exactly once.
    let (_, stored) = get_json(&server.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    let mut seen: Vec<Value> = job["messages"].as_array().unwrap().clone();
    seen.extend(
        ws.frames
            .iter()
            .filter(|f| f["type"] == "message")
            .map(|f| f["message"].clone()),
    );
    assert_eq!(Value::Array(seen), stored["messages"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_gets_its_snapshot_then_a_normal_close() {
    let (_media, _fakes, server) = start(Duration::ZERO, |_| {}).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    let ws = follow_ws(
        &server.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(ws.frames.len(), 1, "{ws:?}");
    assert_eq!(ws.frames[0]["job"]["status"], "completed");
    assert_eq!(ws.close_code, Some(NORMAL));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_denial_closes_with_1008() {
    let (_media, _fakes, server) = start(Duration::ZERO, |_| {}).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    let (_, other) = user_with_token(&server.state, "someone", &["identify"], &[]);
    let url = server.ws_url(&format!("/ws/jobs/{job_id}"));
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no credentials", vec![]),
        ("invalid token", vec![("X-API-Token", "not-a-token")]),
        (
            "invalid session",
            vec![("Cookie", "recozik_session=forged")],
        ),
        ("someone else's job", vec![("X-API-Token", other.as_str())]),
    ];
    for (case, headers) in cases {
        let ws = follow_ws(&url, &headers, Duration::from_secs(10)).await;
        assert_eq!(ws.close_code, Some(POLICY), "{case}: {ws:?}");
        assert!(ws.frames.is_empty(), "{case}: {ws:?}");
    }
    let missing = server.ws_url(&format!("/ws/jobs/{}", "f".repeat(32)));
    let ws = follow_ws(
        &missing,
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(ws.close_code, Some(POLICY));
    // A query-string token is ignored, not used.
    let query = server.ws_url(&format!("/ws/jobs/{job_id}?token={ADMIN_TOKEN}"));
    let ws = follow_ws(&query, &[], Duration::from_secs(10)).await;
    assert_eq!(ws.close_code, Some(POLICY));
    // A plain GET is not an upgrade.
    let response = client()
        .get(server.url(&format!("/ws/jobs/{job_id}")))
        .header("X-API-Token", ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sockets_check_the_origin() {
    let (_media, _fakes, server) = start(Duration::ZERO, |s| {
        s.cors_origins = vec!["https://app.example.org".to_owned()];
    })
    .await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    let session = server
        .state
        .auth
        .login("admin", ADMIN_PASSWORD, false)
        .unwrap();
    let cookie = format!("recozik_session={}", session.access_token);
    let url = server.ws_url(&format!("/ws/jobs/{job_id}"));
    let own_origin = format!("http://{}", server.addr);

    let foreign = follow_ws(
        &url,
        &[("Cookie", &cookie), ("Origin", "https://evil.example.com")],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(foreign.close_code, Some(POLICY), "{foreign:?}");
    assert!(foreign.frames.is_empty());
    for origin in ["https://app.example.org", own_origin.as_str()] {
        let ws = follow_ws(
            &url,
            &[("Cookie", &cookie), ("Origin", origin)],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(ws.close_code, Some(NORMAL), "{origin}: {ws:?}");
        assert_eq!(ws.frames[0]["type"], "snapshot");
    }
    // A token is not a browser credential: no Origin rule.
    let ws = follow_ws(
        &url,
        &[
            ("X-API-Token", ADMIN_TOKEN),
            ("Origin", "https://evil.example.com"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_pings_and_lets_a_client_leave() {
    let (_media, _fakes, server) = start(Duration::from_secs(3), |_| {}).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    let mut request = server
        .ws_url(&format!("/ws/jobs/{job_id}"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("X-API-Token", ADMIN_TOKEN.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = socket.next().await.unwrap().unwrap();
    assert!(matches!(first, Message::Text(_)));
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Pong(bytes) => break bytes,
            Message::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    // The client leaves mid-job; the server answers the close and the job goes on.
    socket.close(None).await.unwrap();
    let job = wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed");
    server.stop().await;
}
