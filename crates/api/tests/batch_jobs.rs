//! Library batches over HTTP against a fake AcoustID that answers `batch=1` lookups: a folder
//! identified in one job with batched requests, its progress, the JSONL/CSV/text exports, the
//! quota running out midway, and hostile selections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::batch::{
    BatchAcoustId, check_sample_dry_run, get_text, lookup_endpoint, post_batch, post_json,
    sample_library,
};
use support::*;
use wiremock::MockServer;

struct Setup {
    media: tempfile::TempDir,
    acoustid: MockServer,
    fake: BatchAcoustId,
    _fakes: Fakes,
    server: TestServer,
}

async fn start(configure: impl FnOnce(&mut recozik_api::Settings)) -> Setup {
    let media = tempfile::tempdir().unwrap();
    sample_library(media.path());
    let fakes = Fakes::start().await;
    let fake = BatchAcoustId::default();
    let acoustid = fake.serve().await;
    let mut settings = server_settings(media.path(), &fakes);
    settings.acoustid_endpoint = lookup_endpoint(&acoustid);
    settings.musicbrainz_enabled = false;
    configure(&mut settings);
    let server = TestServer::start(settings);
    Setup {
        media,
        acoustid,
        fake,
        _fakes: fakes,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_identified_in_one_job_with_batched_lookups_and_exported() {
    let setup = start(|_| {}).await;
    let base = setup.server.url("");
    let (status, queued) = post_batch(
        &base,
        ADMIN_TOKEN,
        &json!({"directory": "lib", "recursive": true, "limit": 2, "template": "{artist} | {title}"}),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["kind"], "batch");
    assert_eq!(
        queued["files"], 7,
        "six audio files and the broken one; no link"
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
    assert_eq!(job["kind"], "batch");
    assert_eq!(
        job["progress"],
        json!({"total": 7, "done": 7, "identified": 6, "unmatched": 0, "failed": 1})
    );
    assert_eq!(job["result"]["identified"], 6);
    assert_eq!(
        setup.fake.fingerprints_sent(),
        6,
        "each fingerprint looked up once"
    );
    assert!(setup.fake.requests() < 6, "fingerprints share requests");

    check_exports(&setup, &job_id).await;
    drop(setup.acoustid);
    setup.server.stop().await;
}

/// The JSONL, CSV and text exports of the folder batch, and their hostile parameters.
async fn check_exports(setup: &Setup, job_id: &str) {
    let url = setup.server.url(&format!("/jobs/{job_id}/results"));
    let (status, kind, jsonl) = get_text(&url, ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/x-ndjson"), "{kind}");
    let entries: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 7);
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths[0], "lib/01 first.mp3",
        "relative to the media root, sorted"
    );
    assert!(paths.contains(&"lib/disc 2/06 sixth.m4a"));
    let broken = entries
        .iter()
        .find(|e| e["path"] == "lib/07 broken.mp3")
        .unwrap();
    assert_eq!(broken["status"], "error");
    assert!(
        broken["error"]
            .as_str()
            .is_some_and(|e| !e.contains(setup.media.path().to_str().unwrap()))
    );
    let first = &entries[0];
    assert_eq!(first["status"], "ok");
    assert_eq!(first["matches"][0]["rank"], 1);
    assert_eq!(first["matches"][0]["formatted"], "Artiste | Chanson");
    assert_eq!(first["matches"][0]["album"], "Album");
    assert_eq!(first["matches"][0]["release_id"], "rel-1");

    let (status, kind, csv) = get_text(&format!("{url}?format=csv"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert!(csv.starts_with("path,status,rank"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        8,
        "a header and one row per file (one match each)"
    );

    let (status, _, text) = get_text(&format!("{url}?format=text&status=error"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert!(text.starts_with("file: lib/07 broken.mp3\n"), "{text}");
    assert_eq!(text.matches("file: ").count(), 1);

    for bad in ["?format=xml", "?status=maybe"] {
        let (status, _, body) = get_text(&format!("{url}{bad}"), ADMIN_TOKEN).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, _) = get_text(
        &setup
            .server
            .url("/jobs/0123456789abcdef0123456789abcdef/results"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_quota_runs_out_the_remaining_files_say_so_and_the_job_completes() {
    let setup = start(|_| {}).await;
    let base = setup.server.url("");
    let (_, token) = user_with_token(
        &setup.server.state,
        "metered",
        &["identify", "identify_batch"],
        &[("acoustid_lookup", 2)],
    );
    let (status, queued) = post_batch(
        &base,
        &token,
        &json!({"paths": ["lib/01 first.mp3", "lib/02 second.flac", "lib/03 third.ogg", "lib/04 fourth.wav"]}),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let job = wait_job(&base, &token, &job_id, Duration::from_mins(2), is_terminal).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["identified"], 2, "{job}");
    assert_eq!(job["progress"]["failed"], 2, "{job}");
    let (_, _, jsonl) = get_text(
        &setup
            .server
            .url(&format!("/jobs/{job_id}/results?status=error")),
        &token,
    )
    .await;
    for line in jsonl.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let error = entry["error"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(error.contains("quota"), "{entry}");
    }
    // Another user cannot read these results.
    let (_, other) = user_with_token(&setup.server.state, "other", &["identify"], &[]);
    let (status, _, _) = get_text(
        &setup.server.url(&format!("/jobs/{job_id}/results")),
        &other,
    )
    .await;
    assert_eq!(status, 403);
    setup.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_empty_selections_are_clear_client_errors() {
    let setup = start(|_| {}).await;
    let base = setup.server.url("");
    let cases = [
        (json!({"directory": "../"}), 400, "path_traversal"),
        (json!({"directory": "/etc"}), 400, "path_traversal"),
        (json!({"directory": "nowhere"}), 404, "directory_not_found"),
        (
            json!({"directory": "lib/notes.txt"}),
            400,
            "not_a_directory",
        ),
        (
            json!({"directory": "lib", "extensions": ["txt2"]}),
            400,
            "no_audio_files",
        ),
        (
            json!({"directory": "lib", "patterns": ["[unclosed"]}),
            400,
            "invalid_pattern",
        ),
        (
            json!({"directory": "lib", "paths": ["lib/01 first.mp3"]}),
            400,
            "invalid_batch_selection",
        ),
        (json!({}), 400, "invalid_batch_selection"),
        (json!({"paths": ["lib/08 link.mp3"]}), 400, "symbolic_link"),
        (
            json!({"paths": ["../../etc/passwd"]}),
            400,
            "path_traversal",
        ),
        (
            json!({"paths": ["lib/missing.mp3"]}),
            404,
            "audio_not_found",
        ),
        (json!({"paths": []}), 400, "no_audio_files"),
        (
            json!({"paths": ["lib/notes.txt"]}),
            400,
            "extension_not_allowed",
        ),
        (
            json!({"directory": "lib", "limit": 0}),
            400,
            "invalid_limit",
        ),
        (
            json!({"directory": "lib", "limit": 11}),
            400,
            "invalid_limit",
        ),
        (
            json!({"directory": "lib", "template": "x".repeat(600)}),
            400,
            "invalid_template",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = post_batch(&base, ADMIN_TOKEN, &body).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains(setup.media.path().to_str().unwrap()),
            "no server path in {detail}"
        );
    }
    let (got, answer) = post_batch(
        &base,
        ADMIN_TOKEN,
        &json!({"directory": "lib", "limit": "x"}),
    )
    .await;
    assert_eq!(got, 422, "{answer}");
    let (_, token) = user_with_token(&setup.server.state, "single", &["identify"], &[]);
    let (got, answer) = post_batch(&base, &token, &json!({"directory": "lib"})).await;
    assert_eq!(
        (got, answer["code"].as_str()),
        (403, Some("feature_denied")),
        "{answer}"
    );
    let (got, _) = post_batch(&base, "not-a-token", &json!({"directory": "lib"})).await;
    assert_eq!(got, 401);
    setup.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_are_planned_applied_journaled_and_undone() {
    let setup = start(|_| {}).await;
    let base = setup.server.url("");
    let (_, queued) = post_batch(&base, ADMIN_TOKEN, &json!({"directory": "lib"})).await;
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let renames = setup.server.url(&format!("/jobs/{job_id}/renames"));
    let undo = setup.server.url(&format!("/jobs/{job_id}/renames/undo"));
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(2),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");

    let (status, plan) = post_json(&renames, ADMIN_TOKEN, &json!({})).await;
    assert_eq!(status, 200, "{plan}");
    check_sample_dry_run(&plan, setup.media.path());

    for (body, code) in [
        (json!({"on_conflict": "merge"}), "invalid_on_conflict"),
        (json!({"backup_dir": "../outside"}), "path_traversal"),
        (json!({"template": "y".repeat(600)}), "invalid_template"),
    ] {
        let (status, answer) = post_json(&renames, ADMIN_TOKEN, &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{body}: {answer}"
        );
    }
    let (_, reader) = user_with_token(&setup.server.state, "reader", &["identify"], &[]);
    let (status, _) = post_json(&renames, &reader, &json!({"apply": true})).await;
    assert_eq!(status, 403, "another user's batch");
    let (status, answer) = post_json(&undo, ADMIN_TOKEN, &json!({})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("nothing_to_undo")),
        "{answer}"
    );

    let (status, applied) = post_json(
        &renames,
        ADMIN_TOKEN,
        &json!({"apply": true, "backup_dir": "backups"}),
    )
    .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["applied"], true);
    let lib = setup.media.path().join("lib");
    assert!(lib.join("Artiste - Chanson.mp3").is_file());
    assert!(!lib.join("01 first.mp3").exists());
    assert!(
        setup
            .media
            .path()
            .join("backups/lib/01 first.mp3")
            .is_file(),
        "backup copy"
    );
    assert!(
        lib.join("08 link.mp3").is_symlink(),
        "the link is left alone"
    );

    // A renamed file that changes afterwards is not moved back; the others are.
    std::fs::write(lib.join("Artiste - Chanson.flac"), b"changed since").unwrap();
    let (status, undone) = post_json(&undo, ADMIN_TOKEN, &json!({})).await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["refused"].as_array().unwrap().len(), 1, "{undone}");
    assert!(lib.join("01 first.mp3").is_file());
    assert!(lib.join("disc 2/05 fifth.mp3").is_file());
    assert!(
        lib.join("Artiste - Chanson.flac").is_file(),
        "the changed file stays"
    );
    setup.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_sends_progress_and_one_file_event_per_file() {
    let setup = start(|_| {}).await;
    let base = setup.server.url("");
    let (_, queued) = post_batch(
        &base,
        ADMIN_TOKEN,
        &json!({"directory": "lib", "recursive": true}),
    )
    .await;
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let ws = follow_ws(
        &setup.server.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_mins(2),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL), "{ws:?}");
    // Whatever the snapshot caught, the events after it hold every file not yet done then.
    let snapshot_done = ws.frames[0]["job"]["progress"]["done"]
        .as_u64()
        .unwrap_or(0);
    let files: Vec<&Value> = ws.frames.iter().filter(|f| f["type"] == "file").collect();
    assert!(files.len() as u64 + snapshot_done >= 7, "{:?}", ws.frames);
    for frame in &files {
        assert!(frame["entry"]["path"].as_str().unwrap().starts_with("lib/"));
        assert!(frame["timestamp"].is_string());
    }
    let progress: Vec<&Value> = ws
        .frames
        .iter()
        .filter(|f| f["type"] == "progress")
        .collect();
    let last = progress.last().expect("progress events");
    assert_eq!(last["progress"]["done"], 7, "{last}");
    assert_eq!(last["progress"]["total"], 7);
    let statuses: Vec<&str> = ws
        .frames
        .iter()
        .filter(|f| f["type"] == "status")
        .filter_map(|f| f["status"].as_str())
        .collect();
    assert_eq!(statuses.last(), Some(&"completed"), "{statuses:?}");
    setup.server.stop().await;
}
