//! Restart safety with the real `recozik-web` binary: a job interrupted by SIGKILL is finished
//! exactly once by the next start (or failed once out of attempts), orphaned uploads are
//! removed, and SIGTERM gives running jobs back to the queue without counting the attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use recozik_storage::{JobQueue, JobStatus, PoolOptions, QueueOptions};
use support::*;

fn vars(media: &Path, fakes: &Fakes, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = vec![
        ("base_media_root", media.display().to_string()),
        ("admin_token", ADMIN_TOKEN.to_owned()),
        ("admin_password", ADMIN_PASSWORD.to_owned()),
        ("acoustid_api_key", "api-key".to_owned()),
        ("acoustid_endpoint", fakes.acoustid_endpoint()),
        ("musicbrainz_endpoint", fakes.musicbrainz.uri()),
        ("rate_limit_enabled", "false".to_owned()),
        ("cache_enabled", "false".to_owned()),
        ("job_lease_seconds", "5".to_owned()),
        ("workers", "1".to_owned()),
        ("shutdown_grace_seconds", "1".to_owned()),
    ];
    for (name, value) in extra {
        let name: &'static str = match *name {
            "job_max_attempts" => "job_max_attempts",
            other => panic!("unknown extra setting {other}"),
        };
        vars.push((name, (*value).to_owned()));
    }
    vars
}

fn queue(media: &Path) -> JobQueue {
    let url = format!("sqlite://{}", media.join("jobs.db").display());
    let db = recozik_storage::Database::connect(&url, &PoolOptions::default()).unwrap();
    JobQueue::new(db, QueueOptions::default()).unwrap()
}

fn terminal_events(queue: &JobQueue, job_id: &str) -> usize {
    queue
        .events_after(job_id, 0)
        .unwrap()
        .iter()
        .filter(|e| e.is_terminal_status())
        .count()
}

/// An upload file left by a process killed while receiving it (an hour old).
fn plant_orphan(upload_dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(upload_dir).unwrap();
    let path = upload_dir.join("0123456789abcdef0123456789abcdef.mp3");
    let file = std::fs::File::create(&path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_hours(1))
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_run_finishes_exactly_once_after_restart() {
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let uploads = media.join("uploads");
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::from_secs(3)).await;
    let vars = vars(&media, &fakes, &[]);

    let mut first = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job_id = upload_fixture(&first.url(""), ADMIN_TOKEN).await;
    wait_job(
        &first.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    first.kill_hard();
    assert_eq!(
        files_in(&uploads).len(),
        1,
        "the running job's upload must survive the crash"
    );
    let orphan = plant_orphan(&uploads);

    let second = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job = wait_job(
        &second.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(1),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"]["matches"][0]["recording_id"], MBID);
    assert!(!orphan.exists(), "the orphaned upload was not removed");

    let queue = queue(&media);
    let stored = queue.get(&job_id).unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Completed);
    assert_eq!(stored.attempts, 2, "one crashed attempt, one that finished");
    assert_eq!(
        terminal_events(&queue, &job_id),
        1,
        "the job reached a terminal state more than once"
    );
    assert!(
        files_in(&uploads).is_empty(),
        "uploads left: {:?}",
        files_in(&uploads)
    );
    // The crashed attempt and the finishing one both asked AcoustID; nothing else did.
    assert!(fakes.acoustid_calls().await <= 2);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_out_of_attempts_fails_with_a_clear_error_after_restart() {
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let uploads = media.join("uploads");
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::from_secs(3)).await;
    let vars = vars(&media, &fakes, &[("job_max_attempts", "1")]);

    let mut first = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job_id = upload_fixture(&first.url(""), ADMIN_TOKEN).await;
    wait_job(
        &first.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    first.kill_hard();

    let second = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job = wait_job(
        &second.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(1),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("abandoned"),
        "{job}"
    );
    assert_eq!(terminal_events(&queue(&media), &job_id), 1);
    assert!(files_in(&uploads).is_empty());
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_a_running_job_back_without_counting_the_attempt() {
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let fakes = Fakes::start().await;
    // Longer than the grace period (1 s for HTTP, then 1 s for the workers).
    fakes.healthy(Duration::from_secs(6)).await;
    let vars = vars(&media, &fakes, &[]);

    let mut first = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job_id = upload_fixture(&first.url(""), ADMIN_TOKEN).await;
    wait_job(
        &first.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    first.terminate();
    let queue = queue(&media);
    let released = queue.get(&job_id).unwrap().unwrap();
    assert_eq!(released.status, JobStatus::Queued, "{released:?}");
    assert_eq!(released.attempts, 0);
    assert_eq!(files_in(&media.join("uploads")).len(), 1);

    let second = BinaryServer::start(work.path(), free_port(), &vars).await;
    let job = wait_job(
        &second.url(""),
        ADMIN_TOKEN,
        &job_id,
        Duration::from_mins(1),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(queue.get(&job_id).unwrap().unwrap().attempts, 1);
    assert_eq!(terminal_events(&queue, &job_id), 1);
    drop(second);
}
