//! The hostile corpus of the core fixtures (`cargo xtask fixtures`) through `from-path` and
//! through uploads, against a real server: each file gets a 200 or a clear 4xx, or a job that
//! ends, in seconds; no response is a 5xx; the marker audio file outside the media root (and
//! beside the uploads) never reaches AcoustID; and after two live HLS playlists the next job is
//! still served. Every file's outcome is written to the test output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use recozik_core::{FingerprintOptions, fingerprint_file};
use serde_json::{Value, json};
use support::*;

/// Where the absolute-path playlists of the corpus point (`xtask/src/hostile.rs`).
const ABSOLUTE_MARKER: &str = "/tmp/recozik-hostile/marker.mp3";

fn report(line: &str) {
    // Past the harness's capture, so the outcomes show in the suite's log.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn hostile_dir() -> PathBuf {
    fixture("hostile")
}

fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(hostile_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "the hostile corpus is missing files");
    names
}

/// A media root holding the hostile files, with the marker beside the root, inside it, beside
/// the uploads and at the absolute path; returns the marker's fingerprint.
fn lay_out(media: &Path) -> (PathBuf, String) {
    static STAGED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let root = media.join("root");
    std::fs::create_dir_all(root.join("uploads")).unwrap();
    for name in hostile_names() {
        std::fs::copy(hostile_dir().join(&name), root.join(&name)).unwrap();
    }
    let marker = fixture("marker/marker.mp3");
    for copy in [
        media.join("marker.mp3"),
        root.join("marker.mp3"),
        root.join("uploads/marker.mp3"),
    ] {
        std::fs::copy(&marker, copy).unwrap();
    }
    let absolute = Path::new(ABSOLUTE_MARKER);
    std::fs::create_dir_all(absolute.parent().unwrap()).unwrap();
    let staging = absolute.with_extension(format!(
        "{}.{}.api.tmp",
        std::process::id(),
        STAGED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::copy(&marker, &staging).unwrap();
    std::fs::rename(&staging, absolute).unwrap();
    let fingerprint = fingerprint_file(&marker, &FingerprintOptions::default())
        .unwrap()
        .fingerprint;
    (root, fingerprint)
}

/// Fails when any lookup AcoustID received carried the marker's fingerprint.
async fn assert_marker_never_looked_up(fakes: &Fakes, marker: &str) {
    let requests = fakes.acoustid.received_requests().await.unwrap_or_default();
    for request in &requests {
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            !body.contains(marker),
            "AcoustID received the marker's fingerprint: a hostile file read another file"
        );
    }
    report(&format!(
        "hostile: {} AcoustID lookups, none with the marker",
        requests.len()
    ));
}

async fn start(media: &Path, root: &Path) -> (Fakes, TestServer) {
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::ZERO).await;
    let mut settings = server_settings(media, &fakes);
    root.clone_into(&mut settings.base_media_root);
    settings.decode_timeout_seconds = 20;
    settings.max_queued_jobs_per_user = 0;
    let server = TestServer::start(settings);
    (fakes, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_file_through_from_path_gets_a_clear_answer_in_seconds() {
    let media = tempfile::tempdir().unwrap();
    let (root, marker) = lay_out(media.path());
    let (fakes, server) = start(media.path(), &root).await;
    let mut failures = Vec::new();
    for name in hostile_names() {
        let started = Instant::now();
        let response = client()
            .post(server.url("/identify/from-path"))
            .header("X-API-Token", ADMIN_TOKEN)
            .json(&json!({"audio_path": name}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // `json()` fails on invalid UTF-8: a tag that is not UTF-8 must not break the body.
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let elapsed = started.elapsed();
        report(&format!(
            "hostile from-path {name}: {status} {}; {:.2} s",
            body["code"].as_str().unwrap_or("ok"),
            elapsed.as_secs_f64()
        ));
        if !(status == 200 || (400..500).contains(&status)) || body.is_null() {
            failures.push(format!("{name}: {status} {body}"));
        }
        if elapsed > Duration::from_secs(30) {
            failures.push(format!("{name}: took {:.1} s", elapsed.as_secs_f64()));
        }
        if body["fingerprint"].as_str() == Some(marker.as_str()) {
            failures.push(format!("{name}: answered with the marker's fingerprint"));
        }
        let text = body.to_string();
        if text.contains(&root.display().to_string()) {
            failures.push(format!("{name}: the answer names a server path: {text}"));
        }
    }
    assert_marker_never_looked_up(&fakes, &marker).await;
    assert!(failures.is_empty(), "{failures:#?}");
    server.stop().await;
}

async fn upload_named(server: &TestServer, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    upload(
        &server.url(""),
        ADMIN_TOKEN,
        file_form(bytes, name, Some("audio/mpeg")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_upload_ends_as_a_job_in_seconds_and_the_next_job_is_served() {
    let media = tempfile::tempdir().unwrap();
    let (root, marker) = lay_out(media.path());
    let (fakes, server) = start(media.path(), &root).await;
    let base = server.url("");

    // Two live playlists first: before the fix each one held a worker forever.
    let live = std::fs::read(hostile_dir().join("hls_live_no_end.mp3")).unwrap();
    let mut live_jobs = Vec::new();
    for copy in ["live-1.mp3", "live-2.mp3"] {
        let (status, body) = upload_named(&server, copy, live.clone()).await;
        assert_eq!(status, 200, "{body}");
        live_jobs.push(body["job_id"].as_str().unwrap().to_owned());
    }
    let good = upload_fixture(&base, ADMIN_TOKEN).await;
    let started = Instant::now();
    let served = wait_job(
        &base,
        ADMIN_TOKEN,
        &good,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(served["status"], "completed", "{served}");
    report(&format!(
        "hostile: a good upload behind two live playlists completed in {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    for job_id in &live_jobs {
        let job = wait_job(
            &base,
            ADMIN_TOKEN,
            job_id,
            Duration::from_secs(10),
            is_terminal,
        )
        .await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(
            job["error"]
                .as_str()
                .is_some_and(|e| e.contains("format is not accepted")),
            "{job}"
        );
    }

    let mut failures = Vec::new();
    for name in hostile_names() {
        let started = Instant::now();
        let bytes = std::fs::read(hostile_dir().join(&name)).unwrap();
        let (status, body) = upload_named(&server, &name, bytes).await;
        if status != 200 {
            report(&format!(
                "hostile upload {name}: refused {status} {}",
                body["code"].as_str().unwrap_or("?")
            ));
            if !(400..500).contains(&status) {
                failures.push(format!("{name}: upload answered {status} {body}"));
            }
            continue;
        }
        let job_id = body["job_id"].as_str().unwrap().to_owned();
        let job = wait_job(
            &base,
            ADMIN_TOKEN,
            &job_id,
            Duration::from_secs(30),
            is_terminal,
        )
        .await;
        let elapsed = started.elapsed();
        report(&format!(
            "hostile upload {name}: job {} {}; {:.2} s",
            job["status"].as_str().unwrap_or("?"),
            job["error"].as_str().unwrap_or(""),
            elapsed.as_secs_f64()
        ));
        if job["result"]["fingerprint"].as_str() == Some(marker.as_str()) {
            failures.push(format!("{name}: the job fingerprinted the marker"));
        }
        if job["status"] == "failed"
            && job["error"]
                .as_str()
                .is_some_and(|e| e.contains(&root.display().to_string()))
        {
            failures.push(format!("{name}: the error names a server path: {job}"));
        }
    }
    assert_marker_never_looked_up(&fakes, &marker).await;
    assert!(failures.is_empty(), "{failures:#?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_cache_age_is_a_clear_400() {
    let media = tempfile::tempdir().unwrap();
    let (root, _) = lay_out(media.path());
    std::fs::copy(
        fixture("mp3_cbr_44k_stereo_tagged.mp3"),
        root.join("song.mp3"),
    )
    .unwrap();
    let (_fakes, server) = start(media.path(), &root).await;
    for hours in [u64::from(u32::MAX), 87_601] {
        let response = client()
            .post(server.url("/identify/from-path"))
            .header("X-API-Token", ADMIN_TOKEN)
            .json(
                &json!({"audio_path": "song.mp3", "cache_enabled": true, "cache_ttl_hours": hours}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_cache_ttl", "{body}");
    }
    let response = client()
        .post(server.url("/identify/from-path"))
        .header("X-API-Token", ADMIN_TOKEN)
        .json(&json!({"audio_path": "song.mp3", "cache_enabled": true, "cache_ttl_hours": 87_600}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    server.stop().await;
}
