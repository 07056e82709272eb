//! The identify pipeline: fingerprint a file, look it up (cache, AcoustID, AudD), enrich it from
//! MusicBrainz, fall back to its own tags, and report what happened.
//!
//! Order of operations (upstream's, with its bugs fixed):
//! 1. `identify` must be permitted.
//! 2. Fingerprint (on a blocking thread).
//! 3. Cache lookup unless refreshing; a hit (never an empty list) skips every service.
//! 4. AudD first when it is available and preferred.
//! 5. AcoustID when nothing matched yet (consuming `acoustid_lookup`). A failure does not abort
//!    when AudD can still be tried: it is reported, and AudD runs.
//! 6. AudD when nothing matched and it has not run yet.
//! 7. MusicBrainz enrichment of the best matches, when enabled and permitted.
//! 8. Embedded tags when nothing matched.
//!
//! Optional stages (AudD, MusicBrainz) that are denied or over quota are skipped with a note
//! instead of failing the whole identification. Every paid call is metered: each AudD endpoint
//! consumes its own scope (`audd_standard_lookup`, `audd_enterprise_lookup`) before it is
//! called, and the fallback to the other endpoint happens only after a call that was made and
//! found nothing, never after a quota refusal.

mod error;
mod hooks;
mod request;

pub use error::{IdentifyError, Service, UpstreamError};
pub use hooks::{IdentifyHooks, NoProgress, ProgressLevel, ProgressSink, RecordingMemo};
pub use request::{IdentifyRequest, IdentifyResult, MusicBrainzOptions, Services, ServicesConfig};

use std::path::PathBuf;
use std::time::SystemTime;

use crate::acoustid::AcoustIdError;
use crate::audd::{AudDEndpoint, AudDError};
use crate::cache::{CachedLookup, LookupCache, LookupKey, MatchSource};
use crate::fingerprint::{Fingerprint, FingerprintOptions, fingerprint_file};
use crate::matches::Match;
use crate::metadata::read_embedded_metadata;
use crate::musicbrainz::is_mbid;
use crate::policy::{Feature, QuotaScope};

/// The note set when AudD supplied the final matches.
pub const AUDD_NOTE: &str = "Source: AudD.";

/// Identifies `request.audio_path`. See the module documentation for the order of operations.
pub async fn identify(
    services: &Services,
    request: &IdentifyRequest,
    hooks: &IdentifyHooks<'_>,
) -> Result<IdentifyResult, IdentifyError> {
    Run {
        services,
        request,
        hooks,
        audd_note: None,
        audd_error: None,
        audd_attempted: false,
    }
    .execute()
    .await
}

/// How the AcoustID step of [`identify_fingerprinted`] is done.
#[derive(Debug)]
pub enum AcoustIdStep {
    /// Consult the cache, then AcoustID (consuming `acoustid_lookup`): what [`identify`] does.
    Live,
    /// The caller found this cache entry (a batch checks the cache before batching).
    Cached(CachedLookup),
    /// The caller looked the fingerprint up (in a batch lookup) and consumed its quota.
    LookedUp(Result<Vec<Match>, AcoustIdError>),
}

/// The rest of [`identify`] for a file the caller has fingerprinted: what a batch does after
/// its batched AcoustID lookup. The `identify` feature is not checked again: the caller
/// checked it before fingerprinting.
pub async fn identify_fingerprinted(
    services: &Services,
    request: &IdentifyRequest,
    hooks: &IdentifyHooks<'_>,
    fingerprint: Fingerprint,
    acoustid: AcoustIdStep,
) -> Result<IdentifyResult, IdentifyError> {
    Run {
        services,
        request,
        hooks,
        audd_note: None,
        audd_error: None,
        audd_attempted: false,
    }
    .complete(fingerprint, acoustid)
    .await
}

/// The usable cache entry for `fingerprint`, when the request uses the cache and does not
/// refresh it (an entry never holds an empty match list).
pub async fn cached_lookup(
    request: &IdentifyRequest,
    hooks: &IdentifyHooks<'_>,
    fingerprint: &Fingerprint,
) -> Option<CachedLookup> {
    let cache = hooks
        .cache
        .filter(|_| request.cache_enabled && !request.refresh_cache)?;
    let key = LookupKey::new(&fingerprint.fingerprint, fingerprint.duration_seconds);
    match cache.get(&key, request.cache_ttl()).await {
        Ok(Some(entry)) if !entry.matches.is_empty() => Some(entry),
        Ok(_) => None,
        Err(error) => {
            hooks.progress.report(
                ProgressLevel::Warning,
                &format!("{error}; continuing without it."),
            );
            None
        }
    }
}

/// Computes a fingerprint on a blocking thread.
pub async fn fingerprint_blocking(
    path: PathBuf,
    options: FingerprintOptions,
) -> Result<Fingerprint, IdentifyError> {
    tokio::task::spawn_blocking(move || fingerprint_file(&path, &options))
        .await
        .map_err(|error| IdentifyError::Internal(format!("fingerprinting stopped: {error}")))?
        .map_err(IdentifyError::BadAudio)
}

struct Run<'r> {
    services: &'r Services,
    request: &'r IdentifyRequest,
    hooks: &'r IdentifyHooks<'r>,
    audd_note: Option<String>,
    audd_error: Option<String>,
    audd_attempted: bool,
}

impl Run<'_> {
    fn info(&self, message: &str) {
        tracing::debug!(message, "identify");
        self.hooks.progress.report(ProgressLevel::Info, message);
    }

    fn warn(&self, message: &str) {
        tracing::info!(message, "identify");
        self.hooks.progress.report(ProgressLevel::Warning, message);
    }

    fn cache(&self) -> Option<&dyn LookupCache> {
        self.hooks.cache.filter(|_| self.request.cache_enabled)
    }

    async fn execute(self) -> Result<IdentifyResult, IdentifyError> {
        let request = self.request;
        self.hooks.access.ensure_feature(Feature::Identify).await?;

        self.info("Computing the audio fingerprint.");
        let fingerprint =
            fingerprint_blocking(request.audio_path.clone(), request.fingerprint).await?;
        self.complete(fingerprint, AcoustIdStep::Live).await
    }

    /// Everything after the fingerprint.
    async fn complete(
        mut self,
        fingerprint: Fingerprint,
        acoustid: AcoustIdStep,
    ) -> Result<IdentifyResult, IdentifyError> {
        let request = self.request;
        let key = LookupKey::new(&fingerprint.fingerprint, fingerprint.duration_seconds);

        let mut matches: Vec<Match> = Vec::new();
        let mut source: Option<MatchSource> = None;
        let (cached, mut looked_up) = match acoustid {
            AcoustIdStep::Live => (cached_lookup(request, self.hooks, &fingerprint).await, None),
            AcoustIdStep::Cached(entry) => (Some(entry), None),
            AcoustIdStep::LookedUp(answer) => (None, Some(answer)),
        };
        let cache_hit = cached.is_some();
        if let Some(entry) = cached {
            self.info("Using the cached lookup result.");
            matches = entry.matches;
            source = Some(entry.source);
        }

        let audd_available = request.audd.available();
        if !cache_hit && audd_available && request.audd.prefer {
            let found = self.run_audd(true).await;
            if !found.is_empty() {
                matches = found;
                source = Some(MatchSource::AudD);
                self.store(&key, MatchSource::AudD, &matches).await;
            }
        }

        let mut acoustid_failure: Option<IdentifyError> = None;
        if matches.is_empty() && !cache_hit {
            let answer = match looked_up.take() {
                Some(answer) => answer.map_err(|error| UpstreamError::AcoustId(error).into()),
                None => self.run_acoustid(&fingerprint).await,
            };
            match answer {
                Ok(found) if !found.is_empty() => {
                    matches = found;
                    source = Some(MatchSource::AcoustId);
                    self.store(&key, MatchSource::AcoustId, &matches).await;
                }
                Ok(_) => self.info("AcoustID found no match."),
                Err(error @ IdentifyError::QuotaExceeded { .. }) => return Err(error),
                Err(error) => acoustid_failure = Some(error),
            }
        }

        if matches.is_empty() && audd_available && !self.audd_attempted {
            if let Some(failure) = &acoustid_failure {
                self.warn(&format!("AcoustID lookup failed: {failure}. Trying AudD."));
            }
            let found = self.run_audd(false).await;
            if !found.is_empty() {
                matches = found;
                source = Some(MatchSource::AudD);
                self.store(&key, MatchSource::AudD, &matches).await;
            }
        }

        if let Some(failure) = acoustid_failure
            && matches.is_empty()
        {
            return Err(failure);
        }

        if let Some(found_source) = source.filter(|_| request.musicbrainz.enabled)
            && self.enrich(&mut matches).await
        {
            self.store(&key, found_source, &matches).await;
        }

        let metadata = if matches.is_empty() && request.metadata_fallback {
            let path = request.audio_path.clone();
            let metadata = tokio::task::spawn_blocking(move || read_embedded_metadata(&path))
                .await
                .ok()
                .flatten();
            if metadata.is_some() {
                self.info("No matches found; embedded metadata recorded.");
            }
            metadata
        } else {
            None
        };
        if matches.is_empty() {
            source = None;
        }

        Ok(IdentifyResult {
            matches,
            match_source: source,
            metadata,
            audd_note: self.audd_note,
            audd_error: self.audd_error,
            fingerprint: fingerprint.fingerprint,
            duration_seconds: fingerprint.duration_seconds,
        })
    }

    async fn store(&self, key: &LookupKey, source: MatchSource, matches: &[Match]) {
        let Some(cache) = self.cache() else {
            return;
        };
        if matches.is_empty() {
            return;
        }
        let entry = CachedLookup {
            source,
            matches: matches.to_vec(),
            stored_at: SystemTime::now(),
        };
        if let Err(error) = cache.put(key, entry).await {
            self.warn(&format!("{error}; the result was not cached."));
        }
    }

    async fn run_acoustid(&self, fingerprint: &Fingerprint) -> Result<Vec<Match>, IdentifyError> {
        let key = &self.request.acoustid_api_key;
        if key.is_empty() {
            return Err(IdentifyError::Config(
                AcoustIdError::MissingApiKey.to_string(),
            ));
        }
        self.hooks
            .quota
            .consume(QuotaScope::AcoustidLookup, 1)
            .await?;
        self.info("Looking the fingerprint up on AcoustID.");
        match self
            .services
            .acoustid
            .lookup(key, &fingerprint.fingerprint, fingerprint.duration_seconds)
            .await
        {
            Ok(found) => Ok(found),
            Err(error) => {
                if error.is_transient() {
                    self.hooks.quota.refund(QuotaScope::AcoustidLookup, 1).await;
                }
                Err(UpstreamError::AcoustId(error).into())
            }
        }
    }

    /// One AudD run: the primary endpoint, then the other one when the first was called and
    /// found nothing and the enterprise fallback is on. Each endpoint is metered by its own
    /// scope; a primary refused by its quota ends the run, so that a spent standard quota never
    /// turns into a whole-file upload to the enterprise endpoint (nor the reverse). Failures
    /// are recorded in `audd_error`, never raised.
    async fn run_audd(&mut self, acoustid_follows: bool) -> Vec<Match> {
        self.audd_attempted = true;
        if let Err(error) = self.hooks.access.ensure_feature(Feature::Audd).await {
            self.warn(&format!("AudD skipped: {error}."));
            self.audd_error = Some(error.to_string());
            return Vec::new();
        }
        let options = &self.request.audd;
        let primary = options.primary_endpoint();
        let Some(found) = self.audd_attempt(primary, acoustid_follows).await else {
            return Vec::new();
        };
        if !found.is_empty() || !options.enterprise_fallback {
            return found;
        }
        self.info(&format!(
            "AudD {primary} found nothing; trying the {} endpoint.",
            primary.other()
        ));
        self.audd_attempt(primary.other(), acoustid_follows)
            .await
            .unwrap_or_default()
    }

    /// One call of an AudD endpoint, after consuming its quota scope. `None` when the quota
    /// refused (nothing was sent), else the matches (empty when the call failed).
    async fn audd_attempt(
        &mut self,
        endpoint: AudDEndpoint,
        acoustid_follows: bool,
    ) -> Option<Vec<Match>> {
        let scope = match endpoint {
            AudDEndpoint::Standard => QuotaScope::AuddStandardLookup,
            AudDEndpoint::Enterprise => QuotaScope::AuddEnterpriseLookup,
        };
        if let Err(error) = self.hooks.quota.consume(scope, 1).await {
            self.warn(&format!("AudD {endpoint} skipped: {error}."));
            self.audd_error = Some(error.to_string());
            return None;
        }
        let outcome = match endpoint {
            AudDEndpoint::Standard => self.audd_standard().await,
            AudDEndpoint::Enterprise => {
                self.info("Sending the whole file to the AudD enterprise endpoint.");
                self.services
                    .audd
                    .recognize_enterprise(
                        &self.request.audd.token,
                        &self.request.audio_path,
                        &self.request.audd.params,
                    )
                    .await
            }
        };
        Some(match outcome {
            Ok(found) => {
                if found.is_empty() {
                    self.info(&format!("AudD {endpoint} found no match."));
                } else {
                    self.audd_note = Some(AUDD_NOTE.to_owned());
                }
                found
            }
            Err(error) => {
                if !served(&error) {
                    self.hooks.quota.refund(scope, 1).await;
                }
                if acoustid_follows && endpoint == AudDEndpoint::Standard {
                    self.warn(&format!(
                        "AudD lookup failed: {error}. Falling back to AcoustID."
                    ));
                } else {
                    self.warn(&format!("AudD lookup failed: {error}."));
                }
                self.audd_error = Some(error.to_string());
                Vec::new()
            }
        })
    }

    async fn audd_standard(&self) -> Result<Vec<Match>, AudDError> {
        let options = &self.request.audd;
        let offset = options.snippet_offset_seconds.max(0.0);
        if offset > 0.0 {
            self.info(&format!(
                "Preparing AudD snippet (~12s, mono 16 kHz) starting at ~{offset:.2}s before upload."
            ));
        } else {
            self.info("Preparing AudD snippet (~12s, mono 16 kHz) before upload.");
        }
        let snippet = self
            .services
            .audd
            .prepare_snippet(
                &self.request.audio_path,
                offset,
                crate::audio::DecodeLimits {
                    deadline: self.request.fingerprint.whole_file_deadline(),
                },
            )
            .await?;
        if let Some(minimum) = options.snippet_min_rms
            && snippet.info.rms < minimum
        {
            self.warn(&format!(
                "AudD snippet RMS is low (~{:.4}); consider adjusting the offset or using the enterprise endpoint.",
                snippet.info.rms
            ));
        }
        let name = self
            .request
            .audio_path
            .file_name()
            .map_or_else(|| "audio".to_owned(), |n| n.to_string_lossy().into_owned());
        self.services
            .audd
            .recognize_snippet(&options.token, &snippet, &name)
            .await
    }

    /// Fills missing fields of the best matches from MusicBrainz. Returns true when anything
    /// changed.
    async fn enrich(&self, matches: &mut [Match]) -> bool {
        let options = &self.request.musicbrainz;
        let mut ids: Vec<String> = Vec::new();
        for candidate in matches.iter().take(options.max_matches) {
            let complete = candidate.title.is_some() && candidate.artist.is_some();
            let id = candidate.recording_id.trim().to_ascii_lowercase();
            if is_mbid(&id) && !(options.enrich_missing_only && complete) && !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut changed = false;
        if let Some(memo) = self.hooks.recordings {
            // Recordings this batch already fetched cost nothing more.
            ids.retain(|id| match memo.get(id) {
                Some(known) => {
                    if let Some(recording) = known {
                        changed |= fill_matching(matches, id, &recording);
                    }
                    false
                }
                None => true,
            });
        }
        if ids.is_empty() {
            return changed;
        }
        if let Err(error) = self
            .hooks
            .access
            .ensure_feature(Feature::MusicbrainzEnrich)
            .await
        {
            self.warn(&format!("MusicBrainz enrichment skipped: {error}."));
            return changed;
        }
        let cost = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        if let Err(error) = self
            .hooks
            .quota
            .consume(QuotaScope::MusicbrainzEnrich, cost)
            .await
        {
            self.warn(&format!("MusicBrainz enrichment skipped: {error}."));
            return changed;
        }
        self.info("Completing the matches from MusicBrainz.");
        let mut failed = 0u32;
        for id in &ids {
            match self.services.musicbrainz.lookup_recording(id).await {
                Ok(Some(recording)) => {
                    changed |= fill_matching(matches, id, &recording);
                    if let Some(memo) = self.hooks.recordings {
                        memo.remember(id, Some(recording));
                    }
                }
                Ok(None) => {
                    if let Some(memo) = self.hooks.recordings {
                        memo.remember(id, None);
                    }
                }
                Err(error) => {
                    failed += 1;
                    self.warn(&format!("MusicBrainz lookup failed for {id}: {error}."));
                }
            }
        }
        if failed > 0 {
            self.hooks
                .quota
                .refund(QuotaScope::MusicbrainzEnrich, failed)
                .await;
        }
        changed
    }
}

/// Completes the matches of recording `id` from `recording`; true when anything changed.
fn fill_matching(
    matches: &mut [Match],
    id: &str,
    recording: &crate::musicbrainz::MbRecording,
) -> bool {
    let mut changed = false;
    for target in matches
        .iter_mut()
        .filter(|m| m.recording_id.trim().eq_ignore_ascii_case(id))
    {
        changed |= recording.fill_match(target);
    }
    changed
}

/// Whether a failed AudD call was nevertheless served by AudD (and so should stay metered).
fn served(error: &AudDError) -> bool {
    match error {
        AudDError::Service { .. } | AudDError::InvalidResponse { .. } => true,
        AudDError::Http { status } => *status != 429 && *status < 500,
        _ => false,
    }
}
