//! A library batch on PostgreSQL with the real `recozik-web` binary: a folder identified in
//! one job with batched lookups, its progress, the JSONL and CSV exports, and a rename dry
//! run — the main flow of `batch_jobs.rs`, with the jobs and auth databases on PostgreSQL.
//!
//! Needs `RECOZIK_TEST_POSTGRES_URL` (an admin URL; a fresh database is created per test).
//! Without it the test is skipped with a notice, unless `CI` is set, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use recozik_storage::testing::{ScratchDatabase, postgres_admin_url};
use serde_json::{Value, json};
use support::batch::*;
use support::*;

/// The rename plan of the finished batch: a dry run that moves nothing.
async fn check_rename_dry_run(server: &BinaryServer, media: &std::path::Path, job_id: &str) {
    let (status, plan) = post_json(
        &server.url(&format!("/jobs/{job_id}/renames")),
        ADMIN_TOKEN,
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    check_sample_dry_run(&plan, media);
    assert!(!media.join("lib/Artiste - Chanson.mp3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_batch_runs_exports_and_plans_renames_on_postgres() {
    let Some(admin) = postgres_admin_url().expect("PostgreSQL is required under CI") else {
        eprintln!(
            "SKIPPED: RECOZIK_TEST_POSTGRES_URL is not set; the batch test on PostgreSQL did not run"
        );
        return;
    };
    let database = ScratchDatabase::postgres(&admin, "batch_jobs").unwrap();
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    sample_library(&media);
    let fake = BatchAcoustId::default();
    let acoustid = fake.serve().await;
    let vars = batch_server_vars(
        &media,
        &lookup_endpoint(&acoustid),
        &[
            ("jobs_database_url", database.url("shared")),
            ("auth_database_url", database.url("shared")),
        ],
    );
    let server = BinaryServer::start(work.path(), free_port(), &vars).await;
    let base = server.url("");
    let job_id = submit_batch(
        &base,
        ADMIN_TOKEN,
        &json!({"directory": "lib", "recursive": true}),
        7,
    )
    .await;
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(1),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["kind"], "batch");
    assert_eq!(
        job["progress"],
        json!({"total": 7, "done": 7, "identified": 6, "unmatched": 0, "failed": 1})
    );
    assert_eq!(job["result"]["identified"], 6, "{job}");
    assert_eq!(fake.fingerprints_sent(), 6, "{:?}", fake.lookups());
    assert!(fake.requests() < 6, "fingerprints share requests");

    let entries = result_entries(&base, ADMIN_TOKEN, &job_id).await;
    assert_eq!(entries.len(), 7);
    assert_eq!(entries[0]["path"], "lib/01 first.mp3", "sorted, relative");
    let broken: Vec<&Value> = entries.iter().filter(|e| e["status"] == "error").collect();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0]["path"], "lib/07 broken.mp3");
    let (status, _, csv) = get_text(
        &server.url(&format!("/jobs/{job_id}/results?format=csv")),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        csv.lines().count(),
        8,
        "a header and one row per file: {csv}"
    );
    let (_, _, errors) = get_text(
        &server.url(&format!("/jobs/{job_id}/results?status=error")),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(errors.lines().count(), 1, "{errors}");

    check_rename_dry_run(&server, &media, &job_id).await;
    assert!(
        !media.join("jobs.db").exists() && !media.join("auth.db").exists(),
        "everything is on PostgreSQL"
    );
    drop(server);
}
