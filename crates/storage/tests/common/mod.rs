//! Test helper: every repository test runs once per backend, each run on its own database.
//!
//! * SQLite: files in a fresh temporary directory.
//! * PostgreSQL: a fresh database created on the server named by `RECOZIK_TEST_POSTGRES_URL`
//!   (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. Without that
//!   variable the PostgreSQL half is skipped with a notice — unless `CI` is set, then the test
//!   fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use recozik_storage::{Backend, Database, JobQueue, PoolOptions, QueueOptions, Schema, migrate};

pub const PG_ENV: &str = "RECOZIK_TEST_POSTGRES_URL";

/// One isolated database set for one test on one backend.
pub struct TestDb {
    pub backend: Backend,
    auth_url: String,
    jobs_url: String,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            match PgConnection::establish(admin_url) {
                Ok(mut conn) => {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(err) = diesel::sql_query(sql).execute(&mut conn) {
                        eprintln!("warning: could not drop test database {name}: {err}");
                    }
                }
                Err(err) => eprintln!("warning: could not drop test database {name}: {err}"),
            }
        }
    }
}

impl TestDb {
    pub fn label(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
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
    let auth = dir.path().join("auth.db");
    let jobs = dir.path().join("jobs.db");
    TestDb {
        backend: Backend::Sqlite,
        auth_url: format!("sqlite://{}", auth.display()),
        jobs_url: jobs.display().to_string(),
        guard: Guard::Sqlite(dir),
    }
}

/// A PostgreSQL test database, or `None` when the server URL is not configured (and not CI).
pub fn postgres_only(test: &str) -> Option<TestDb> {
    backends(test)
        .into_iter()
        .find(|db| db.backend == Backend::Postgres)
}

fn postgres(admin_url: &str, test: &str) -> TestDb {
    let name = format!(
        "recozik_t_{}_{}",
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut conn = PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .unwrap();
    let url = replace_database(admin_url, &name);
    TestDb {
        backend: Backend::Postgres,
        auth_url: url.clone(),
        jobs_url: url,
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
