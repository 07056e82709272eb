//! Test helper: every storage-backed test runs once per backend, each run on its own database.
//!
//! * SQLite: a file in a fresh temporary directory.
//! * PostgreSQL: a fresh database created on the server named by `RECOZIK_TEST_POSTGRES_URL`
//!   (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. Without that
//!   variable the PostgreSQL half is skipped with a notice — unless `CI` is set, then the test
//!   fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use recozik_auth::{Auth, AuthSettings, ManualClock, PasswordParams};
use recozik_storage::{Backend, Database, PoolOptions, Schema, migrate};

pub const PG_ENV: &str = "RECOZIK_TEST_POSTGRES_URL";

/// One isolated auth database for one test on one backend.
pub struct TestDb {
    pub backend: Backend,
    url: String,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let result = Database::connect(admin_url, &pool_options(1))
                .and_then(|db| db.conn())
                .and_then(|mut c| c.batch_execute(&sql));
            if let Err(err) = result {
                eprintln!("warning: could not drop test database {name}: {err}");
            }
        }
    }
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
    pub fn label(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
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
    let mut out = vec![sqlite()];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => out.push(postgres(url.trim(), test)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "{PG_ENV} is not set but CI is: the PostgreSQL half of `{test}` cannot be skipped"
            )
        }
        _ => eprintln!("notice: {PG_ENV} not set; `{test}` runs on SQLite only"),
    }
    out
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    TestDb {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", path.display()),
        guard: Guard::Sqlite(dir),
    }
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seed = format!("{nanos}-{}", recozik_auth::secret::random_secret(8));
    recozik_auth::secret::digest(&seed)[..12].to_owned()
}

fn postgres(admin_url: &str, test: &str) -> TestDb {
    let name = format!(
        "recozik_auth_{}_{}",
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase(),
        unique_suffix()
    );
    let admin = Database::connect(admin_url, &pool_options(1))
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
    admin
        .conn()
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    TestDb {
        backend: Backend::Postgres,
        url: replace_database(admin_url, &name),
        guard: Guard::Postgres {
            admin_url: admin_url.to_owned(),
            name,
        },
    }
}

/// `postgres://user@host:port/db?opts` with `db` replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = before_query.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}
