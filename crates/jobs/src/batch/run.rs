//! The run of a batch job: the fingerprinting task, the batched lookups, and the recording of
//! each file's entry with its `file` event and the rate-limited `progress` events.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use recozik_auth::Principal;
use recozik_core::acoustid::BatchQuery;
use recozik_core::batch::entry::{BatchEntry, EntryStatus};
use recozik_core::identify::{
    AcoustIdStep, IdentifyHooks, IdentifyRequest, ProgressSink, RecordingMemo, cached_lookup,
    fingerprint_blocking, identify_fingerprinted,
};
use recozik_core::policy::{AccessPolicy, Feature, QuotaPolicy, QuotaScope};
use recozik_core::{Fingerprint, IdentifyError};
use recozik_storage::{BatchFile, BatchProgress, BatchStore, JobEventData};
use tokio::sync::mpsc;

use super::{BatchPayload, BatchSummary, PAGE, PROGRESS_EVERY};
use crate::client_text::identify_error_text;
use crate::context::JobContext;
use crate::identify::build_request;
use crate::kind::{JobFailure, Progress};
use crate::policy::{DatabaseLookupCache, PrincipalPolicy};
use crate::run::AbortOnDrop;

/// One file after fingerprinting.
struct Fingerprinted {
    file: BatchFile,
    outcome: Result<Fingerprint, IdentifyError>,
}

/// Runs a batch job as `principal`.
pub async fn run(
    context: &JobContext,
    job_id: &str,
    payload: &BatchPayload,
    principal: Principal,
    progress: &Progress,
) -> Result<BatchSummary, JobFailure> {
    let store = BatchStore::new(context.storage().jobs.clone());
    let policy = PrincipalPolicy {
        auth: context.auth().clone(),
        principal,
    };
    for feature in [Feature::Identify, Feature::IdentifyBatch] {
        policy
            .ensure_feature(feature)
            .await
            .map_err(|error| JobFailure::Client(error.to_string()))?;
    }
    let config = context.config();
    let template = build_request(
        &config.identify,
        PathBuf::new(),
        &payload.options.identify_options(),
    );
    let cache = DatabaseLookupCache {
        db: context.storage().jobs.clone(),
        ttl: std::time::Duration::from_secs(u64::from(template.cache_ttl_hours.max(1)) * 3600),
    };
    let memo = RecordingMemo::default();
    let mut request_template = template;
    request_template.musicbrainz.enabled &= payload.options.musicbrainz;
    let counts = {
        let (store, job_id) = (store.clone(), job_id.to_owned());
        blocking(move || store.progress(&job_id)).await?
    };
    let runner = Runner {
        counts,
        progress,
        last_progress: None,
        context,
        job_id,
        payload,
        store: &store,
        policy: &policy,
        cache: &cache,
        memo: &memo,
        template: &request_template,
        quota_exhausted: None,
    };
    runner.run_all().await
}

struct Runner<'a> {
    /// The job's counts, kept up to date as entries are recorded.
    counts: BatchProgress,
    progress: &'a Progress,
    last_progress: Option<std::time::Instant>,
    context: &'a JobContext,
    job_id: &'a str,
    payload: &'a BatchPayload,
    store: &'a BatchStore,
    policy: &'a PrincipalPolicy,
    cache: &'a DatabaseLookupCache,
    memo: &'a RecordingMemo,
    template: &'a IdentifyRequest,
    /// Set once the AcoustID quota runs out: every later file gets this error.
    quota_exhausted: Option<String>,
}

impl Runner<'_> {
    fn hooks<'h>(&'h self, progress: &'h dyn ProgressSink) -> IdentifyHooks<'h> {
        IdentifyHooks::default()
            .with_access(self.policy)
            .with_quota(self.policy)
            .with_cache(self.cache)
            .with_recordings(self.memo)
            .with_progress(progress)
    }

    fn request_for(&self, file: &BatchFile) -> IdentifyRequest {
        let mut request = self.template.clone();
        request.audio_path = self.payload.base.join(&file.path);
        request
    }

    async fn run_all(mut self) -> Result<BatchSummary, JobFailure> {
        let batch_size = self.context.config().acoustid_batch_size.max(1);
        let (sender, mut receiver) = mpsc::channel::<Fingerprinted>(batch_size * 2);
        let _fingerprinting = AbortOnDrop(tokio::spawn(fingerprint_all(
            self.store.clone(),
            self.job_id.to_owned(),
            self.payload.base.clone(),
            self.template.fingerprint,
            self.context.config().batch_fingerprint_workers.max(1),
            sender,
        )));
        let quiet = recozik_core::identify::NoProgress;
        let mut waiting: Vec<(BatchFile, Fingerprint)> = Vec::with_capacity(batch_size);
        self.report_progress(true);
        while let Some(item) = receiver.recv().await {
            match item.outcome {
                Err(error) => self.record_failure(&item.file, &error).await?,
                Ok(fingerprint) => {
                    let request = self.request_for(&item.file);
                    match cached_lookup(&request, &self.hooks(&quiet), &fingerprint).await {
                        Some(entry) => {
                            let outcome = identify_fingerprinted(
                                self.context.services(),
                                &request,
                                &self.hooks(&quiet),
                                fingerprint,
                                AcoustIdStep::Cached(entry),
                            )
                            .await;
                            self.record(&item.file, outcome).await?;
                        }
                        None => waiting.push((item.file, fingerprint)),
                    }
                }
            }
            // Look up when a batch is full, or when nothing more is ready right now (so a
            // slow file does not hold finished ones back).
            if waiting.len() >= batch_size || (!waiting.is_empty() && receiver.is_empty()) {
                self.look_up(std::mem::take(&mut waiting)).await?;
            }
            self.report_progress(false);
        }
        if !waiting.is_empty() {
            self.look_up(waiting).await?;
        }
        // The database's counts are the truth (another worker may have recorded files).
        self.counts = self.progress_from_database().await?;
        let summary = BatchSummary::from(self.counts);
        self.report_progress(true);
        self.progress.message(format!(
            "Results: {} identified, {} unmatched, {} failures.",
            summary.identified, summary.unmatched, summary.failed
        ));
        Ok(summary)
    }

    /// A `progress` event, at most every [`PROGRESS_EVERY`] unless `now`.
    fn report_progress(&mut self, now: bool) {
        if !now
            && self
                .last_progress
                .is_some_and(|at| at.elapsed() < PROGRESS_EVERY)
        {
            return;
        }
        self.last_progress = Some(std::time::Instant::now());
        let summary = BatchSummary::from(self.counts);
        self.progress.event(JobEventData::Progress {
            progress: serde_json::to_value(summary).unwrap_or_default(),
        });
    }

    async fn progress_from_database(&self) -> Result<BatchProgress, JobFailure> {
        let (store, job_id) = (self.store.clone(), self.job_id.to_owned());
        blocking(move || store.progress(&job_id)).await
    }

    /// Meters, looks up and finishes `files` (at most one batch).
    async fn look_up(&mut self, files: Vec<(BatchFile, Fingerprint)>) -> Result<(), JobFailure> {
        let mut admitted = Vec::with_capacity(files.len());
        for (file, fingerprint) in files {
            if let Some(reason) = &self.quota_exhausted {
                let reason = reason.clone();
                self.record_entry(&file, BatchEntry::failed(file.path.clone(), reason))
                    .await?;
                continue;
            }
            match self.policy.consume(QuotaScope::AcoustidLookup, 1).await {
                Ok(()) => admitted.push((file, fingerprint)),
                Err(error) => {
                    let reason = error.to_string();
                    self.quota_exhausted = Some(reason.clone());
                    self.record_entry(&file, BatchEntry::failed(file.path.clone(), reason))
                        .await?;
                }
            }
        }
        if admitted.is_empty() {
            return Ok(());
        }
        let queries: Vec<BatchQuery> = admitted
            .iter()
            .map(|(_, fingerprint)| BatchQuery {
                fingerprint: fingerprint.fingerprint.clone(),
                duration_seconds: fingerprint.duration_seconds,
            })
            .collect();
        let services = self.context.services();
        let answers = services
            .acoustid
            .lookup_batch(
                &self.template.acoustid_api_key,
                &queries,
                self.context.config().acoustid_batch_size,
            )
            .await;
        let answers = match answers {
            Ok(answers) => answers,
            Err(error) => {
                if error.is_transient() {
                    let cost = u32::try_from(admitted.len()).unwrap_or(u32::MAX);
                    self.policy.refund(QuotaScope::AcoustidLookup, cost).await;
                }
                (0..admitted.len()).map(|_| Err(error.clone())).collect()
            }
        };
        let quiet = recozik_core::identify::NoProgress;
        for ((file, fingerprint), answer) in admitted.into_iter().zip(answers) {
            let request = self.request_for(&file);
            let outcome = identify_fingerprinted(
                services,
                &request,
                &self.hooks(&quiet),
                fingerprint,
                AcoustIdStep::LookedUp(answer),
            )
            .await;
            self.record(&file, outcome).await?;
        }
        Ok(())
    }

    async fn record(
        &mut self,
        file: &BatchFile,
        outcome: Result<recozik_core::IdentifyResult, IdentifyError>,
    ) -> Result<(), JobFailure> {
        match outcome {
            Ok(result) => {
                let entry = BatchEntry::identified(
                    file.path.clone(),
                    &result,
                    self.payload.options.kept(),
                    self.payload.options.template(),
                );
                self.record_entry(file, entry).await
            }
            Err(error) => self.record_failure(file, &error).await,
        }
    }

    async fn record_failure(
        &mut self,
        file: &BatchFile,
        error: &IdentifyError,
    ) -> Result<(), JobFailure> {
        let text = identify_error_text(error).unwrap_or_else(|| {
            tracing::warn!(%error, path = %file.path, "batch file failed");
            crate::UNEXPECTED_ERROR.to_owned()
        });
        self.record_entry(file, BatchEntry::failed(file.path.clone(), text))
            .await
    }

    /// Stores the entry of `file`, counts it, and sends it as a `file` event.
    async fn record_entry(
        &mut self,
        file: &BatchFile,
        entry: BatchEntry,
    ) -> Result<(), JobFailure> {
        let value = serde_json::to_value(&entry)
            .map_err(|error| JobFailure::Internal(error.to_string()))?;
        let json = value.to_string();
        let status = entry.status;
        let (store, job_id, seq) = (self.store.clone(), self.job_id.to_owned(), file.seq);
        let recorded = blocking(move || store.record(&job_id, seq, status.as_str(), &json)).await?;
        if recorded {
            self.counts.done += 1;
            match status {
                EntryStatus::Ok => self.counts.identified += 1,
                EntryStatus::Unmatched => self.counts.unmatched += 1,
                EntryStatus::Error => self.counts.failed += 1,
            }
            self.progress.event(JobEventData::File { entry: value });
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> recozik_storage::Result<T> + Send + 'static,
) -> Result<T, JobFailure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| JobFailure::Internal(error.to_string()))?
        .map_err(|error| JobFailure::Internal(error.to_string()))
}

/// Fingerprints every pending file of the job, in order, `workers` at a time, sending each
/// outcome to `sender`; stops when the receiver is gone.
async fn fingerprint_all(
    store: BatchStore,
    job_id: String,
    base: PathBuf,
    options: recozik_core::FingerprintOptions,
    workers: usize,
    sender: mpsc::Sender<Fingerprinted>,
) {
    let base = Arc::new(base);
    let mut after: Option<i64> = None;
    loop {
        let page = {
            let (store, job_id) = (store.clone(), job_id.clone());
            tokio::task::spawn_blocking(move || store.pending(&job_id, after, PAGE)).await
        };
        let page = match page {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the batch's files");
                return;
            }
            Err(_) => return,
        };
        let Some(last) = page.last() else {
            return;
        };
        after = Some(last.seq);
        let mut outcomes = futures_util::stream::iter(page)
            .map(|file| {
                let path = resolve(&base, &file.path);
                async move {
                    let outcome = match path {
                        Some(path) => fingerprint_blocking(path, options).await,
                        // Shown with the stored (relative) path, never the server's.
                        None => Err(IdentifyError::BadAudio(
                            recozik_core::AudioError::NotAFile {
                                path: PathBuf::from(&file.path),
                            },
                        )),
                    };
                    Fingerprinted { file, outcome }
                }
            })
            .buffered(workers);
        while let Some(item) = outcomes.next().await {
            if sender.send(item).await.is_err() {
                return;
            }
        }
    }
}

/// The file to open for a stored path: under `base`, never through a symbolic link (a file
/// may have been replaced by one since the job was submitted).
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let path = base.join(relative);
    let metadata = std::fs::symlink_metadata(&path).ok()?;
    if !metadata.file_type().is_file() {
        return None;
    }
    let resolved = path.canonicalize().ok()?;
    let base = base.canonicalize().ok()?;
    resolved.starts_with(&base).then_some(resolved)
}
