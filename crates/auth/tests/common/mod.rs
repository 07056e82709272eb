//! Test helper: every storage-backed test runs once per backend, each run on its own database.
//!
//! * SQLite: a file in a fresh temporary directory.
//! * PostgreSQL: a fresh database created on the server named by `RECOZIK_TEST_POSTGRES_URL`
//!   (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. Without that
//!   variable the PostgreSQL half is skipped with a notice — unless `CI` is set, then the test
//!   fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use recozik_auth::{Auth, AuthSettings, ManualClock, PasswordParams};
use recozik_storage::testing::{ScratchDatabase, scratch_databases};
use recozik_storage::{Backend, Database, PoolOptions, Schema, migrate};

/// One isolated auth database for one test on one backend.
pub struct TestDb {
    pub backend: Backend,
    url: String,
    scratch: ScratchDatabase,
}

pub fn pool_options(max_size: u32) -> PoolOptions {
    PoolOptions {
        max_size,
        min_idle: Some(0),
        checkout_timeout: Duration::from_secs(30),
        sqlite_busy_timeout: Duration::from_secs(30),
    }
}

impl TestDb {
    fn new(scratch: ScratchDatabase) -> Self {
        Self {
            backend: scratch.backend(),
            url: scratch.url("auth"),
            scratch,
        }
    }

    pub fn label(&self) -> &'static str {
        self.scratch.label()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The migrated auth database with a pool of `max_size` connections.
    pub fn db(&self, max_size: u32) -> Database {
        let db = Database::connect(&self.url, &pool_options(max_size)).unwrap();
        migrate(&db, Schema::Auth).unwrap();
        db
    }

    /// An `Auth` over this database with cheap Argon2 parameters and a manual clock.
    pub fn auth(&self, settings: AuthSettings) -> (Auth, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_now());
        let auth = Auth::with_clock(self.db(8), settings, clock.clone()).unwrap();
        (auth, clock)
    }
}

/// Default settings with cheap Argon2 parameters (tests only).
pub fn settings() -> AuthSettings {
    AuthSettings {
        password: PasswordParams::insecure_for_tests(),
        ..AuthSettings::default()
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
