//! The runtime with kinds of its own: what adding a job kind takes (a type implementing
//! `JobKind`, one `register` call), and how the worker dispatches, records and cleans up,
//! on a real SQLite queue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use recozik_auth::{Auth, AuthSettings};
use recozik_core::Services;
use recozik_core::identify::ServicesConfig;
use recozik_jobs::kind::LEGACY_KIND;
use recozik_jobs::{
    JobContext, JobFailure, JobKind, JobsConfig, Progress, Registry, UNEXPECTED_ERROR, WorkerPool,
    enqueue,
};
use recozik_storage::{Job, JobStatus, NewJob, PoolOptions, QueueOptions, Storage, StorageConfig};
use serde::{Deserialize, Serialize};

/// A kind that echoes its text, with one progress message.
struct Echo;

#[derive(Debug, Serialize, Deserialize)]
struct EchoPayload {
    text: String,
}

#[async_trait]
impl JobKind for Echo {
    const NAME: &'static str = "echo";
    type Payload = EchoPayload;
    type Output = serde_json::Value;

    async fn run(
        &self,
        _context: &JobContext,
        _job: &Job,
        payload: EchoPayload,
        progress: &Progress,
    ) -> Result<serde_json::Value, JobFailure> {
        progress.message(format!("echoing {}", payload.text));
        if payload.text == "refuse" {
            return Err(JobFailure::Client("Refused on purpose".to_owned()));
        }
        Ok(serde_json::json!({ "echo": payload.text }))
    }
}

/// A kind that counts its cleanups (and keeps the default's file deletion out of it).
struct Counted(Arc<AtomicUsize>);

#[derive(Debug, Serialize, Deserialize)]
struct Empty {}

#[async_trait]
impl JobKind for Counted {
    const NAME: &'static str = LEGACY_KIND;
    type Payload = Empty;
    type Output = ();

    async fn run(
        &self,
        _context: &JobContext,
        _job: &Job,
        _payload: Empty,
        _progress: &Progress,
    ) -> Result<(), JobFailure> {
        Ok(())
    }

    fn cleanup(&self, _job: &Job) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn context(dir: &Path, registry: Registry) -> JobContext {
    let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
    let storage = Storage::open(&StorageConfig {
        auth_url: url("auth.db"),
        jobs_url: url("jobs.db"),
        pool: PoolOptions::default(),
        queue: QueueOptions::default(),
    })
    .unwrap();
    let auth = Auth::new(storage.auth.clone(), AuthSettings::default()).unwrap();
    let services = Services::new(&ServicesConfig::default()).unwrap();
    let config = JobsConfig {
        workers: 2,
        lease: Duration::from_secs(5),
        upload_dir: dir.join("uploads"),
        ..JobsConfig::default()
    };
    JobContext::new(config, storage, auth, services, registry)
}

fn new_job(upload: Option<&Path>) -> NewJob {
    NewJob {
        id: None,
        owner_id: None,
        payload: String::new(),
        upload_path: upload.map(|path| path.display().to_string()),
        max_attempts: None,
    }
}

async fn wait_terminal(context: &JobContext, id: &str) -> Job {
    let start = Instant::now();
    loop {
        let job = context.queue().get(id).await.unwrap().unwrap();
        if job.status.is_terminal() {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {id} never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kind_runs_through_the_unchanged_worker_loop() {
    let dir = tempfile::tempdir().unwrap();
    let cleanups = Arc::new(AtomicUsize::new(0));
    let registry = Registry::new()
        .register(Echo)
        .register(Counted(cleanups.clone()));
    assert_eq!(registry.names(), vec!["echo", LEGACY_KIND]);
    let context = context(dir.path(), registry);
    let pool = WorkerPool::start(context.clone());
    let queue = &context.storage().queue;

    // Completed, with its progress message and result; its upload (default cleanup) deleted.
    std::fs::create_dir_all(dir.path().join("uploads")).unwrap();
    let upload = dir
        .path()
        .join("uploads/0123456789abcdef0123456789abcdef.bin");
    std::fs::write(&upload, b"data").unwrap();
    let echo = EchoPayload {
        text: "hello".to_owned(),
    };
    let job = enqueue::<Echo>(queue, &echo, new_job(Some(&upload))).unwrap();
    assert!(job.payload.contains(r#""kind":"echo""#), "{}", job.payload);
    let done = wait_terminal(&context, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result.as_deref(), Some(r#"{"echo":"hello"}"#));
    assert_eq!(done.messages, vec!["echoing hello".to_owned()]);
    assert!(!upload.exists(), "the finished job's upload is deleted");

    // A client failure: "Error: <text>" in the messages, the text as the job's error.
    let refuse = EchoPayload {
        text: "refuse".to_owned(),
    };
    let job = enqueue::<Echo>(queue, &refuse, new_job(None)).unwrap();
    let failed = wait_terminal(&context, &job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("Refused on purpose"));
    assert_eq!(
        failed.messages.last().map(String::as_str),
        Some("Error: Refused on purpose")
    );

    // A row without a `kind` key (written before kinds existed) goes to the legacy kind,
    // whose own cleanup runs.
    let mut legacy = new_job(None);
    legacy.payload = "{}".to_owned();
    let job = queue.enqueue(&legacy).unwrap();
    assert_eq!(
        wait_terminal(&context, &job.id).await.status,
        JobStatus::Completed
    );
    assert_eq!(cleanups.load(Ordering::SeqCst), 1);

    // An unknown kind is an internal failure: logged, never shown.
    let mut unknown = new_job(None);
    unknown.payload = r#"{"kind":"from_the_future"}"#.to_owned();
    let job = queue.enqueue(&unknown).unwrap();
    let failed = wait_terminal(&context, &job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some(UNEXPECTED_ERROR));

    pool.shutdown(Duration::from_secs(2)).await;
}
