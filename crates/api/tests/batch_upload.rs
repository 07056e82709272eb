//! `POST /identify/batch/upload`: several files in one multipart body become one batch over
//! the job's own upload folder; refusals keep nothing; the folder goes with the job; renames
//! do not apply; hostile media become error entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::batch::{BatchAcoustId, lookup_endpoint, post_json};
use support::*;

async fn start(
    configure: impl FnOnce(&mut recozik_api::Settings),
) -> (tempfile::TempDir, wiremock::MockServer, Fakes, TestServer) {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let acoustid = BatchAcoustId::default().serve().await;
    let mut settings = server_settings(media.path(), &fakes);
    settings.acoustid_endpoint = lookup_endpoint(&acoustid);
    settings.musicbrainz_enabled = false;
    configure(&mut settings);
    let server = TestServer::start(settings);
    (media, acoustid, fakes, server)
}

fn part(name: &str, bytes: Vec<u8>, kind: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(kind)
        .unwrap()
}

async fn send(base: &str, token: &str, form: reqwest::multipart::Form) -> (u16, Value) {
    answer(
        client()
            .post(format!("{base}/identify/batch/upload"))
            .multipart(form),
        token,
    )
    .await
}

/// Everything under the upload folder (files and folders).
fn uploads(server: &TestServer) -> Vec<std::path::PathBuf> {
    files_in(&server.upload_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_files_are_one_batch_and_their_folder_goes_with_the_job() {
    let (_media, _acoustid, _fakes, server) = start(|_| {}).await;
    let base = server.url("");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            part(
                "Song.mp3",
                fixture_bytes("mp3_cbr_44k_stereo_tagged.mp3"),
                "audio/mpeg",
            ),
        )
        .part(
            "file",
            part(
                "Song.mp3",
                fixture_bytes("mp3_vbr_22k_mono.mp3"),
                "audio/mpeg",
            ),
        )
        .part(
            "file",
            part(
                "../../evil/other.flac",
                fixture_bytes("flac_44k_stereo_tagged.flac"),
                "audio/flac",
            ),
        )
        .part(
            "file",
            part("noise.wav", b"RIFF not really a wav".to_vec(), "audio/wav"),
        )
        .text("limit", "1")
        .text("template", "{title}");
    let (status, queued) = send(&base, ADMIN_TOKEN, form).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(
        (queued["kind"].as_str(), queued["files"].as_u64()),
        (Some("batch"), Some(4))
    );
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(2),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["identified"], 3, "{job}");
    assert_eq!(job["progress"]["failed"], 1, "{job}");
    let (_, _, jsonl) =
        support::batch::get_text(&server.url(&format!("/jobs/{job_id}/results")), ADMIN_TOKEN)
            .await;
    let mut paths: Vec<String> = jsonl
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["Song-2.mp3", "Song.mp3", "noise.wav", "other.flac"],
        "uploaded names, made safe"
    );
    let (status, refused) = post_json(
        &server.url(&format!("/jobs/{job_id}/renames")),
        ADMIN_TOKEN,
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("renames_not_available")),
        "{refused}"
    );
    // The job's cleanup removed its folder.
    wait_until_empty(&server.upload_dir(), Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_keeps_no_file() {
    let (_media, _acoustid, _fakes, server) = start(|settings| {
        settings.max_batch_upload_files = 2;
        settings.max_batch_upload_mb = 1;
    })
    .await;
    let base = server.url("");
    let audio = || part("a.mp3", fixture_bytes("mp3_vbr_22k_mono.mp3"), "audio/mpeg");
    let big = vec![7_u8; 1024 * 1024 + 10];
    let cases: Vec<(reqwest::multipart::Form, u16, &str)> = vec![
        (
            reqwest::multipart::Form::new()
                .part("file", audio())
                .part("file", audio())
                .part("file", audio()),
            400,
            "too_many_files",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", audio())
                .part("file", part("b.mp3", big, "audio/mpeg")),
            413,
            "upload_too_large",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", audio())
                .part("file", part("x.exe", vec![1, 2, 3], "audio/mpeg")),
            400,
            "extension_not_allowed",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", part("doc.mp3", vec![1, 2, 3], "text/plain")),
            415,
            "unsupported_media_type",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", part("empty.mp3", Vec::new(), "audio/mpeg")),
            400,
            "empty_upload",
        ),
        (
            reqwest::multipart::Form::new().text("limit", "2"),
            422,
            "validation_error",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", audio())
                .text("limit", "0"),
            400,
            "invalid_limit",
        ),
    ];
    for (form, status, code) in cases {
        let (got, answer) = send(&base, ADMIN_TOKEN, form).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
        assert!(
            uploads(&server).is_empty(),
            "{code}: {:?}",
            uploads(&server)
        );
    }
    let (_, token) = user_with_token(&server.state, "single", &["identify"], &[]);
    let (got, answer) = send(
        &base,
        &token,
        reqwest::multipart::Form::new().part("file", audio()),
    )
    .await;
    assert_eq!(
        (got, answer["code"].as_str()),
        (403, Some("feature_denied")),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_media_in_a_batch_become_error_entries_and_the_job_completes() {
    let (media, _acoustid, _fakes, server) = start(|_| {}).await;
    let hostile =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/hostile");
    let target = media.path().join("hostile");
    std::fs::create_dir_all(&target).unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(&hostile).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
            copied += 1;
        }
    }
    assert!(copied > 10);
    let base = server.url("");
    let (status, queued) = support::batch::post_batch(
        &base,
        ADMIN_TOKEN,
        &json!({"directory": "hostile", "patterns": ["*"]}),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(3),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    let progress = &job["progress"];
    assert_eq!(progress["done"], progress["total"], "{job}");
    let (_, _, jsonl) = support::batch::get_text(
        &server.url(&format!("/jobs/{job_id}/results?status=error")),
        ADMIN_TOKEN,
    )
    .await;
    for line in jsonl.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let error = entry["error"].as_str().unwrap_or_default();
        assert!(
            !error.is_empty() && !error.contains(media.path().to_str().unwrap()),
            "{entry}"
        );
    }
    server.stop().await;
}
