//! Embedded migrations and a `migrate` that is safe to run from several processes at once.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::result::Error as DieselError;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{Conn, Database};
use crate::error::{Result, StorageError, is_busy};

const AUTH_SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/auth/sqlite");
const AUTH_POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/auth/postgres");
const JOBS_SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/jobs/sqlite");
const JOBS_POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/jobs/postgres");

/// PostgreSQL advisory lock key ("RECOZIK" in ASCII) held while migrating. One key for both
/// schemas, because the auth and jobs databases may be one database sharing diesel's
/// `__diesel_schema_migrations` table.
const MIGRATION_LOCK_KEY: i64 = 0x0052_4543_4f5a_494b;

/// How long SQLite migrations keep retrying while another process holds the write lock.
const SQLITE_MIGRATION_PATIENCE: Duration = Duration::from_mins(1);

/// Which set of tables a database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Users, sessions, API tokens, quota usage.
    Auth,
    /// Jobs, job events, lookup cache.
    Jobs,
}

/// Applies the pending migrations of `schema` to `db` and returns the versions it applied
/// (empty when the database was up to date).
///
/// Several processes may call this at the same moment: on PostgreSQL the run is serialised by an
/// advisory lock, on SQLite by one `BEGIN IMMEDIATE` transaction around the whole run (retried
/// while the file stays locked). The loser of the race finds nothing left to apply.
pub fn migrate(db: &Database, schema: Schema) -> Result<Vec<String>> {
    let mut conn = db.conn()?;
    let applied = match &mut conn {
        Conn::Sqlite(_) => migrate_sqlite(&mut conn, schema)?,
        Conn::Postgres(_) => migrate_postgres(&mut conn, schema)?,
    };
    if applied.is_empty() {
        tracing::debug!(?schema, "database schema up to date");
    } else {
        tracing::info!(?schema, ?applied, "applied migrations");
    }
    Ok(applied)
}

/// Migrates the auth and the jobs databases (which may be the same database).
pub fn migrate_all(auth: &Database, jobs: &Database) -> Result<Vec<String>> {
    let mut applied = migrate(auth, Schema::Auth)?;
    applied.extend(migrate(jobs, Schema::Jobs)?);
    Ok(applied)
}

fn migrate_sqlite(conn: &mut Conn, schema: Schema) -> Result<Vec<String>> {
    let deadline = Instant::now() + SQLITE_MIGRATION_PATIENCE;
    let mut delay = Duration::from_millis(10);
    loop {
        let attempt = conn.transaction(|tx| {
            let Conn::Sqlite(c) = tx else {
                return Err(StorageError::Invalid("expected a SQLite connection".into()));
            };
            run(&mut **c, sqlite_source(schema))
        });
        match attempt {
            Err(StorageError::Busy(reason)) if Instant::now() < deadline => {
                tracing::debug!(%reason, "SQLite locked by another migrator; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

fn migrate_postgres(conn: &mut Conn, schema: Schema) -> Result<Vec<String>> {
    let Conn::Postgres(c) = conn else {
        return Err(StorageError::Invalid(
            "expected a PostgreSQL connection".into(),
        ));
    };
    let c: &mut diesel::PgConnection = c;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(c)?;
    let outcome = run(c, postgres_source(schema));
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(c);
    let applied = outcome?;
    unlocked?;
    Ok(applied)
}

fn sqlite_source(schema: Schema) -> EmbeddedMigrations {
    match schema {
        Schema::Auth => AUTH_SQLITE,
        Schema::Jobs => JOBS_SQLITE,
    }
}

fn postgres_source(schema: Schema) -> EmbeddedMigrations {
    match schema {
        Schema::Auth => AUTH_POSTGRES,
        Schema::Jobs => JOBS_POSTGRES,
    }
}

fn run<C>(conn: &mut C, source: EmbeddedMigrations) -> Result<Vec<String>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    conn.run_pending_migrations(source)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|err| match err.downcast::<DieselError>() {
            Ok(diesel_err) if is_busy(&diesel_err) => StorageError::from(*diesel_err),
            Ok(diesel_err) => StorageError::Migration(diesel_err.to_string()),
            Err(other) => StorageError::Migration(other.to_string()),
        })
}
