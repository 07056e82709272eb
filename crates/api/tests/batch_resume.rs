//! Library batches under stress: a batch whose `recozik-web` is killed midway is finished by
//! the next start without looking a file up twice (but for the batch in flight), a cancelled
//! batch stops asking AcoustID and keeps its entries, and two batches at once share the
//! process's AcoustID throttle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use recozik_storage::{JobQueue, JobStatus, PoolOptions, QueueOptions};
use serde_json::{Value, json};
use support::batch::*;
use support::*;

/// Files of the killed batch, and fingerprints per AcoustID request.
const FILES: usize = 30;
const BATCH_SIZE: usize = 5;

fn queue(media: &Path) -> JobQueue {
    let url = format!("sqlite://{}", media.join("jobs.db").display());
    let db = recozik_storage::Database::connect(&url, &PoolOptions::default()).unwrap();
    JobQueue::new(db, QueueOptions::default()).unwrap()
}

/// Every file of `library` has exactly one entry, identified.
fn assert_one_entry_per_file(entries: &[Value], library: &[String]) {
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(paths.len(), library.len(), "one line per file: {paths:?}");
    assert_eq!(
        distinct,
        library.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "every file, once"
    );
    for entry in entries {
        assert_eq!(entry["status"], "ok", "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_midway_resumes_without_looking_files_up_twice() {
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let library = mixed_library(&media, "lib", FILES);
    let fake = BatchAcoustId::with_delay(Duration::from_millis(600));
    let acoustid = fake.serve().await;
    let vars = batch_server_vars(
        &media,
        &lookup_endpoint(&acoustid),
        &[
            ("acoustid_batch_size", BATCH_SIZE.to_string()),
            ("batch_fingerprint_workers", "2".to_owned()),
        ],
    );

    let mut first = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job_id = submit_batch(
        &first.url(""),
        ADMIN_TOKEN,
        &json!({"directory": "lib", "recursive": true}),
        FILES,
    )
    .await;
    let midway = wait_job(
        &first.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(30),
        |j| done(j) > 0 || is_terminal(j),
    )
    .await;
    first.kill_hard();
    assert_eq!(midway["status"], "running", "killed midway: {midway}");
    assert!(done(&midway) < FILES as u64, "killed midway: {midway}");
    let before_kill = fake.fingerprints_sent();

    let second = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job = wait_job(
        &second.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(45),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    let total = FILES as u64;
    let all_identified =
        json!({"total": total, "done": total, "identified": total, "unmatched": 0, "failed": 0});
    assert_eq!(job["progress"], all_identified, "{job}");
    assert_eq!(job["result"], all_identified, "{job}");
    let entries = result_entries(&second.url(""), ADMIN_TOKEN, &job_id).await;
    assert_one_entry_per_file(&entries, &library);

    let counts = fake.fingerprint_counts();
    assert_eq!(
        counts.len(),
        FILES,
        "every file's (distinct) fingerprint was looked up"
    );
    assert!(
        counts.values().all(|&n| n <= 2),
        "a fingerprint looked up more than twice: {counts:?}"
    );
    let sent = fake.fingerprints_sent();
    assert!(
        sent <= FILES + BATCH_SIZE,
        "{sent} fingerprints sent for {FILES} files ({before_kill} before the kill): only the \
         batch in flight may be looked up again"
    );
    let stored = queue(&media).get(&job_id).unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Completed);
    assert_eq!(stored.attempts, 2, "one killed attempt, one that finished");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_stops_asking_acoustid_and_keeps_its_entries() {
    let media = tempfile::tempdir().unwrap();
    let library = melodies(media.path(), "lib", 0..16, 5);
    let fake = BatchAcoustId::with_delay(Duration::from_millis(800));
    let acoustid = fake.serve().await;
    let fakes = Fakes::start().await;
    let mut settings = server_settings(media.path(), &fakes);
    settings.acoustid_endpoint = lookup_endpoint(&acoustid);
    settings.musicbrainz_enabled = false;
    settings.acoustid_batch_size = 2;
    let server = TestServer::start(settings);
    let base = server.url("");
    let job_id = submit_batch(&base, ADMIN_TOKEN, &json!({"directory": "lib"}), 16).await;
    let midway = wait_job(&base, ADMIN_TOKEN, &job_id, Duration::from_secs(30), |j| {
        done(j) >= 2 || is_terminal(j)
    })
    .await;
    assert_eq!(midway["status"], "running", "{midway}");

    let (status, cancelled) =
        delete_json(&server.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // The request in flight may still be answered; the worker then stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = fake.requests();
    let entries = result_entries(&base, ADMIN_TOKEN, &job_id).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        fake.requests(),
        settled,
        "AcoustID was asked again after the cancellation"
    );

    assert!(
        entries.len() >= 2 && entries.len() < library.len(),
        "the entries so far: {entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry["status"], "ok", "{entry}");
        assert!(library.contains(&entry["path"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        result_entries(&base, ADMIN_TOKEN, &job_id).await,
        entries,
        "no entry was added after the cancellation"
    );
    let (_, job) = get_json(&server.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(done(&job), entries.len() as u64, "{job}");
    let (status, _) = delete_json(&server.url(&format!("/jobs/{job_id}")), ADMIN_TOKEN).await;
    assert_eq!(status, 409, "already finished");
    server.stop().await;
}

/// Polls both jobs until both are terminal; returns them, and whether they were ever seen
/// running at the same time.
async fn wait_both(base: &str, jobs: &[(&str, &str); 2], timeout: Duration) -> ([Value; 2], bool) {
    let start = Instant::now();
    let mut together = false;
    loop {
        let (_, a) = get_json(&format!("{base}/jobs/{}", jobs[0].1), jobs[0].0).await;
        let (_, b) = get_json(&format!("{base}/jobs/{}", jobs[1].1), jobs[1].0).await;
        together |= a["status"] == "running" && b["status"] == "running";
        if is_terminal(&a) && is_terminal(&b) {
            return ([a, b], together);
        }
        assert!(start.elapsed() < timeout, "not finished in time: {a} {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_batches_at_once_share_the_acoustid_throttle() {
    let media = tempfile::tempdir().unwrap();
    // Two lengths, so that each request says which batch sent it.
    melodies(media.path(), "alice", 0..9, 5);
    melodies(media.path(), "bob", 100..109, 7);
    let fake = BatchAcoustId::default();
    let acoustid = fake.serve().await;
    let fakes = Fakes::start().await;
    let mut settings = server_settings(media.path(), &fakes);
    settings.acoustid_endpoint = lookup_endpoint(&acoustid);
    settings.musicbrainz_enabled = false;
    settings.acoustid_batch_size = 1;
    // There is no setting for the AcoustID rate: the client's throttle is always 3 requests
    // a second (`AcoustIdConfig::requests_per_second`), shared by the whole process.
    let rate = recozik_core::acoustid::AcoustIdConfig::default().requests_per_second;
    assert!((rate - 3.0).abs() < f64::EPSILON, "{rate}");
    assert!(settings.workers >= 2, "both batches must run at once");
    let server = TestServer::start(settings);
    let base = server.url("");
    let features = ["identify", "identify_batch"];
    let (_, alice) = user_with_token(&server.state, "alice", &features, &[]);
    let (_, bob) = user_with_token(&server.state, "bob", &features, &[]);
    let a = submit_batch(&base, &alice, &json!({"directory": "alice"}), 9).await;
    let b = submit_batch(&base, &bob, &json!({"directory": "bob"}), 9).await;

    let (jobs, together) =
        wait_both(&base, &[(&alice, &a), (&bob, &b)], Duration::from_mins(1)).await;
    // The premise: the two batches ran at the same time.
    assert!(together, "the batches did not run at the same time");
    for job in &jobs {
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["progress"]["identified"], 9, "{job}");
    }
    let lookups = fake.lookups();
    assert_eq!(
        lookups.len(),
        18,
        "one request per fingerprint: {lookups:?}"
    );
    let mut arrivals: Vec<Instant> = lookups.iter().map(|l| l.at).collect();
    arrivals.sort();
    for (i, start) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..]
            .iter()
            .take_while(|at| at.duration_since(*start) < Duration::from_millis(990))
            .count();
        assert!(
            in_window <= 3,
            "{in_window} AcoustID requests within one second (from request {i})"
        );
    }
    // Each batch sent its nine requests (told apart by their durations).
    for seconds in ["5", "7"] {
        let sent = lookups.iter().filter(|l| l.durations == [seconds]).count();
        assert_eq!(sent, 9, "{seconds} s files: {lookups:?}");
    }
    // They took turns: while both ran, neither had the throttle to itself for long (the
    // throttle serves waiters first come, first served).
    let senders: Vec<&str> = lookups
        .iter()
        .filter_map(|l| l.durations.first().map(String::as_str))
        .collect();
    let longest_run = senders
        .chunk_by(|a, b| a == b)
        .map(<[&str]>::len)
        .max()
        .unwrap_or_default();
    assert!(
        longest_run <= 5,
        "one batch kept the throttle to itself: {senders:?}"
    );
    server.stop().await;
}
