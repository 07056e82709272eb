//! The durable job queue and its persisted, published events.
//!
//! A job row goes `queued` → `running` (claimed with a lease: worker id + expiry, renewed by
//! [`JobQueue::heartbeat`]) → `completed` | `failed`; `cancelled` can be reached from `queued`
//! or `running`. A job whose lease expires is put back in the queue by
//! [`JobQueue::requeue_expired`] — or failed once it has used its maximum number of attempts.
//! Every state change and progress message is written, in the same transaction, as a
//! [`JobEvent`] with a per-job sequence number, then published (see [`crate::JobSubscription`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Backend, Conn, Database, on_conn};
use crate::error::{Result, StorageError};
use crate::events::{EventHub, JobSubscription};
use crate::schema::{job_events, jobs};
use crate::time::{from_db, opt_from_db, to_db};

/// Status of a job (the upstream statuses, plus `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled by its owner or an admin.
    Cancelled,
}

impl JobStatus {
    /// The stored (and API) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether no further transition can happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(StorageError::Corrupt(format!(
                    "unknown job status {other:?}"
                )));
            }
        })
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const TERMINAL: [&str; 3] = ["completed", "failed", "cancelled"];

/// A job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// 32 lower-case hex digits (a UUID v4 without dashes).
    pub id: String,
    /// Owner's immutable user id (`None`: no owner, visible to admins only).
    pub owner_id: Option<i64>,
    /// Status.
    pub status: JobStatus,
    /// Opaque JSON the worker needs (request options, principal snapshot, …).
    pub payload: String,
    /// Upload file to delete when the job ends or is purged.
    pub upload_path: Option<String>,
    /// Claims so far.
    pub attempts: i32,
    /// Claims allowed before an expired lease fails the job.
    pub max_attempts: i32,
    /// Worker holding the lease (while running).
    pub worker_id: Option<String>,
    /// Lease expiry (while running).
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Progress messages, in order.
    pub messages: Vec<String>,
    /// Result JSON text (when completed).
    pub result: Option<String>,
    /// Error text (when failed).
    pub error: Option<String>,
    /// Sequence number of the latest event of this job (the snapshot reflects all events up to
    /// and including it).
    pub last_event_seq: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewJob {
    /// Id to use (`None`: a new UUID v4 in simple form).
    pub id: Option<String>,
    /// Owner's user id.
    pub owner_id: Option<i64>,
    /// Opaque JSON for the worker (`{}` when empty).
    pub payload: String,
    /// Upload file owned by the job.
    pub upload_path: Option<String>,
    /// Maximum claims (`None`: the queue default).
    pub max_attempts: Option<i32>,
}

/// What a job event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JobEventData {
    /// A status change.
    Status {
        /// The new status.
        status: JobStatus,
        /// The error of a `failed` status.
        error: Option<String>,
    },
    /// A progress message.
    Message {
        /// Text.
        message: String,
    },
    /// The result of a completed job (follows the `completed` status).
    Result {
        /// The result JSON.
        result: serde_json::Value,
    },
    /// How far a job with many parts (a batch) got; its shape is the job kind's.
    Progress {
        /// The progress JSON.
        progress: serde_json::Value,
    },
    /// One finished part of a job (a batch's file entry); its shape is the job kind's.
    File {
        /// The entry JSON.
        entry: serde_json::Value,
    },
}

/// A persisted job event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// The job.
    pub job_id: String,
    /// 1, 2, 3, … per job, without gaps.
    pub seq: i64,
    /// When it happened (the job's `updated_at` after the change).
    pub created_at: DateTime<Utc>,
    /// Content.
    pub data: JobEventData,
}

impl JobEvent {
    /// Whether this is a status event with a terminal status.
    pub fn is_terminal_status(&self) -> bool {
        matches!(&self.data, JobEventData::Status { status, .. } if status.is_terminal())
    }
}

/// Queue settings.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Default maximum number of claims per job.
    pub default_max_attempts: i32,
    /// Capacity of the in-process broadcast channel (a subscriber that lags further re-reads
    /// the missed events from the database).
    pub event_capacity: usize,
    /// How often an idle subscription re-reads the database as a safety net (covers lost
    /// notifications, and other processes sharing a SQLite file).
    pub subscription_poll: Duration,
    /// How often the PostgreSQL listener checks its socket for notifications.
    pub listen_poll: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            default_max_attempts: 3,
            event_capacity: 1024,
            subscription_poll: Duration::from_secs(2),
            listen_poll: Duration::from_millis(20),
        }
    }
}

/// What [`JobQueue::cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued or running and is now cancelled.
    Cancelled(Job),
    /// The job had already finished; unchanged.
    AlreadyFinished(Job),
    /// No such job.
    NotFound,
}

/// What [`JobQueue::requeue_expired`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequeueReport {
    /// Jobs put back in the queue.
    pub requeued: Vec<String>,
    /// Jobs failed because they had used all their attempts (their upload files are the
    /// caller's to delete).
    pub failed: Vec<Job>,
}

/// A job deleted by [`JobQueue::purge_finished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedJob {
    /// Its id.
    pub id: String,
    /// Its upload file, if it still had one recorded (the caller deletes it).
    pub upload_path: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = jobs)]
struct JobRow {
    id: String,
    owner_id: Option<i64>,
    status: String,
    payload: String,
    upload_path: Option<String>,
    attempts: i32,
    max_attempts: i32,
    worker_id: Option<String>,
    lease_expires_at: Option<NaiveDateTime>,
    messages: String,
    result: Option<String>,
    error: Option<String>,
    event_seq: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
}

impl TryFrom<JobRow> for Job {
    type Error = StorageError;

    fn try_from(r: JobRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            owner_id: r.owner_id,
            status: JobStatus::parse(&r.status)?,
            payload: r.payload,
            upload_path: r.upload_path,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            worker_id: r.worker_id,
            lease_expires_at: opt_from_db(r.lease_expires_at),
            messages: serde_json::from_str(&r.messages)?,
            result: r.result,
            error: r.error,
            last_event_seq: r.event_seq,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
            finished_at: opt_from_db(r.finished_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = job_events)]
pub(crate) struct EventRow {
    job_id: String,
    seq: i64,
    data: String,
    created_at: NaiveDateTime,
}

impl TryFrom<EventRow> for JobEvent {
    type Error = StorageError;

    fn try_from(r: EventRow) -> Result<Self> {
        Ok(Self {
            job_id: r.job_id,
            seq: r.seq,
            created_at: from_db(r.created_at),
            data: serde_json::from_str(&r.data)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = job_events)]
struct EventInsert<'a> {
    job_id: &'a str,
    seq: i64,
    data: String,
    created_at: NaiveDateTime,
}

/// Channel used for cross-process event notifications on PostgreSQL.
pub(crate) const NOTIFY_CHANNEL: &str = "recozik_job_events";

/// The durable job queue over the jobs database. Cheap to clone; all clones share one event
/// hub. Methods are synchronous (call them from blocking threads in async code), except
/// [`JobSubscription::next`].
#[derive(Clone, Debug)]
pub struct JobQueue {
    db: Database,
    hub: Arc<EventHub>,
    options: Arc<QueueOptions>,
}

impl JobQueue {
    /// A queue over `db` (already migrated). On PostgreSQL this starts the background thread
    /// that listens for other processes' events.
    pub fn new(db: Database, options: QueueOptions) -> Result<Self> {
        let hub = EventHub::start(&db, &options);
        Ok(Self {
            db,
            hub,
            options: Arc::new(options),
        })
    }

    /// The jobs database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The settings.
    pub fn options(&self) -> &QueueOptions {
        &self.options
    }

    /// Runs `f` in a transaction, then publishes the events it produced (after commit, so a
    /// subscriber never sees an event that was rolled back).
    fn write<T>(&self, f: impl FnOnce(&mut Conn, &mut Vec<JobEvent>) -> Result<T>) -> Result<T> {
        let mut conn = self.db.conn()?;
        let mut events = Vec::new();
        let value = conn.transaction(|tx| {
            events.clear();
            let value = f(tx, &mut events)?;
            notify(tx, self.hub.instance_id(), &events)?;
            Ok::<_, StorageError>(value)
        })?;
        self.hub.publish_local(events);
        Ok(value)
    }

    /// Adds a job in `queued` state (event 1: status `queued`).
    pub fn enqueue(&self, new: &NewJob) -> Result<Job> {
        self.enqueue_with(new, |_, _| Ok(()))
    }

    /// [`JobQueue::enqueue`], with `within` run in the same transaction once the job row
    /// exists: rows the job needs (a batch's files) are committed with it or not at all, so no
    /// worker can claim the job before they are there.
    pub fn enqueue_with(
        &self,
        new: &NewJob,
        within: impl FnOnce(&mut Conn, &Job) -> Result<()>,
    ) -> Result<Job> {
        let id = match &new.id {
            Some(id) if !id.is_empty() => id.clone(),
            Some(_) => return Err(StorageError::Invalid("job id is empty".into())),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let max_attempts = new
            .max_attempts
            .unwrap_or(self.options.default_max_attempts);
        if max_attempts < 1 {
            return Err(StorageError::Invalid(format!(
                "max_attempts must be at least 1, got {max_attempts}"
            )));
        }
        let payload = if new.payload.is_empty() {
            "{}"
        } else {
            new.payload.as_str()
        };
        self.write(|tx, events| {
            let now = to_db(crate::time::now());
            let row: JobRow = on_conn!(tx, |c| diesel::insert_into(jobs::table)
                .values((
                    jobs::id.eq(&id),
                    jobs::owner_id.eq(new.owner_id),
                    jobs::status.eq(JobStatus::Queued.as_str()),
                    jobs::payload.eq(payload),
                    jobs::upload_path.eq(new.upload_path.as_deref()),
                    jobs::attempts.eq(0),
                    jobs::max_attempts.eq(max_attempts),
                    jobs::messages.eq("[]"),
                    jobs::event_seq.eq(1_i64),
                    jobs::created_at.eq(now),
                    jobs::updated_at.eq(now),
                ))
                .returning(JobRow::as_returning())
                .get_result(c))?;
            let job = Job::try_from(row)?;
            record(
                tx,
                &job,
                vec![JobEventData::Status {
                    status: JobStatus::Queued,
                    error: None,
                }],
                events,
            )?;
            within(tx, &job)?;
            Ok(job)
        })
    }

    /// Claims the oldest queued job for `worker_id` with a lease of `lease`, or returns `None`
    /// when the queue is empty. Each job is handed to exactly one claimer (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: the claim runs in a `BEGIN IMMEDIATE` transaction).
    pub fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<Job>> {
        // Idle workers poll: answer "empty" with a plain read, without taking SQLite's write
        // lock or opening a transaction.
        if !self.any_with_status(JobStatus::Queued, None)? {
            return Ok(None);
        }
        self.write(|tx, events| {
            let candidate: Option<String> = match tx {
                Conn::Postgres(c) => jobs::table
                    .filter(jobs::status.eq(JobStatus::Queued.as_str()))
                    .order((jobs::created_at.asc(), jobs::id.asc()))
                    .select(jobs::id)
                    .limit(1)
                    .for_update()
                    .skip_locked()
                    .first(&mut **c)
                    .optional()?,
                Conn::Sqlite(c) => jobs::table
                    .filter(jobs::status.eq(JobStatus::Queued.as_str()))
                    .order((jobs::created_at.asc(), jobs::id.asc()))
                    .select(jobs::id)
                    .first(&mut **c)
                    .optional()?,
            };
            let Some(id) = candidate else {
                return Ok(None);
            };
            let now = crate::time::now();
            let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(
                jobs::table
                    .find(&id)
                    .filter(jobs::status.eq(JobStatus::Queued.as_str()))
            )
            .set((
                jobs::status.eq(JobStatus::Running.as_str()),
                jobs::worker_id.eq(worker_id),
                jobs::lease_expires_at.eq(to_db(crate::time::after(now, lease))),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::updated_at.eq(to_db(now)),
                jobs::event_seq.eq(jobs::event_seq + 1),
            ))
            .returning(JobRow::as_returning())
            .get_result(c)
            .optional())?;
            let Some(row) = row else {
                return Ok(None);
            };
            let job = Job::try_from(row)?;
            record(
                tx,
                &job,
                vec![JobEventData::Status {
                    status: JobStatus::Running,
                    error: None,
                }],
                events,
            )?;
            Ok(Some(job))
        })
    }

    /// Whether some job has `status` (and, when `lease_before` is given, a lease that expired
    /// before it).
    fn any_with_status(
        &self,
        status: JobStatus,
        lease_before: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let mut conn = self.db.conn()?;
        let found: Option<String> = match lease_before {
            None => on_conn!(conn, |c| jobs::table
                .filter(jobs::status.eq(status.as_str()))
                .select(jobs::id)
                .first(c)
                .optional())?,
            Some(t) => on_conn!(conn, |c| jobs::table
                .filter(jobs::status.eq(status.as_str()))
                .filter(jobs::lease_expires_at.lt(to_db(t)))
                .select(jobs::id)
                .first(c)
                .optional())?,
        };
        Ok(found.is_some())
    }

    /// Extends the lease of a running job held by `worker_id`; returns the new expiry.
    /// [`StorageError::LeaseLost`] means the worker must stop: the job was requeued after its
    /// lease expired, or cancelled.
    pub fn heartbeat(
        &self,
        job_id: &str,
        worker_id: &str,
        lease: Duration,
    ) -> Result<DateTime<Utc>> {
        let mut conn = self.db.conn()?;
        let expires = crate::time::after(crate::time::now(), lease);
        let n = on_conn!(conn, |c| diesel::update(held_by(job_id, worker_id))
            .set(jobs::lease_expires_at.eq(to_db(expires)))
            .execute(c))?;
        if n == 0 {
            return Err(why_not_held(&mut conn, job_id, worker_id)?);
        }
        Ok(expires)
    }

    /// Appends a progress message (persisted in the job and as a `message` event).
    pub fn add_message(&self, job_id: &str, message: &str) -> Result<JobEvent> {
        self.write(|tx, events| {
            let mut job = next_event(tx, job_id)?;
            job.messages.push(message.to_owned());
            let messages = serde_json::to_string(&job.messages)?;
            on_conn!(tx, |c| diesel::update(jobs::table.find(job_id))
                .set(jobs::messages.eq(&messages))
                .execute(c))?;
            record(
                tx,
                &job,
                vec![JobEventData::Message {
                    message: message.to_owned(),
                }],
                events,
            )?;
            events
                .last()
                .cloned()
                .ok_or_else(|| StorageError::Corrupt("message event not recorded".into()))
        })
    }

    /// Appends an event that changes nothing else of the job (a batch's `progress` and `file`
    /// events). A `message` goes through [`JobQueue::add_message`] (it is also kept in the job's
    /// messages); statuses and results only through the transitions.
    pub fn add_event(&self, job_id: &str, data: JobEventData) -> Result<JobEvent> {
        match data {
            JobEventData::Message { message } => return self.add_message(job_id, &message),
            JobEventData::Status { .. } | JobEventData::Result { .. } => {
                return Err(StorageError::Invalid(
                    "statuses and results are recorded by the job's transitions".into(),
                ));
            }
            JobEventData::Progress { .. } | JobEventData::File { .. } => {}
        }
        self.write(|tx, events| {
            let job = next_event(tx, job_id)?;
            record(tx, &job, vec![data], events)?;
            events
                .last()
                .cloned()
                .ok_or_else(|| StorageError::Corrupt("event not recorded".into()))
        })
    }

    /// Marks a running job held by `worker_id` completed with `result_json` (events: status
    /// `completed`, then `result`).
    pub fn complete(&self, job_id: &str, worker_id: &str, result_json: &str) -> Result<Job> {
        let result: serde_json::Value = serde_json::from_str(result_json)
            .map_err(|e| StorageError::Invalid(format!("result is not JSON: {e}")))?;
        self.finish(
            job_id,
            worker_id,
            JobStatus::Completed,
            Some(result_json),
            None,
            vec![
                JobEventData::Status {
                    status: JobStatus::Completed,
                    error: None,
                },
                JobEventData::Result { result },
            ],
        )
    }

    /// Marks a running job held by `worker_id` failed with `error` (event: status `failed`).
    pub fn fail(&self, job_id: &str, worker_id: &str, error: &str) -> Result<Job> {
        self.finish(
            job_id,
            worker_id,
            JobStatus::Failed,
            None,
            Some(error),
            vec![JobEventData::Status {
                status: JobStatus::Failed,
                error: Some(error.to_owned()),
            }],
        )
    }

    fn finish(
        &self,
        job_id: &str,
        worker_id: &str,
        status: JobStatus,
        result: Option<&str>,
        error: Option<&str>,
        data: Vec<JobEventData>,
    ) -> Result<Job> {
        let n_events = data.len() as i64;
        let outcome = self.write(|tx, events| {
            let now = to_db(crate::time::now());
            let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(held_by(job_id, worker_id))
                .set((
                    jobs::status.eq(status.as_str()),
                    jobs::result.eq(result),
                    jobs::error.eq(error),
                    jobs::worker_id.eq(None::<String>),
                    jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                    jobs::updated_at.eq(now),
                    jobs::finished_at.eq(now),
                    jobs::event_seq.eq(jobs::event_seq + n_events),
                ))
                .returning(JobRow::as_returning())
                .get_result(c)
                .optional())?;
            let Some(row) = row else {
                return Ok(None);
            };
            let job = Job::try_from(row)?;
            record(tx, &job, data, events)?;
            Ok(Some(job))
        })?;
        if let Some(job) = outcome {
            return Ok(job);
        }
        let mut conn = self.db.conn()?;
        Err(why_not_held(&mut conn, job_id, worker_id)?)
    }

    /// Gives a running job back to the queue without counting the attempt (graceful
    /// shutdown). Event: status `queued`.
    pub fn release(&self, job_id: &str, worker_id: &str) -> Result<Job> {
        let outcome = self.write(|tx, events| {
            let now = to_db(crate::time::now());
            let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(held_by(job_id, worker_id))
                .set((
                    jobs::status.eq(JobStatus::Queued.as_str()),
                    jobs::worker_id.eq(None::<String>),
                    jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                    jobs::attempts.eq(jobs::attempts - 1),
                    jobs::updated_at.eq(now),
                    jobs::event_seq.eq(jobs::event_seq + 1),
                ))
                .returning(JobRow::as_returning())
                .get_result(c)
                .optional())?;
            let Some(row) = row else {
                return Ok(None);
            };
            let job = Job::try_from(row)?;
            let data = vec![JobEventData::Status {
                status: JobStatus::Queued,
                error: None,
            }];
            record(tx, &job, data, events)?;
            Ok(Some(job))
        })?;
        if let Some(job) = outcome {
            return Ok(job);
        }
        let mut conn = self.db.conn()?;
        Err(why_not_held(&mut conn, job_id, worker_id)?)
    }

    /// Cancels a queued or running job (event: status `cancelled`). A worker still running it
    /// gets [`StorageError::LeaseLost`] on its next heartbeat or completion.
    pub fn cancel(&self, job_id: &str) -> Result<CancelOutcome> {
        self.write(|tx, events| {
            let now = to_db(crate::time::now());
            let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(
                jobs::table
                    .find(job_id)
                    .filter(jobs::status.ne_all(TERMINAL))
            )
            .set((
                jobs::status.eq(JobStatus::Cancelled.as_str()),
                jobs::worker_id.eq(None::<String>),
                jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                jobs::updated_at.eq(now),
                jobs::finished_at.eq(now),
                jobs::event_seq.eq(jobs::event_seq + 1),
            ))
            .returning(JobRow::as_returning())
            .get_result(c)
            .optional())?;
            match row {
                Some(row) => {
                    let job = Job::try_from(row)?;
                    let data = vec![JobEventData::Status {
                        status: JobStatus::Cancelled,
                        error: None,
                    }];
                    record(tx, &job, data, events)?;
                    Ok(CancelOutcome::Cancelled(job))
                }
                None => Ok(match get_job(tx, job_id)? {
                    Some(job) => CancelOutcome::AlreadyFinished(job),
                    None => CancelOutcome::NotFound,
                }),
            }
        })
    }

    /// Puts back in the queue every running job whose lease expired before `now`, or fails it
    /// ("abandoned …") when it has used all its attempts.
    pub fn requeue_expired(&self, now: DateTime<Utc>) -> Result<RequeueReport> {
        if !self.any_with_status(JobStatus::Running, Some(now))? {
            return Ok(RequeueReport::default());
        }
        self.write(|tx, events| {
            let expired_filter = jobs::status
                .eq(JobStatus::Running.as_str())
                .and(jobs::lease_expires_at.lt(to_db(now)));
            let expired: Vec<(String, i32, i32)> = match tx {
                Conn::Postgres(c) => jobs::table
                    .filter(expired_filter)
                    .select((jobs::id, jobs::attempts, jobs::max_attempts))
                    .for_update()
                    .skip_locked()
                    .load(&mut **c)?,
                Conn::Sqlite(c) => jobs::table
                    .filter(expired_filter)
                    .select((jobs::id, jobs::attempts, jobs::max_attempts))
                    .load(&mut **c)?,
            };
            let mut report = RequeueReport::default();
            let stamp = to_db(crate::time::now());
            for (id, attempts, max_attempts) in expired {
                let give_up = attempts >= max_attempts;
                let (status, error, data) = if give_up {
                    let error = format!(
                        "Job abandoned: its worker stopped responding (lease expired) on attempt \
                         {attempts} of {max_attempts}"
                    );
                    let data = vec![JobEventData::Status {
                        status: JobStatus::Failed,
                        error: Some(error.clone()),
                    }];
                    (JobStatus::Failed, Some(error), data)
                } else {
                    let data = vec![JobEventData::Status {
                        status: JobStatus::Queued,
                        error: None,
                    }];
                    (JobStatus::Queued, None, data)
                };
                let finished = give_up.then_some(stamp);
                let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(
                    jobs::table.find(&id).filter(expired_filter)
                )
                .set((
                    jobs::status.eq(status.as_str()),
                    jobs::error.eq(error.as_deref()),
                    jobs::worker_id.eq(None::<String>),
                    jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                    jobs::updated_at.eq(stamp),
                    jobs::finished_at.eq(finished),
                    jobs::event_seq.eq(jobs::event_seq + 1),
                ))
                .returning(JobRow::as_returning())
                .get_result(c)
                .optional())?;
                let Some(row) = row else { continue };
                let job = Job::try_from(row)?;
                record(tx, &job, data, events)?;
                if give_up {
                    tracing::warn!(job_id = %job.id, attempts, "job failed after its last lease expired");
                    report.failed.push(job);
                } else {
                    tracing::info!(job_id = %job.id, attempts, "lease expired; job requeued");
                    report.requeued.push(job.id);
                }
            }
            Ok(report)
        })
    }

    /// Deletes finished jobs (and their events) whose `finished_at` is before `cutoff`, and
    /// returns them with their upload paths so the caller can delete leftover files.
    pub fn purge_finished(&self, cutoff: DateTime<Utc>) -> Result<Vec<PurgedJob>> {
        let mut conn = self.db.conn()?;
        let rows: Vec<(String, Option<String>)> = on_conn!(conn, |c| diesel::delete(
            jobs::table
                .filter(jobs::status.eq_any(TERMINAL))
                .filter(jobs::finished_at.lt(to_db(cutoff)))
        )
        .returning((jobs::id, jobs::upload_path))
        .get_results(c))?;
        Ok(rows
            .into_iter()
            .map(|(id, upload_path)| PurgedJob { id, upload_path })
            .collect())
    }

    /// Upload paths of jobs that are still queued or running (files the caller must keep; any
    /// other file in the upload folder is an orphan).
    pub fn live_upload_paths(&self) -> Result<Vec<String>> {
        let mut conn = self.db.conn()?;
        let paths: Vec<Option<String>> = on_conn!(conn, |c| jobs::table
            .filter(jobs::status.ne_all(TERMINAL))
            .select(jobs::upload_path)
            .load(c))?;
        Ok(paths.into_iter().flatten().collect())
    }

    /// The queued or running jobs of `owner_id`, as their upload paths (`None` for a job without
    /// a file): how many jobs a user has waiting, and which files they still occupy. One
    /// indexed read.
    pub fn unfinished_uploads_of(&self, owner_id: i64) -> Result<Vec<Option<String>>> {
        let mut conn = self.db.conn()?;
        Ok(on_conn!(conn, |c| jobs::table
            .filter(jobs::owner_id.eq(owner_id))
            .filter(jobs::status.ne_all(TERMINAL))
            .select(jobs::upload_path)
            .load(c))?)
    }

    /// One job.
    pub fn get(&self, job_id: &str) -> Result<Option<Job>> {
        let mut conn = self.db.conn()?;
        get_job(&mut conn, job_id)
    }

    /// A user's jobs, newest first.
    pub fn list_by_owner(&self, owner_id: i64, limit: i64, offset: i64) -> Result<Vec<Job>> {
        let mut conn = self.db.conn()?;
        let rows: Vec<JobRow> = on_conn!(conn, |c| jobs::table
            .filter(jobs::owner_id.eq(owner_id))
            .order((jobs::created_at.desc(), jobs::id.desc()))
            .limit(limit.max(0))
            .offset(offset.max(0))
            .select(JobRow::as_select())
            .load(c))?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// Every job, newest first (admins).
    pub fn list_all(&self, limit: i64, offset: i64) -> Result<Vec<Job>> {
        let mut conn = self.db.conn()?;
        let rows: Vec<JobRow> = on_conn!(conn, |c| jobs::table
            .order((jobs::created_at.desc(), jobs::id.desc()))
            .limit(limit.max(0))
            .offset(offset.max(0))
            .select(JobRow::as_select())
            .load(c))?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// Persisted events of a job with `seq > after_seq`, in order.
    pub fn events_after(&self, job_id: &str, after_seq: i64) -> Result<Vec<JobEvent>> {
        let mut conn = self.db.conn()?;
        events_between(&mut conn, job_id, after_seq, i64::MAX)
    }

    /// Subscribes to a job: returns its current state and a subscription that yields every
    /// later event exactly once, in order. The subscription is opened *before* the snapshot is
    /// read, so nothing falls between the two. `None` when the job does not exist.
    pub fn subscribe(&self, job_id: &str) -> Result<Option<(Job, JobSubscription)>> {
        let rx = self.hub.receiver();
        let Some(job) = self.get(job_id)? else {
            return Ok(None);
        };
        let sub = JobSubscription::new(self.clone(), job_id.to_owned(), job.last_event_seq, rx);
        Ok(Some((job, sub)))
    }

    /// Subscribes to a job's events after sequence `after_seq`: returns the persisted events
    /// already past it, and a subscription yielding the following ones (no gap, no duplicate).
    pub fn subscribe_after(
        &self,
        job_id: &str,
        after_seq: i64,
    ) -> Result<(Vec<JobEvent>, JobSubscription)> {
        let rx = self.hub.receiver();
        let backlog = self.events_after(job_id, after_seq)?;
        let last = backlog.last().map_or(after_seq, |e| e.seq);
        Ok((
            backlog,
            JobSubscription::new(self.clone(), job_id.to_owned(), last, rx),
        ))
    }

    /// Whether this queue's database is PostgreSQL (events cross processes via NOTIFY).
    pub fn is_postgres(&self) -> bool {
        self.db.backend() == Backend::Postgres
    }
}

fn why_not_held(conn: &mut Conn, job_id: &str, worker_id: &str) -> Result<StorageError> {
    Ok(if get_job(conn, job_id)?.is_some() {
        StorageError::LeaseLost {
            job_id: job_id.to_owned(),
            worker_id: worker_id.to_owned(),
        }
    } else {
        StorageError::JobNotFound(job_id.to_owned())
    })
}

type HeldBy<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Find<jobs::table, &'a str>,
        diesel::dsl::Eq<jobs::status, &'static str>,
    >,
    diesel::dsl::Eq<jobs::worker_id, &'a str>,
>;

fn held_by<'a>(job_id: &'a str, worker_id: &'a str) -> HeldBy<'a> {
    jobs::table
        .find(job_id)
        .filter(jobs::status.eq(JobStatus::Running.as_str()))
        .filter(jobs::worker_id.eq(worker_id))
}

pub(crate) fn get_job(conn: &mut Conn, job_id: &str) -> Result<Option<Job>> {
    let row: Option<JobRow> = on_conn!(conn, |c| jobs::table
        .find(job_id)
        .select(JobRow::as_select())
        .first(c)
        .optional())?;
    row.map(Job::try_from).transpose()
}

pub(crate) fn events_between(
    conn: &mut Conn,
    job_id: &str,
    after_seq: i64,
    up_to_seq: i64,
) -> Result<Vec<JobEvent>> {
    let rows: Vec<EventRow> = on_conn!(conn, |c| job_events::table
        .filter(job_events::job_id.eq(job_id))
        .filter(job_events::seq.gt(after_seq))
        .filter(job_events::seq.le(up_to_seq))
        .order(job_events::seq.asc())
        .select(EventRow::as_select())
        .load(c))?;
    rows.into_iter().map(JobEvent::try_from).collect()
}

/// Inserts `data` as the events ending at `job.last_event_seq` (the caller has already bumped
/// the job's counter by `data.len()` in the same transaction).
/// The job `job_id` with its event sequence advanced by one (for the event about to be
/// recorded) and its update time now.
fn next_event(tx: &mut Conn, job_id: &str) -> Result<Job> {
    let now = to_db(crate::time::now());
    let row: Option<JobRow> = on_conn!(tx, |c| diesel::update(jobs::table.find(job_id))
        .set((
            jobs::updated_at.eq(now),
            jobs::event_seq.eq(jobs::event_seq + 1),
        ))
        .returning(JobRow::as_returning())
        .get_result(c)
        .optional())?;
    let Some(row) = row else {
        return Err(StorageError::JobNotFound(job_id.to_owned()));
    };
    Job::try_from(row)
}

fn record(
    conn: &mut Conn,
    job: &Job,
    data: Vec<JobEventData>,
    out: &mut Vec<JobEvent>,
) -> Result<()> {
    let first = job.last_event_seq - data.len() as i64 + 1;
    let created = to_db(job.updated_at);
    let new: Vec<JobEvent> = data
        .into_iter()
        .zip(first..)
        .map(|(data, seq)| JobEvent {
            job_id: job.id.clone(),
            seq,
            created_at: job.updated_at,
            data,
        })
        .collect();
    let rows = new
        .iter()
        .map(|e| {
            Ok(EventInsert {
                job_id: &e.job_id,
                seq: e.seq,
                data: serde_json::to_string(&e.data)?,
                created_at: created,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    on_conn!(conn, |c| diesel::insert_into(job_events::table)
        .values(&rows)
        .execute(c))?;
    out.extend(new);
    Ok(())
}

/// On PostgreSQL, queues one NOTIFY per job touched (delivered at commit):
/// `<instance>|<job id>|<first seq>|<last seq>`.
fn notify(conn: &mut Conn, instance: &str, events: &[JobEvent]) -> Result<()> {
    let Conn::Postgres(c) = conn else {
        return Ok(());
    };
    let mut i = 0;
    while i < events.len() {
        let job_id = &events[i].job_id;
        let mut j = i;
        while j + 1 < events.len() && events[j + 1].job_id == *job_id {
            j += 1;
        }
        let payload = format!("{instance}|{job_id}|{}|{}", events[i].seq, events[j].seq);
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(NOTIFY_CHANNEL)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(&mut **c)?;
        i = j + 1;
    }
    Ok(())
}
