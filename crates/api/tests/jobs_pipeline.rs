//! End to end: upload a real audio file, follow the job over the WebSocket to its end, against
//! a fake AcoustID and a fake MusicBrainz on 127.0.0.1; and the failure paths (bad audio,
//! AcoustID down, quota exceeded, a revoked token, feature denied at the upload pre-check).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

async fn start(healthy: bool) -> (tempfile::TempDir, Fakes, TestServer) {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    if healthy {
        fakes.healthy(Duration::from_millis(300)).await;
    } else {
        fakes.acoustid_down().await;
    }
    let server = TestServer::start(server_settings(media.path(), &fakes));
    (media, fakes, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_follow_the_job_to_completed_over_the_websocket() {
    let (_media, fakes, server) = start(true).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    let ws = follow_ws(
        &server.ws_url(&format!("/ws/jobs/{job_id}?token=ignored")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL), "{ws:?}");
    let snapshot = &ws.frames[0];
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["job"]["job_id"], job_id.as_str());

    // Whatever the snapshot caught, the socket ends with completed then result.
    let result = if snapshot["job"]["status"] == "completed" {
        snapshot["job"]["result"].clone()
    } else {
        let n = ws.frames.len();
        assert!(n >= 3, "{ws:?}");
        assert_eq!(ws.frames[n - 2]["type"], "status");
        assert_eq!(ws.frames[n - 2]["status"], "completed");
        assert_eq!(ws.frames[n - 2]["error"], Value::Null);
        assert_eq!(ws.frames[n - 1]["type"], "result");
        ws.frames[n - 1]["result"].clone()
    };
    assert_eq!(result["match_source"], "acoustid", "{result}");
    assert_eq!(result["matches"][0]["recording_id"], MBID);
    assert_eq!(
        result["matches"][0]["title"], MB_TITLE,
        "MusicBrainz did not complete the match"
    );
    assert!(
        result["fingerprint"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );
    assert!(result["duration_seconds"].as_f64().is_some_and(|d| d > 1.0));
    assert_eq!(fakes.acoustid_calls().await, 1);
    assert!(
        !fakes
            .musicbrainz
            .received_requests()
            .await
            .unwrap()
            .is_empty()
    );

    // The stored job holds the same result and every progress message, in order.
    let (_, job) = get_json(&server.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["result"], result);
    assert!(job["finished_at"].as_str().unwrap().ends_with('Z'));
    let messages: Vec<&str> = job["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"Computing the audio fingerprint."),
        "{messages:?}"
    );
    let streamed: Vec<&str> = ws
        .frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.ends_with(&streamed),
        "socket {streamed:?} vs stored {messages:?}"
    );
    wait_until_empty(&server.upload_dir(), Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_audio_fails_the_job_with_a_clear_error_and_no_path() {
    let (_media, fakes, server) = start(true).await;
    let form = file_form(
        fixture_bytes("bad/text.mp3"),
        "notes.mp3",
        Some("audio/mpeg"),
    );
    let (status, body) = upload(&server.url(""), ADMIN_TOKEN, form).await;
    assert_eq!(status, 200, "{body}");
    let job_id = body["job_id"].as_str().unwrap();
    let ws = follow_ws(
        &server.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL));
    let job = wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        job_id,
        Duration::from_secs(5),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().unwrap();
    assert!(
        !error.contains(&server.upload_dir().display().to_string()),
        "{error}"
    );
    assert!(
        !error.contains(job_id),
        "the error names the upload file: {error}"
    );
    let last = job["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(last, format!("Error: {error}"));
    assert_eq!(job["result"], Value::Null);
    if ws.frames[0]["job"]["status"] != "failed" {
        let last = ws.frames.last().unwrap();
        assert_eq!(last["type"], "status");
        assert_eq!(last["status"], "failed");
        assert_eq!(last["error"], error);
        assert!(!ws.frames.iter().any(|f| f["type"] == "result"));
    }
    assert_eq!(fakes.acoustid_calls().await, 0);
    wait_until_empty(&server.upload_dir(), Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acoustid_down_fails_the_job() {
    let (_media, fakes, server) = start(false).await;
    let job_id = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    let ws = follow_ws(
        &server.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL), "{ws:?}");
    let job = wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(5),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("AcoustID"), "{error}");
    assert!(fakes.acoustid_calls().await >= 1);
    wait_until_empty(&server.upload_dir(), Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_fails_the_second_job() {
    let (_media, fakes, server) = start(true).await;
    let (_, token) = user_with_token(
        &server.state,
        "metered",
        &["identify"],
        &[("acoustid_lookup", 1)],
    );
    let first = upload_fixture(&server.url(""), &token).await;
    let job = wait_job(
        &server.url(""),
        &token,
        &first,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    let second = upload_fixture(&server.url(""), &token).await;
    let job = wait_job(
        &server.url(""),
        &token,
        &second,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("Quota exceeded"),
        "{job}"
    );
    assert_eq!(fakes.acoustid_calls().await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_while_its_job_waits_fails_the_job() {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::from_secs(2)).await;
    let mut settings = server_settings(media.path(), &fakes);
    settings.workers = 1;
    let server = TestServer::start(settings);
    let (user_id, token) = user_with_token(&server.state, "leaver", &["identify"], &[]);
    // The admin's job keeps the only worker busy while the user's job waits.
    let blocker = upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &blocker,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    let waiting = upload_fixture(&server.url(""), &token).await;
    let tokens = server.state.auth.list_tokens().unwrap();
    let public_id = tokens
        .iter()
        .find(|t| t.user_id == user_id)
        .unwrap()
        .id
        .clone();
    server.state.auth.revoke_token(&public_id).unwrap();
    let job = wait_job(
        &server.url(""),
        ADMIN_TOKEN,
        &waiting,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed");
    assert_eq!(
        job["error"],
        "The API token that submitted this job has been revoked"
    );
    assert!(
        files_in(&server.upload_dir())
            .iter()
            .all(|f| !f.display().to_string().contains(&waiting))
    );
    server.stop().await;
}
