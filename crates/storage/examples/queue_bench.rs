//! Job-queue throughput: enqueue → claim → complete, on SQLite and (when a server URL is
//! given) PostgreSQL.
//!
//! ```text
//! cargo run --release -p recozik_storage --example queue_bench -- [JOBS] [WORKERS]
//! RECOZIK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres   # optional
//! ```
//!
//! For PostgreSQL a scratch database is created on that server and dropped afterwards.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use recozik_storage::{
    Database, JobQueue, NewJob, PoolOptions, QueueOptions, Result, Schema, StorageError, migrate,
};

const LEASE: Duration = Duration::from_mins(1);

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    println!("queue_bench: {jobs} jobs, {workers} workers (enqueue, then claim+complete)");

    let dir = std::env::temp_dir().join(format!("recozik-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = format!("sqlite://{}", dir.join("jobs.db").display());
    let outcome = bench("sqlite", &sqlite_url, jobs, workers);
    let _ = std::fs::remove_dir_all(&dir);
    outcome?;

    match std::env::var("RECOZIK_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("RECOZIK_TEST_POSTGRES_URL"))
    {
        Ok(server) => {
            let name = format!("recozik_bench_{}", std::process::id());
            let mut admin = PgConnection::establish(&server)?;
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin)?;
            let url = with_database(&server, &name);
            let outcome = bench("postgres", &url, jobs, workers);
            diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .execute(&mut admin)?;
            outcome?;
        }
        Err(_) => println!("postgres: skipped (set RECOZIK_BENCH_POSTGRES_URL)"),
    }
    Ok(())
}

fn bench(label: &str, url: &str, jobs: usize, workers: usize) -> Result<()> {
    let options = PoolOptions {
        max_size: workers as u32 + 1,
        ..PoolOptions::default()
    };
    let db = Database::connect(url, &options)?;
    migrate(&db, Schema::Jobs)?;
    let queue = JobQueue::new(db, QueueOptions::default())?;

    let started = Instant::now();
    for i in 0..jobs {
        queue.enqueue(&NewJob {
            owner_id: Some(1),
            payload: format!(r#"{{"n":{i}}}"#),
            upload_path: Some(format!("/tmp/upload-{i}.mp3")),
            ..NewJob::default()
        })?;
    }
    let enqueue = started.elapsed();

    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let queue = queue.clone();
            std::thread::spawn(move || -> Result<usize> {
                let worker = format!("bench-{w}");
                let mut done = 0;
                while let Some(job) = queue.claim(&worker, LEASE)? {
                    queue.complete(&job.id, &worker, r#"{"matches":[]}"#)?;
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut processed = 0;
    for h in handles {
        processed += h
            .join()
            .map_err(|_| StorageError::Task("bench worker panicked".into()))??;
    }
    let process = started.elapsed();
    if processed != jobs {
        return Err(StorageError::Corrupt(format!(
            "processed {processed} of {jobs} jobs"
        )));
    }
    let total = enqueue + process;
    println!(
        "{label:>8}: enqueue {:>7.0} jobs/s | claim+complete ({workers} workers) {:>7.0} jobs/s | end to end {:>7.0} jobs/s",
        jobs as f64 / enqueue.as_secs_f64(),
        jobs as f64 / process.as_secs_f64(),
        jobs as f64 / total.as_secs_f64(),
    );
    Ok(())
}

fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (main, query) = rest.split_once('?').map_or((rest, ""), |(m, q)| (m, q));
    let authority = main.split('/').next().unwrap_or(main);
    if query.is_empty() {
        format!("{scheme}://{authority}/{name}")
    } else {
        format!("{scheme}://{authority}/{name}?{query}")
    }
}
