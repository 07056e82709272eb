//! Scratch databases for tests — of this crate and of the crates built on it — so that each test
//! runs on both backends, each run on a database of its own.
//!
//! * SQLite: files in a fresh temporary folder, removed with it.
//! * PostgreSQL: a fresh database created on the server named by `RECOZIK_TEST_POSTGRES_URL`
//!   (an administrative URL such as `postgres://postgres@127.0.0.1:5432/postgres`) and dropped
//!   afterwards. Without that variable the PostgreSQL half is skipped with a notice, unless `CI`
//!   is set: then skipping is an error.

use std::path::Path;
use std::time::Duration;

use crate::db::{Backend, Database, PoolOptions};
use crate::error::{Result, StorageError};

/// The variable naming the PostgreSQL server tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "RECOZIK_TEST_POSTGRES_URL";

/// A database that exists for one test and disappears when dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    location: Location,
}

#[derive(Debug)]
enum Location {
    Sqlite(tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

fn admin_pool() -> PoolOptions {
    PoolOptions {
        max_size: 1,
        min_idle: Some(0),
        checkout_timeout: Duration::from_secs(30),
        sqlite_busy_timeout: Duration::from_secs(30),
    }
}

impl ScratchDatabase {
    /// A fresh temporary folder for SQLite files.
    pub fn sqlite() -> Result<Self> {
        Ok(Self {
            location: Location::Sqlite(tempfile::tempdir()?),
        })
    }

    /// A fresh database on the server at `admin_url`, named after `test`.
    pub fn postgres(admin_url: &str, test: &str) -> Result<Self> {
        let label: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!(
            "recozik_t_{label}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin = Database::connect(admin_url, &admin_pool())?;
        admin
            .conn()?
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(Self {
            location: Location::Postgres {
                admin_url: admin_url.to_owned(),
                url: with_database(admin_url, &name)?,
                name,
            },
        })
    }

    pub fn backend(&self) -> Backend {
        match self.location {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres { .. } => Backend::Postgres,
        }
    }

    /// `sqlite` or `postgres`, for assertion messages.
    pub fn label(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The URL of the database called `name`: on SQLite a file `<name>.db` of the scratch
    /// folder; on PostgreSQL the scratch database itself, whatever the name (so the auth and
    /// jobs schemas share one database, as deployments may).
    pub fn url(&self, name: &str) -> String {
        match &self.location {
            Location::Sqlite(dir) => format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            ),
            Location::Postgres { url, .. } => url.clone(),
        }
    }

    /// The scratch folder, on SQLite.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match &self.location {
            Location::Sqlite(dir) => Some(dir.path()),
            Location::Postgres { .. } => None,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Location::Postgres {
            admin_url, name, ..
        } = &self.location
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let dropped = Database::connect(admin_url, &admin_pool())
                .and_then(|db| db.conn())
                .and_then(|mut conn| conn.batch_execute(&sql));
            if let Err(error) = dropped {
                tracing::warn!(%error, database = %name, "could not drop a scratch database");
            }
        }
    }
}

/// The PostgreSQL server to use: `Ok(None)` when none is configured (and `CI` is not set).
pub fn postgres_admin_url() -> Result<Option<String>> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(url.trim().to_owned())),
        _ if std::env::var_os("CI").is_some() => Err(StorageError::Invalid(format!(
            "{POSTGRES_URL_VAR} is not set but CI is: PostgreSQL tests must not be skipped"
        ))),
        _ => Ok(None),
    }
}

/// One scratch database per backend for `test`: SQLite always, PostgreSQL when a server is
/// configured (a notice on stderr says when it is not).
pub fn scratch_databases(test: &str) -> Result<Vec<ScratchDatabase>> {
    let mut databases = vec![ScratchDatabase::sqlite()?];
    match postgres_admin_url()? {
        Some(url) => databases.push(ScratchDatabase::postgres(&url, test)?),
        None => eprintln!("notice: {POSTGRES_URL_VAR} not set; `{test}` runs on SQLite only"),
    }
    Ok(databases)
}

/// Runs `test` once per backend, each on a fresh scratch database, and reports each backend on
/// its own: a failure on SQLite does not hide the PostgreSQL result (every backend runs, then
/// this panics naming each one that failed; each failure's own message is printed above).
///
/// # Panics
/// When the scratch databases cannot be made, or `test` failed on any backend.
#[allow(clippy::panic)] // a test helper: panicking is how it reports
pub fn on_each_backend(test_name: &str, mut test: impl FnMut(ScratchDatabase)) {
    let databases = match scratch_databases(test_name) {
        Ok(databases) => databases,
        Err(error) => panic!("scratch databases for `{test_name}`: {error}"),
    };
    let mut failed = Vec::new();
    for database in databases {
        let label = database.label();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(database))).is_err() {
            failed.push(label);
        }
    }
    assert!(
        failed.is_empty(),
        "{test_name} failed on: {}",
        failed.join(", ")
    );
}

/// `postgres://user@host:port/db?options` with `db` replaced by `name`.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StorageError::Invalid(format!("not a database URL: {url}")))?;
    let (before_query, query) = match rest.split_once('?') {
        Some((address, options)) => (address, format!("?{options}")),
        None => (rest, String::new()),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_scratch_database() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "x").unwrap(),
            "postgres://u@h/x"
        );
        let sqlite = ScratchDatabase::sqlite().unwrap();
        assert!(sqlite.url("auth").ends_with("/auth.db"));
        let dir = sqlite.sqlite_dir().unwrap().to_owned();
        drop(sqlite);
        assert!(!dir.exists(), "the folder goes with the scratch database");
    }
}
