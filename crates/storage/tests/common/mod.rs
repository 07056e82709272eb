//! Test helper: every repository test runs once per backend, each run on its own database.
//!
//! * SQLite: files in a fresh temporary directory.
//! * PostgreSQL: a fresh database created on the server named by `RECOZIK_TEST_POSTGRES_URL`
//!   (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. Without that
//!   variable the PostgreSQL half is skipped with a notice — unless `CI` is set, then the test
//!   fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use recozik_storage::testing::{ScratchDatabase, scratch_databases};
use recozik_storage::{Backend, Database, JobQueue, PoolOptions, QueueOptions, Schema, migrate};

/// One isolated database set for one test on one backend.
pub struct TestDb {
    pub backend: Backend,
    auth_url: String,
    jobs_url: String,
    scratch: ScratchDatabase,
}

impl TestDb {
    fn new(scratch: ScratchDatabase) -> Self {
        // On SQLite the jobs database is given as a plain path, which exercises URL parsing.
        let jobs_url = match scratch.sqlite_dir() {
            Some(dir) => dir.join("jobs.db").display().to_string(),
            None => scratch.url("jobs"),
        };
        Self {
            backend: scratch.backend(),
            auth_url: scratch.url("auth"),
            jobs_url,
            scratch,
        }
    }

    pub fn label(&self) -> &'static str {
        self.scratch.label()
    }

    /// URL of the auth database (SQLite: `auth.db`; PostgreSQL: the test database).
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// URL of the jobs database (SQLite: `jobs.db`; PostgreSQL: the *same* test database,
    /// which exercises the shared-database setup).
    pub fn jobs_url(&self) -> &str {
        &self.jobs_url
    }
    pub fn pool_options(max_size: u32) -> PoolOptions {
        PoolOptions {
            max_size,
            min_idle: Some(0),
            checkout_timeout: Duration::from_secs(20),
            sqlite_busy_timeout: Duration::from_secs(20),
        }
    }

    /// The migrated auth database.
    pub fn auth(&self) -> Database {
        self.auth_sized(4)
    }

    pub fn auth_sized(&self, max_size: u32) -> Database {
        let db = Database::connect(&self.auth_url, &Self::pool_options(max_size)).unwrap();
        migrate(&db, Schema::Auth).unwrap();
        db
    }

    /// The migrated jobs database.
    pub fn jobs(&self) -> Database {
        self.jobs_sized(4)
    }

    pub fn jobs_sized(&self, max_size: u32) -> Database {
        let db = Database::connect(&self.jobs_url, &Self::pool_options(max_size)).unwrap();
        migrate(&db, Schema::Jobs).unwrap();
        db
    }

    /// A job queue over a migrated jobs database.
    pub fn queue(&self, max_size: u32) -> JobQueue {
        let options = QueueOptions {
            subscription_poll: Duration::from_millis(500),
            ..QueueOptions::default()
        };
        JobQueue::new(self.jobs_sized(max_size), options).unwrap()
    }
}

/// The backends to run a test on, each with a fresh database.
pub fn backends(test: &str) -> Vec<TestDb> {
    scratch_databases(test)
        .expect("scratch databases")
        .into_iter()
        .map(TestDb::new)
        .collect()
}

/// Runs `test` once per backend, each on a fresh database, reporting each backend on its own
/// ([`recozik_storage::testing::on_each_backend`]).
pub fn on_each_backend(name: &str, mut test: impl FnMut(TestDb)) {
    recozik_storage::testing::on_each_backend(name, |scratch| test(TestDb::new(scratch)));
}

pub fn sqlite() -> TestDb {
    TestDb::new(ScratchDatabase::sqlite().unwrap())
}

/// A PostgreSQL test database, or `None` when the server URL is not configured (and not CI).
pub fn postgres_only(test: &str) -> Option<TestDb> {
    backends(test)
        .into_iter()
        .find(|db| db.backend == Backend::Postgres)
}
