//! Two `recozik-web` processes on one PostgreSQL database and one media volume: a job uploaded
//! to and run by instance A is followed over a WebSocket on instance B to `completed`.
//!
//! Needs `RECOZIK_TEST_POSTGRES_URL` (an admin URL; a fresh database is created per test).
//! Without it the test is skipped with a notice, unless `CI` is set, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use recozik_storage::testing::{ScratchDatabase, postgres_admin_url};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_on_one_instance_follows_a_job_run_by_another() {
    let Some(admin) = postgres_admin_url().expect("PostgreSQL is required under CI") else {
        eprintln!(
            "SKIPPED: RECOZIK_TEST_POSTGRES_URL is not set; the two-instance test did not run"
        );
        return;
    };
    let database = ScratchDatabase::postgres(&admin, "two_instances").unwrap();
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::from_secs(4)).await;
    let vars: Vec<(&str, String)> = vec![
        ("base_media_root", media.display().to_string()),
        ("jobs_database_url", database.url("shared")),
        ("auth_database_url", database.url("shared")),
        ("admin_token", ADMIN_TOKEN.to_owned()),
        ("admin_password", ADMIN_PASSWORD.to_owned()),
        ("acoustid_api_key", "api-key".to_owned()),
        ("acoustid_endpoint", fakes.acoustid_endpoint()),
        ("musicbrainz_endpoint", fakes.musicbrainz.uri()),
        ("rate_limit_enabled", "false".to_owned()),
        ("cache_enabled", "false".to_owned()),
        ("job_lease_seconds", "5".to_owned()),
        ("workers", "1".to_owned()),
    ];
    let a_dir = work.path().join("a");
    let b_dir = work.path().join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();

    let a = BinaryServer::start(&a_dir, free_port(), &vars).await;
    let job_id = upload_fixture(&a.url(""), ADMIN_TOKEN).await;
    // A runs it (B does not exist yet, so it cannot claim it).
    wait_job(
        &a.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;

    let b = BinaryServer::start(&b_dir, free_port(), &vars).await;
    let ws = follow_ws(
        &b.ws_url(&format!("/ws/jobs/{job_id}")),
        &[("X-API-Token", ADMIN_TOKEN)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ws.close_code, Some(NORMAL), "{ws:?}");
    assert_eq!(ws.frames[0]["type"], "snapshot");
    // The job was still running on A: B's socket got the end through the database.
    assert_eq!(ws.frames[0]["job"]["status"], "running", "{ws:?}");
    let n = ws.frames.len();
    assert!(n >= 3, "{ws:?}");
    assert_eq!(ws.frames[n - 2]["status"], "completed", "{ws:?}");
    assert_eq!(ws.frames[n - 1]["type"], "result", "{ws:?}");
    let (_, job) = get_json(&b.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["result"]["matches"][0]["recording_id"], MBID);
    assert!(files_in(&media.join("uploads")).is_empty());
    drop(b);
    drop(a);
}
