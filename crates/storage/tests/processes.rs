//! Several OS processes starting at the same moment against the same databases: migrating and
//! seeding must not produce a single error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use recozik_storage::tokens::{self, NewApiToken};
use recozik_storage::users::{self, NewUser};
use recozik_storage::{NewJob, PoolOptions, QueueOptions, Storage, StorageConfig};

const PROCESSES: usize = 8;
const ENV_AUTH: &str = "RECOZIK_STORAGE_CHILD_AUTH_URL";
const ENV_JOBS: &str = "RECOZIK_STORAGE_CHILD_JOBS_URL";
const ENV_START: &str = "RECOZIK_STORAGE_CHILD_START_MS";

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Spawns `PROCESSES` copies of this test binary re-running `parent_test` as children, all
/// released at the same instant, and requires every one to succeed.
fn run_children(parent_test: &str, auth_url: &str, jobs_url: &str) {
    let exe = std::env::current_exe().unwrap();
    let start = unix_ms() + 1500; // leave time for every process to start and wait
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args([parent_test, "--exact", "--nocapture"])
                .env(ENV_AUTH, auth_url)
                .env(ENV_JOBS, jobs_url)
                .env(ENV_START, start.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child {i} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn check_outcome(auth_url: &str, jobs_url: &str, label: &str) {
    let storage = Storage::open(&StorageConfig {
        auth_url: auth_url.to_owned(),
        jobs_url: jobs_url.to_owned(),
        pool: PoolOptions::default(),
        queue: QueueOptions::default(),
    })
    .unwrap();
    let conn = &mut storage.auth.conn().unwrap();
    assert_eq!(users::count(conn).unwrap(), 1, "{label}: one seeded admin");
    let toks = tokens::list(conn).unwrap();
    assert_eq!(toks.len(), 1, "{label}: one seed token");
    assert_eq!(toks[0].seed.as_deref(), Some("admin"));
    assert_eq!(
        storage.queue.list_all(100, 0).unwrap().len(),
        PROCESSES,
        "{label}: one job per process"
    );
}

#[test]
fn eight_processes_migrate_and_seed_the_same_sqlite_files_at_once() {
    if is_child() {
        child_migrate_and_seed();
        return;
    }
    let tdb = common::sqlite();
    run_children(
        "eight_processes_migrate_and_seed_the_same_sqlite_files_at_once",
        tdb.auth_url(),
        tdb.jobs_url(),
    );
    check_outcome(tdb.auth_url(), tdb.jobs_url(), "sqlite");
}

#[test]
fn eight_processes_migrate_and_seed_one_postgres_database_at_once() {
    if is_child() {
        child_migrate_and_seed();
        return;
    }
    let Some(tdb) = common::postgres_only("processes") else {
        return;
    };
    run_children(
        "eight_processes_migrate_and_seed_one_postgres_database_at_once",
        tdb.auth_url(),
        tdb.jobs_url(),
    );
    check_outcome(tdb.auth_url(), tdb.jobs_url(), "postgres");
}

/// True in the child processes: each parent test re-runs itself with the databases to use in
/// the environment.
fn is_child() -> bool {
    std::env::var_os(ENV_START).is_some()
}

/// What each child process does: opens both databases (migrating them), seeds the admin user
/// and token, and enqueues one job.
fn child_migrate_and_seed() {
    let (Ok(auth_url), Ok(jobs_url), Ok(start)) = (
        std::env::var(ENV_AUTH),
        std::env::var(ENV_JOBS),
        std::env::var(ENV_START),
    ) else {
        panic!("run only as a child of the multi-process tests");
    };
    let start: u128 = start.parse().unwrap();
    let now = unix_ms();
    if start > now {
        std::thread::sleep(Duration::from_millis((start - now) as u64));
    }
    let storage = Storage::open(&StorageConfig {
        auth_url,
        jobs_url,
        pool: PoolOptions {
            max_size: 2,
            min_idle: Some(1),
            ..PoolOptions::default()
        },
        queue: QueueOptions::default(),
    })
    .unwrap();
    let conn = &mut storage.auth.conn().unwrap();
    let (admin, _) = users::create_if_missing(
        conn,
        &NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            password_hash: "$argon2id$placeholder".into(),
            is_active: true,
            roles: vec!["admin".into()],
            ..NewUser::default()
        },
    )
    .unwrap();
    tokens::upsert_seed(
        conn,
        &NewApiToken {
            user_id: admin.id,
            digest: "seed-admin-digest".into(),
            hint: "gest".into(),
            display_name: "admin (seed)".into(),
            roles: vec!["admin".into()],
            seed: Some("admin".into()),
            ..NewApiToken::default()
        },
    )
    .unwrap();
    storage
        .queue
        .enqueue(&NewJob {
            owner_id: Some(admin.id),
            ..NewJob::default()
        })
        .unwrap();
}
