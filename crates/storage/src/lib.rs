//! Persistence for Recozik.
//!
//! # What this crate owns
//!
//! * Two databases, each with its own URL: the **auth** database (users, sessions, API tokens,
//!   quota usage) and the **jobs** database (jobs, job events, lookup cache). Both may be the
//!   same database. The backend follows the URL: `sqlite://PATH` or a plain path selects SQLite,
//!   `postgres://`/`postgresql://` selects PostgreSQL ([`DatabaseUrl`]). One code path serves
//!   both: repository code is written once against diesel's query DSL and compiled per backend
//!   by dispatching over [`Conn`].
//! * Connection pools ([`Database`]) with a checkout timeout; SQLite connections get
//!   `journal_mode=WAL`, `busy_timeout` and `foreign_keys=ON` when opened.
//! * The embedded migrations (top-level `migrations/{auth,jobs}/{sqlite,postgres}`) and
//!   [`migrate`], which several processes may run at once.
//! * Repositories — plain synchronous functions over `&mut Conn`: [`users`], [`sessions`],
//!   [`tokens`], [`quota`] (atomic check-and-consume over a rolling 24 h window), [`cache`].
//! * The durable job queue ([`JobQueue`]: enqueue, claim with a lease, heartbeat, complete,
//!   fail, cancel, requeue on lease expiry, retention purge, listing) and its events, persisted
//!   with per-job sequence numbers and published in process (`tokio::sync::broadcast`) and, on
//!   PostgreSQL, across processes (`LISTEN/NOTIFY`) — see [`JobSubscription`].
//! * The per-file state of library batch jobs and their rename journals ([`BatchStore`], over
//!   the jobs database): resumable file lists, recorded entries streamed by keyset pages, and
//!   write-ahead journals that make an interrupted rename undoable.
//!
//! * `testing` (feature `testing`, enabled by the tests only): scratch databases (a temporary
//!   SQLite folder, or a fresh PostgreSQL database dropped afterwards) for the tests of this crate
//!   and of the crates built on it.
//!
//! All timestamps are UTC (`DateTime<Utc>` in the API). Ownership is by immutable user id.
//! Errors are [`StorageError`]; "not found" is an `Option`, never a swallowed error.
//!
//! # What it must never depend on
//!
//! No other workspace crate (not `recozik_core`, `recozik_auth` or `recozik_api`), nothing HTTP
//! (no actix, no reqwest) and nothing that needs FFmpeg: `xtask` links this crate to run
//! `cargo xtask migrate` before FFmpeg is installed. Policies (which roles exist, what a token
//! secret looks like, how digests are computed, which quota applies) belong to `recozik_auth`;
//! the `LookupCache` trait of `recozik_core` is implemented over [`cache`] by a crate that
//! depends on both.
//!
//! The repository functions block; async callers run them on blocking threads.

mod db;
mod error;
mod events;
mod migrate;
mod schema;
mod time;

pub mod batch;
pub mod cache;
pub mod jobs;
pub mod quota;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod users;

pub use batch::{
    BatchFile, BatchProgress, BatchStore, FileStatus, MoveState, RenameMove, RenameSet,
    RenameSetState, StoredEntry,
};
pub use db::{Backend, Conn, ConnRef, Database, DatabaseUrl, PoolOptions};
pub use error::{Result, StorageError};
pub use events::JobSubscription;
pub use jobs::{
    CancelOutcome, Job, JobEvent, JobEventData, JobQueue, JobStatus, NewJob, PurgedJob,
    QueueOptions, RequeueReport,
};
pub use migrate::{Schema, migrate, migrate_all};
pub use time::now;

/// Settings to open both databases.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// URL of the auth database.
    pub auth_url: String,
    /// URL of the jobs database (may equal `auth_url`).
    pub jobs_url: String,
    /// Pool settings (used for each pool).
    pub pool: PoolOptions,
    /// Job queue settings.
    pub queue: QueueOptions,
}

/// Both databases and the job queue, opened and migrated.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The auth database.
    pub auth: Database,
    /// The jobs database.
    pub jobs: Database,
    /// The job queue over the jobs database.
    pub queue: JobQueue,
}

impl Storage {
    /// Opens the pools, applies pending migrations (safe with concurrent starters) and starts
    /// the job queue.
    pub fn open(config: &StorageConfig) -> Result<Self> {
        let auth = Database::connect(&config.auth_url, &config.pool)?;
        let jobs = Database::connect(&config.jobs_url, &config.pool)?;
        migrate_all(&auth, &jobs)?;
        let queue = JobQueue::new(jobs.clone(), config.queue.clone())?;
        Ok(Self { auth, jobs, queue })
    }
}
