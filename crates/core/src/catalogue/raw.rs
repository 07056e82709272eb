//! Raw Chromaprint items, the catalogue's unit of matching: a whole track's items (what
//! `fpcalc -raw -length 0` prints) and a query's items at four sub-hop phases.
//!
//! Each call is one streamed decode through [`decode_pcm`], so media is opened only the way
//! the rest of the crate opens it (demuxer allowlist, plain files, deadline, stream limits),
//! converted to mono 16-bit at 11 025 Hz exactly as [`crate::fingerprint_file`] feeds
//! Chromaprint. Only items are kept: the PCM flows through a few bounded batches, whatever the
//! file's length.
//!
//! Why phases: Chromaprint frames its input every [`ITEM_HOP_SAMPLES`] samples. A snippet cut
//! at a position that is not a multiple of the hop is framed differently from the track, and
//! every one of its items straddles two of the track's. Fingerprinting the query again after
//! dropping a quarter, a half and three quarters of a hop ([`QUERY_PHASES`]) guarantees one
//! framing within an eighth of a hop of the track's; the track itself needs no change.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use chromaprint_rust::{Algorithm, Context};
use serde::{Deserialize, Serialize};

use crate::audio::{AudioError, DecodeLimits, DecodeSummary, PcmFormat, decode_pcm};
use crate::fingerprint::{CHROMAPRINT_SAMPLE_RATE, FingerprintOptions};

pub use super::ITEM_HOP_SAMPLES;

pub use super::ITEM_SECONDS;

/// Samples of the 11 025 Hz stream dropped before each query phase: 0, ¼, ½ and ¾ of a hop.
pub const QUERY_PHASES: [u32; 4] = [0, 341, 683, 1_024];

/// The raw items of a whole track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawItems {
    /// One uncompressed Chromaprint item per hop, from the start of the file to its end.
    pub items: Vec<u32>,
    /// Seconds between consecutive items ([`ITEM_SECONDS`]); item `i` starts at `i × this`.
    pub item_seconds: f64,
    /// The file's duration as [`crate::fingerprint_file`] reports it: the container's declared
    /// duration, else what was decoded.
    pub duration_seconds: f64,
    /// Seconds of audio actually decoded.
    pub decoded_seconds: f64,
}

/// A query's items at one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseItems {
    /// Samples of the 11 025 Hz stream dropped before these items (one of [`QUERY_PHASES`]).
    pub offset_samples: u32,
    /// Item `j` starts `offset_seconds() + j × ITEM_SECONDS` into the query.
    pub items: Vec<u32>,
}

impl PhaseItems {
    /// The dropped samples in seconds.
    pub fn offset_seconds(&self) -> f64 {
        f64::from(self.offset_samples) / f64::from(CHROMAPRINT_SAMPLE_RATE)
    }
}

/// A query's items at the four [`QUERY_PHASES`], from one decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasedItems {
    /// One entry per phase, in [`QUERY_PHASES`] order. Phase 0 always holds at least one item;
    /// later phases see up to 1024 samples less audio, so they may hold one item fewer (none for
    /// a query barely long enough for one item).
    pub phases: Vec<PhaseItems>,
    /// Seconds between consecutive items ([`ITEM_SECONDS`]).
    pub item_seconds: f64,
    /// The query's duration as [`crate::fingerprint_file`] reports it.
    pub duration_seconds: f64,
    /// Seconds of audio actually decoded.
    pub decoded_seconds: f64,
}

/// The raw items of the whole of `path` (never only its first 120 s, whatever
/// `options.max_length_seconds` says), within `options`' whole-file decode deadline.
///
/// Blocking. Memory holds the items (about 8 per second of audio) and a few batches of PCM.
pub fn track_items(path: &Path, options: &FingerprintOptions) -> Result<RawItems, AudioError> {
    let pass = decode_items(path, options.whole_file_deadline(), &[0], None)?;
    let mut phases = pass.phases.into_iter();
    let items = phases.next().unwrap_or_default();
    if items.is_empty() {
        return Err(too_short(path, &pass.summary));
    }
    Ok(RawItems {
        items,
        item_seconds: ITEM_SECONDS,
        duration_seconds: duration_seconds(&pass.summary),
        decoded_seconds: pass.summary.decoded_seconds,
    })
}

/// The items of the query `path` at the four [`QUERY_PHASES`], from one decode feeding four
/// Chromaprint contexts in parallel.
///
/// A query holding more than `max_seconds × 11 025` samples (at 11 025 Hz) is refused with
/// [`AudioError::TooLong`] as soon as decoding passes that point; nothing beyond it is decoded.
/// The deadline is `options`' share for `max_seconds` of audio
/// ([`FingerprintOptions::decode_deadline`]). Blocking.
pub fn query_items(
    path: &Path,
    options: &FingerprintOptions,
    max_seconds: u32,
) -> Result<PhasedItems, AudioError> {
    let deadline = FingerprintOptions {
        max_length_seconds: max_seconds.max(1),
        ..*options
    }
    .decode_deadline();
    let limit = u64::from(max_seconds) * u64::from(CHROMAPRINT_SAMPLE_RATE);
    let pass = decode_items(path, deadline, &QUERY_PHASES, Some(limit))?;
    if pass.over_limit {
        return Err(AudioError::TooLong {
            path: path.to_owned(),
            max_seconds,
        });
    }
    if pass.phases.first().is_none_or(Vec::is_empty) {
        return Err(too_short(path, &pass.summary));
    }
    let phases = QUERY_PHASES
        .iter()
        .zip(pass.phases)
        .map(|(&offset_samples, items)| PhaseItems {
            offset_samples,
            items,
        })
        .collect();
    Ok(PhasedItems {
        phases,
        item_seconds: ITEM_SECONDS,
        duration_seconds: duration_seconds(&pass.summary),
        decoded_seconds: pass.summary.decoded_seconds,
    })
}

/// Batches waiting for each phase's fingerprinter.
const PIPELINE_DEPTH: usize = 4;
/// Samples per batch handed to the fingerprinters (about 1.5 s): few hand-overs, flat memory.
const BATCH_SAMPLES: usize = 16_384;

/// What one decode gave.
struct Pass {
    /// The items of each requested phase, in the order asked.
    phases: Vec<Vec<u32>>,
    summary: DecodeSummary,
    /// Decoding stopped because the stream passed the sample limit.
    over_limit: bool,
}

/// Decodes `path` once and feeds every phase's Chromaprint context, each on its own thread,
/// from the same shared batches; each context skips its phase's samples first. With a `limit`,
/// decoding stops (and reports `over_limit`) as soon as the stream holds more samples.
fn decode_items(
    path: &Path,
    deadline: Duration,
    phases: &[u32],
    limit: Option<u64>,
) -> Result<Pass, AudioError> {
    let target = PcmFormat {
        sample_rate: CHROMAPRINT_SAMPLE_RATE,
        channels: 1,
    };
    let limits = DecodeLimits { deadline };
    let (decoded, computed, over_limit) = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(phases.len());
        let mut workers = Vec::with_capacity(phases.len());
        for &skip in phases {
            let (sender, receiver) = mpsc::sync_channel::<Arc<[i16]>>(PIPELINE_DEPTH);
            senders.push(sender);
            workers.push(scope.spawn(move || fingerprint_phase(&receiver, skip)));
        }
        // A closed channel means that phase's fingerprinter failed; it reports why when joined.
        let send = |batch: &[i16]| {
            let shared: Arc<[i16]> = Arc::from(batch);
            senders
                .iter()
                .all(|sender| sender.send(Arc::clone(&shared)).is_ok())
        };
        let mut fed: u64 = 0;
        let mut over_limit = false;
        let mut batch: Vec<i16> = Vec::with_capacity(BATCH_SAMPLES);
        let decoded = decode_pcm(path, target, limits, |samples| {
            fed += samples.len() as u64;
            if limit.is_some_and(|limit| fed > limit) {
                over_limit = true;
                return ControlFlow::Break(());
            }
            batch.extend_from_slice(samples);
            if batch.len() >= BATCH_SAMPLES {
                let sent = send(&batch);
                batch.clear();
                if !sent {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if !batch.is_empty() && !over_limit {
            // The stream's tail; a fingerprinter failure surfaces when it is joined.
            let _ = send(&batch);
        }
        drop(senders);
        let computed: Result<Vec<Vec<u32>>, String> = workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("a fingerprinting thread panicked".to_owned()))
            })
            .collect();
        (decoded, computed, over_limit)
    });
    let summary = decoded?;
    let phases = computed.map_err(|detail| AudioError::Fingerprinter {
        path: path.to_owned(),
        detail,
    })?;
    Ok(Pass {
        phases,
        summary,
        over_limit,
    })
}

/// Feeds one Chromaprint context everything the channel delivers after the first `skip`
/// samples; returns its raw items (empty when the audio was too short for one).
fn fingerprint_phase(batches: &mpsc::Receiver<Arc<[i16]>>, skip: u32) -> Result<Vec<u32>, String> {
    let mut context = Context::new(Algorithm::default());
    context
        .start(CHROMAPRINT_SAMPLE_RATE, 1)
        .map_err(|error| error.to_string())?;
    let mut to_skip = usize::try_from(skip).unwrap_or(usize::MAX);
    for batch in batches {
        let skipped = to_skip.min(batch.len());
        to_skip -= skipped;
        let rest = &batch[skipped..];
        if !rest.is_empty() {
            context.feed(rest).map_err(|error| error.to_string())?;
        }
    }
    context.finish().map_err(|error| error.to_string())?;
    Ok(context
        .get_fingerprint_raw()
        .map_err(|error| error.to_string())?
        .get()
        .to_vec())
}

/// The duration `fingerprint_file` reports, so that a track's items and its fingerprint agree.
fn duration_seconds(summary: &DecodeSummary) -> f64 {
    match summary.declared_duration_ms {
        Some(ms) => ms as f64 / 1000.0,
        // Raw streams without a declared duration: what was decoded is the best estimate.
        None => (summary.decoded_seconds * 1000.0).floor() / 1000.0,
    }
}

fn too_short(path: &Path, summary: &DecodeSummary) -> AudioError {
    AudioError::TooShort {
        path: path.to_owned(),
        decoded_seconds: summary.decoded_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phases_are_quarter_hops() {
        for (quarter, &phase) in QUERY_PHASES.iter().enumerate() {
            let exact = f64::from(ITEM_HOP_SAMPLES) * quarter as f64 / 4.0;
            assert!(
                (f64::from(phase) - exact).abs() <= 0.75,
                "{phase} vs {exact}"
            );
        }
        assert!((ITEM_SECONDS - 0.123_81).abs() < 1e-5);
    }

    #[test]
    fn phase_offsets_convert_to_seconds() {
        let phase = PhaseItems {
            offset_samples: 11_025,
            items: Vec::new(),
        };
        assert!((phase.offset_seconds() - 1.0).abs() < f64::EPSILON);
    }
}
