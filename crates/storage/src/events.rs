//! Publishing job events: in-process through a `tokio::sync::broadcast` channel, across
//! processes on PostgreSQL through `LISTEN/NOTIFY`.
//!
//! Every event is first persisted (see [`crate::jobs`]); publication only carries it to live
//! subscribers. A [`JobSubscription`] therefore never depends on publication alone: it dedupes
//! by sequence number, fills any gap from the database, and re-reads the database when idle
//! for a while, so a lost notification only delays an event.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use tokio::sync::broadcast;

use crate::db::{Backend, Database};
use crate::error::{Result, StorageError};
use crate::jobs::{JobEvent, JobQueue, NOTIFY_CHANNEL, QueueOptions, events_between};

/// The in-process event bus of a [`JobQueue`] (plus, on PostgreSQL, the listener thread that
/// feeds it with other processes' events).
pub(crate) struct EventHub {
    sender: broadcast::Sender<Arc<JobEvent>>,
    instance_id: String,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("instance_id", &self.instance_id)
            .field("listening", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl EventHub {
    pub(crate) fn start(db: &Database, options: &QueueOptions) -> Arc<Self> {
        let (sender, _) = broadcast::channel(options.event_capacity.max(16));
        let instance_id = uuid::Uuid::new_v4().simple().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let listener = (db.backend() == Backend::Postgres).then(|| {
            let listener = Listener {
                db: db.clone(),
                sender: sender.clone(),
                instance_id: instance_id.clone(),
                stop: Arc::clone(&stop),
                poll: options.listen_poll,
            };
            std::thread::Builder::new()
                .name("recozik-job-events".into())
                .spawn(move || listener.run())
        });
        let listener = match listener {
            Some(Ok(handle)) => Some(handle),
            Some(Err(err)) => {
                tracing::error!(%err, "cannot start the job-event listener thread; cross-process events rely on polling");
                None
            }
            None => None,
        };
        Arc::new(Self {
            sender,
            instance_id,
            stop,
            listener,
        })
    }

    pub(crate) fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub(crate) fn receiver(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.sender.subscribe()
    }

    pub(crate) fn publish_local(&self, events: Vec<JobEvent>) {
        for event in events {
            // An error only means nobody is listening right now.
            let _ = self.sender.send(Arc::new(event));
        }
    }
}

impl Drop for EventHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
    }
}

struct Listener {
    db: Database,
    sender: broadcast::Sender<Arc<JobEvent>>,
    instance_id: String,
    stop: Arc<AtomicBool>,
    poll: Duration,
}

impl Listener {
    fn run(self) {
        let mut backoff = Duration::from_millis(100);
        while !self.stop.load(Ordering::Relaxed) {
            match self.listen() {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(%err, "job-event listener lost its connection; reconnecting");
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn sleep(&self, total: Duration) {
        let step = Duration::from_millis(20);
        let mut slept = Duration::ZERO;
        while slept < total && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(step);
            slept += step;
        }
    }

    /// Returns `Ok` when asked to stop, `Err` when the connection failed.
    fn listen(&self) -> Result<()> {
        let mut conn = self.db.connect_pg_dedicated()?;
        conn.batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))?;
        // Make sure the connection is alive before claiming to listen.
        diesel::sql_query("SELECT 1").execute(&mut conn)?;
        tracing::debug!("listening for job events");
        while !self.stop.load(Ordering::Relaxed) {
            let mut batch = Vec::new();
            for note in conn.notifications_iter() {
                batch.push(note?.payload);
            }
            for payload in batch {
                if let Err(err) = self.forward(&payload) {
                    tracing::warn!(%err, payload, "cannot forward a job event notification");
                }
            }
            std::thread::sleep(self.poll);
        }
        Ok(())
    }

    fn forward(&self, payload: &str) -> Result<()> {
        let mut parts = payload.split('|');
        let (Some(instance), Some(job_id), Some(first), Some(last)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StorageError::Corrupt(format!(
                "bad notification {payload:?}"
            )));
        };
        if instance == self.instance_id {
            return Ok(()); // already published locally, after our own commit
        }
        let bad = |_| StorageError::Corrupt(format!("bad notification {payload:?}"));
        let first: i64 = first.parse().map_err(bad)?;
        let last: i64 = last.parse().map_err(bad)?;
        if self.sender.receiver_count() == 0 {
            return Ok(());
        }
        let mut conn = self.db.conn()?;
        for event in events_between(&mut conn, job_id, first - 1, last)? {
            let _ = self.sender.send(Arc::new(event));
        }
        Ok(())
    }
}

/// A live subscription to one job's events. Yields each event once, in sequence order,
/// starting right after the sequence number it was created with.
pub struct JobSubscription {
    queue: JobQueue,
    job_id: String,
    last_seq: i64,
    rx: broadcast::Receiver<Arc<JobEvent>>,
    pending: VecDeque<JobEvent>,
}

impl std::fmt::Debug for JobSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSubscription")
            .field("job_id", &self.job_id)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl JobSubscription {
    pub(crate) fn new(
        queue: JobQueue,
        job_id: String,
        last_seq: i64,
        rx: broadcast::Receiver<Arc<JobEvent>>,
    ) -> Self {
        Self {
            queue,
            job_id,
            last_seq,
            rx,
            pending: VecDeque::new(),
        }
    }

    /// The job.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Sequence number of the last event yielded (or of the snapshot).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Waits for the next event of the job. Cancel-safe with respect to the event stream: a
    /// dropped future loses no persisted event (the next call re-reads what it needs).
    pub async fn next(&mut self) -> Result<JobEvent> {
        let poll = self.queue.options().subscription_poll;
        loop {
            while let Some(event) = self.pending.pop_front() {
                if event.seq > self.last_seq {
                    self.last_seq = event.seq;
                    return Ok(event);
                }
            }
            match tokio::time::timeout(poll, self.rx.recv()).await {
                Ok(Ok(event)) => {
                    if event.job_id != self.job_id || event.seq <= self.last_seq {
                        continue;
                    }
                    if event.seq == self.last_seq + 1 {
                        self.last_seq = event.seq;
                        return Ok((*event).clone());
                    }
                    self.backfill().await?; // a gap: read what we missed
                }
                Ok(Err(broadcast::error::RecvError::Lagged(skipped))) => {
                    tracing::debug!(skipped, job_id = %self.job_id, "subscriber lagged; re-reading events");
                    self.backfill().await?;
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(StorageError::Task("job event channel closed".into()));
                }
                Err(_idle) => self.backfill().await?,
            }
        }
    }

    /// Events already persisted but not yet yielded, without waiting (blocking database read;
    /// call from a blocking context).
    pub fn drain_persisted(&mut self) -> Result<Vec<JobEvent>> {
        let events = self.queue.events_after(&self.job_id, self.last_seq)?;
        if let Some(last) = events.last() {
            self.last_seq = last.seq;
        }
        self.pending.clear();
        Ok(events)
    }

    async fn backfill(&mut self) -> Result<()> {
        let queue = self.queue.clone();
        let job_id = self.job_id.clone();
        let after = self.last_seq;
        let events = tokio::task::spawn_blocking(move || queue.events_after(&job_id, after))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))??;
        self.pending.extend(events);
        Ok(())
    }
}
