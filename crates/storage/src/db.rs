//! Database URLs, connection pools and the backend-neutral connection type.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::Error as DieselError;
use diesel::{PgConnection, SqliteConnection};

use crate::error::{Result, StorageError};

/// The database engine behind a [`Database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (a file; WAL mode).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A database URL resolved to a backend and the string its driver wants.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    target: String,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a PostgreSQL password.
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .field("target", &self.redacted())
            .finish()
    }
}

impl DatabaseUrl {
    /// Parses a database URL.
    ///
    /// * `postgres://…` or `postgresql://…` → PostgreSQL (the URL is passed to libpq as is);
    /// * `sqlite://PATH` (so `sqlite:///abs/path` for an absolute path), `sqlite:PATH`, or a plain
    ///   file path → SQLite.
    ///
    /// Any other `scheme://` is rejected.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StorageError::UnsupportedUrl(String::new()));
        }
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            });
        }
        let path = if lower.starts_with("sqlite://") {
            &url["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &url["sqlite:".len()..]
        } else if url.contains("://") {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        } else {
            url
        };
        if path.is_empty() {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        }
        Ok(Self {
            backend: Backend::Sqlite,
            target: path.to_owned(),
        })
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file path, or the PostgreSQL URL.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The target with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        if self.backend == Backend::Sqlite {
            return self.target.clone();
        }
        let Some((scheme, rest)) = self.target.split_once("://") else {
            return self.target.clone();
        };
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}{tail}")
            }
            None => self.target.clone(),
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Maximum number of connections in the pool.
    pub max_size: u32,
    /// Connections kept open while idle (`None`: same as `max_size`, r2d2's default).
    pub min_idle: Option<u32>,
    /// How long [`Database::conn`] waits for a free connection before failing.
    pub checkout_timeout: Duration,
    /// SQLite `busy_timeout`: how long a statement waits for another writer's lock.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            min_idle: Some(1),
            checkout_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
type PgPool = Pool<ConnectionManager<PgConnection>>;

#[derive(Clone)]
enum PoolKind {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A pooled database, SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: PoolKind,
    url: Arc<DatabaseUrl>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens a pool on `url` (see [`DatabaseUrl::parse`]). For SQLite the parent directory is
    /// created when missing. Does not run migrations: see [`crate::migrate`].
    pub fn connect(url: &str, options: &PoolOptions) -> Result<Self> {
        let url = DatabaseUrl::parse(url)?;
        let pool = match url.backend {
            Backend::Sqlite => {
                if let Some(parent) = Path::new(&url.target).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)?;
                }
                let manager = ConnectionManager::<SqliteConnection>::new(url.target.clone());
                let customizer = SqliteCustomizer {
                    busy_timeout: options.sqlite_busy_timeout,
                };
                PoolKind::Sqlite(
                    Pool::builder()
                        .max_size(options.max_size)
                        .min_idle(options.min_idle)
                        .connection_timeout(options.checkout_timeout)
                        .connection_customizer(Box::new(customizer))
                        .build(manager)?,
                )
            }
            Backend::Postgres => {
                let manager = ConnectionManager::<PgConnection>::new(url.target.clone());
                PoolKind::Postgres(
                    Pool::builder()
                        .max_size(options.max_size)
                        .min_idle(options.min_idle)
                        .connection_timeout(options.checkout_timeout)
                        .build(manager)?,
                )
            }
        };
        tracing::debug!(backend = %url.backend, target = %url.redacted(), "database pool ready");
        Ok(Self {
            pool,
            url: Arc::new(url),
        })
    }

    /// The backend of this database.
    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    /// The parsed URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Checks a connection out of the pool, waiting at most the configured checkout timeout.
    pub fn conn(&self) -> Result<Conn> {
        Ok(match &self.pool {
            PoolKind::Sqlite(pool) => Conn::Sqlite(pool.get()?),
            PoolKind::Postgres(pool) => Conn::Postgres(pool.get()?),
        })
    }

    /// Opens a connection outside the pool (used by the PostgreSQL notification listener).
    pub(crate) fn connect_pg_dedicated(&self) -> Result<PgConnection> {
        use diesel::Connection;
        Ok(PgConnection::establish(&self.url.target)?)
    }
}

/// A pooled connection to either backend. Every repository function takes `&mut Conn`.
pub enum Conn {
    /// SQLite.
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    /// PostgreSQL.
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Conn").field(&self.backend()).finish()
    }
}

/// A borrowed, backend-specific connection.
#[allow(missing_debug_implementations)]
pub enum ConnRef<'a> {
    /// SQLite.
    Sqlite(&'a mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'a mut PgConnection),
}

impl Conn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The backend-specific connection, for code that needs it.
    pub fn inner(&mut self) -> ConnRef<'_> {
        match self {
            Self::Sqlite(c) => ConnRef::Sqlite(c),
            Self::Postgres(c) => ConnRef::Postgres(c),
        }
    }

    /// Runs `f` in a transaction: committed when `f` returns `Ok`, rolled back otherwise.
    ///
    /// On SQLite the outermost transaction starts with `BEGIN IMMEDIATE`, so it takes the write
    /// lock up front (waiting up to `busy_timeout`) instead of failing with `SQLITE_BUSY` when
    /// it later upgrades a read lock. Nested calls use savepoints.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<DieselError>,
    {
        self.begin()?;
        match f(self) {
            Ok(value) => {
                self.finish(true)?;
                Ok(value)
            }
            Err(user_error) => match self.finish(false) {
                Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(user_error),
                Err(rollback_error) => Err(rollback_error.into()),
            },
        }
    }

    fn begin(&mut self) -> Result<(), DieselError> {
        match self {
            Self::Sqlite(c) => {
                let c: &mut SqliteConnection = c;
                match AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE") {
                    Err(DieselError::AlreadyInTransaction) => {
                        AnsiTransactionManager::begin_transaction(c)
                    }
                    other => other,
                }
            }
            Self::Postgres(c) => {
                let c: &mut PgConnection = c;
                AnsiTransactionManager::begin_transaction(c)
            }
        }
    }

    fn finish(&mut self, commit: bool) -> Result<(), DieselError> {
        match (self, commit) {
            (Self::Sqlite(c), true) => AnsiTransactionManager::commit_transaction(&mut **c),
            (Self::Sqlite(c), false) => AnsiTransactionManager::rollback_transaction(&mut **c),
            (Self::Postgres(c), true) => AnsiTransactionManager::commit_transaction(&mut **c),
            (Self::Postgres(c), false) => AnsiTransactionManager::rollback_transaction(&mut **c),
        }
    }

    /// Runs raw SQL statements (no results).
    pub fn batch_execute(&mut self, sql: &str) -> Result<()> {
        match self {
            Self::Sqlite(c) => c.batch_execute(sql)?,
            Self::Postgres(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }
}

/// Sets the per-connection SQLite pragmas when the pool opens a connection.
#[derive(Debug)]
struct SqliteCustomizer {
    busy_timeout: Duration,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteCustomizer {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        let busy_ms = self.busy_timeout.as_millis().min(i32::MAX as u128);
        // busy_timeout first, so the journal-mode switch below waits for other processes
        // instead of failing. Switching to WAL needs a short exclusive lock the very first
        // time a file is opened; retry in case several processes race on a fresh file.
        let pragmas = format!(
            "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        );
        let deadline = std::time::Instant::now() + self.busy_timeout;
        let mut delay = Duration::from_millis(5);
        loop {
            match conn.batch_execute(&pragmas) {
                Ok(()) => return Ok(()),
                Err(err) => {
                    if !crate::error::is_busy(&err) || std::time::Instant::now() >= deadline {
                        return Err(diesel::r2d2::Error::QueryError(err));
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
            }
        }
    }
}

/// Dispatches a block of diesel code over the concrete connection of a [`Conn`]: the body is
/// compiled once per backend, so the same query DSL serves SQLite and PostgreSQL.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn.inner() {
            $crate::db::ConnRef::Sqlite($c) => $body,
            $crate::db::ConnRef::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        let cases = [
            (
                "sqlite:///var/lib/recozik/auth.db",
                Backend::Sqlite,
                "/var/lib/recozik/auth.db",
            ),
            ("sqlite://data/jobs.db", Backend::Sqlite, "data/jobs.db"),
            ("sqlite:jobs.db", Backend::Sqlite, "jobs.db"),
            (
                "/media/.recozik/auth.db",
                Backend::Sqlite,
                "/media/.recozik/auth.db",
            ),
            ("auth.db", Backend::Sqlite, "auth.db"),
            (
                "postgres://u:p@h:5432/db",
                Backend::Postgres,
                "postgres://u:p@h:5432/db",
            ),
            ("postgresql://h/db", Backend::Postgres, "postgresql://h/db"),
        ];
        for (url, backend, target) in cases {
            let parsed = DatabaseUrl::parse(url).expect(url);
            assert_eq!(
                (parsed.backend(), parsed.target()),
                (backend, target),
                "{url}"
            );
        }
        for bad in ["", "mysql://h/db", "sqlite://", "http://x"] {
            assert!(
                matches!(
                    DatabaseUrl::parse(bad),
                    Err(StorageError::UnsupportedUrl(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgres://user:secret@db:5432/recozik").expect("valid");
        assert_eq!(url.redacted(), "postgres://user:***@db:5432/recozik");
        assert!(!format!("{url:?}").contains("secret"));
        let plain = DatabaseUrl::parse("postgres://db/recozik").expect("valid");
        assert_eq!(plain.redacted(), "postgres://db/recozik");
    }
}
