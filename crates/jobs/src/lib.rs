//! # recozik_jobs
//!
//! The durable job runtime of Recozik, with no HTTP in it.
//!
//! **Owns:** the bounded [`WorkerPool`] (claim with a lease, renew it, stop a job that is
//! cancelled, taken over, over its time limit or whose lease runs out, record the outcome,
//! retry through the queue's attempt count, drain on shutdown), [`housekeeping`] (requeue
//! expired leases, purge old jobs, sweep orphaned uploads), cancellation, upload [`files`], the
//! client-visible texts of library errors ([`client_text`]), running identifications as a
//! principal ([`identify`], [`policy`]) and the job kinds ([`kinds`]).
//!
//! **Never:** depends on actix-web, actix-ws, actix-http, an HTTP server crate or
//! `recozik_api` (`cargo xtask test` checks it); reads the environment or settings files (the
//! caller builds its [`JobsConfig`]); serves anything. `recozik_api` builds a [`JobContext`],
//! starts the pool and serves the jobs' results.
//!
//! # Job kinds
//!
//! A kind is a type implementing [`JobKind`] (its payload type, how it runs with progress and
//! cancellation, how it cleans up), registered in [`kinds::registry`]. The worker loop
//! dispatches by the payload's `kind` key and never changes when a kind is added.
//!
//! # Blocking
//!
//! The queue itself ([`recozik_storage::JobQueue`]) is blocking; [`AsyncQueue`] runs its calls
//! on blocking threads. Functions documented as blocking must run on a blocking thread.

pub mod batch;
pub mod client_text;
pub mod config;
pub mod context;
pub mod files;
pub mod housekeeping;
pub mod identify;
pub mod kind;
pub mod kinds;
pub mod policy;
pub mod queue;
pub mod renames;
mod run;
mod worker;

pub use config::{IdentifyDefaults, JobsConfig, ORPHAN_MIN_AGE};
pub use context::JobContext;
pub use files::PendingUpload;
pub use housekeeping::{HousekeepingReport, cancel, housekeep};
pub use kind::{JobFailure, JobKind, PayloadError, Progress, Registry, SubmitError, enqueue};
pub use queue::{AsyncQueue, QueueError};
pub use run::{JobLimitError, UNEXPECTED_ERROR};
pub use worker::WorkerPool;
