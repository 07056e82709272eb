//! Chromaprint fingerprints identical to those of `fpcalc`.
//!
//! AcoustID's database was built from `fpcalc` output, so we reproduce its pipeline exactly:
//! decode with FFmpeg, convert to mono signed 16-bit at Chromaprint's internal rate (11025 Hz)
//! with the resampler settings `fpcalc` uses, feed at most `max_length_seconds` of that to
//! Chromaprint's default algorithm, and report the container's declared duration.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use chromaprint_rust::{Algorithm, Context};
use serde::{Deserialize, Serialize};

use crate::audio::{AudioError, DEFAULT_DECODE_DEADLINE, DecodeLimits, PcmFormat, decode_pcm};

/// The rate Chromaprint works at; feeding it this rate avoids its own internal resampler.
pub const CHROMAPRINT_SAMPLE_RATE: u32 = 11_025;

/// How to fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintOptions {
    /// Seconds of audio analysed from the start of the file; 0 analyses the whole file.
    /// Defaults to 120, like `fpcalc`.
    pub max_length_seconds: u32,
    /// Also return the uncompressed (integer) fingerprint.
    pub include_raw: bool,
    /// Seconds a whole-file decode may take; a bounded length gets a proportionate share
    /// ([`FingerprintOptions::decode_deadline`]).
    #[serde(default = "default_decode_timeout_seconds")]
    pub decode_timeout_seconds: u32,
}

fn default_decode_timeout_seconds() -> u32 {
    DEFAULT_DECODE_DEADLINE.as_secs() as u32
}

/// The length at or above which a bounded fingerprint gets the whole-file deadline.
const FULL_DEADLINE_LENGTH_SECONDS: u32 = 600;
/// The shortest deadline a bounded fingerprint gets, whatever its length.
const MIN_DEADLINE_SECONDS: u32 = 10;

impl FingerprintOptions {
    /// The wall-clock time one fingerprint may take: `decode_timeout_seconds` for a whole file,
    /// `decode_timeout_seconds × length / 600` (at least 10 s) for a bounded length, so 120 s
    /// gets a fifth of it (60 s by default).
    pub fn decode_deadline(&self) -> Duration {
        let whole = self.whole_file_seconds();
        let seconds = match self.max_length_seconds {
            0 => whole,
            length => {
                let share = u64::from(whole) * u64::from(length.min(FULL_DEADLINE_LENGTH_SECONDS))
                    / u64::from(FULL_DEADLINE_LENGTH_SECONDS);
                (share as u32).clamp(MIN_DEADLINE_SECONDS.min(whole), whole)
            }
        };
        Duration::from_secs(u64::from(seconds))
    }
}

impl FingerprintOptions {
    /// The deadline of a decode of the whole file, whatever `max_length_seconds` says (AudD's
    /// snippet may start anywhere in the file).
    pub fn whole_file_deadline(&self) -> Duration {
        Duration::from_secs(u64::from(self.whole_file_seconds()))
    }

    fn whole_file_seconds(&self) -> u32 {
        self.decode_timeout_seconds.max(1)
    }
}

impl Default for FingerprintOptions {
    fn default() -> Self {
        Self {
            max_length_seconds: 120,
            include_raw: false,
            decode_timeout_seconds: default_decode_timeout_seconds(),
        }
    }
}

/// A Chromaprint fingerprint as AcoustID expects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The compressed fingerprint, URL-safe base64 without padding (what `fpcalc` prints).
    pub fingerprint: String,
    /// The file's duration in seconds, with millisecond precision (`fpcalc -json` rounds it to two
    /// decimals, its text mode truncates it to whole seconds).
    pub duration_seconds: f64,
    /// The raw fingerprint, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Vec<u32>>,
}

/// Fingerprints `path`. Blocking: decodes up to `max_length_seconds` of audio.
pub fn fingerprint_file(
    path: &Path,
    options: &FingerprintOptions,
) -> Result<Fingerprint, AudioError> {
    let limit = match options.max_length_seconds {
        0 => u64::MAX,
        seconds => u64::from(seconds) * u64::from(CHROMAPRINT_SAMPLE_RATE),
    };
    let target = PcmFormat {
        sample_rate: CHROMAPRINT_SAMPLE_RATE,
        channels: 1,
    };
    // Decoding and fingerprinting overlap on two threads, joined by a small bounded channel
    // (memory stays flat: at most PIPELINE_DEPTH chunks wait).
    let (sender, receiver) = mpsc::sync_channel::<Vec<i16>>(PIPELINE_DEPTH);
    let (decoded, computed) = std::thread::scope(|scope| {
        let fingerprinter = scope.spawn(move || compute(&receiver));
        let mut fed: u64 = 0;
        let mut batch: Vec<i16> = Vec::with_capacity(BATCH_SAMPLES);
        let limits = DecodeLimits {
            deadline: options.decode_deadline(),
        };
        let decoded = decode_pcm(path, target, limits, |samples| {
            let remaining = usize::try_from(limit - fed).unwrap_or(usize::MAX);
            let take = samples.len().min(remaining);
            fed += take as u64;
            batch.extend_from_slice(&samples[..take]);
            let done = fed >= limit;
            if batch.len() >= BATCH_SAMPLES || done {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SAMPLES));
                // A closed channel means the fingerprinter failed; it reports why below.
                if sender.send(full).is_err() {
                    return ControlFlow::Break(());
                }
            }
            if done {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if !batch.is_empty() {
            // The end of a file shorter than the limit; an error here surfaces through `compute`.
            let _ = sender.send(batch);
        }
        drop(sender);
        let computed = fingerprinter
            .join()
            .unwrap_or_else(|_| Err("the fingerprinting thread panicked".to_owned()));
        (decoded, computed)
    });
    let summary = decoded?;
    let (fingerprint, raw) = computed.map_err(|detail| AudioError::Fingerprinter {
        path: path.to_owned(),
        detail,
    })?;
    if raw.is_empty() {
        return Err(AudioError::TooShort {
            path: path.to_owned(),
            decoded_seconds: summary.decoded_seconds,
        });
    }
    let duration_seconds = match summary.declared_duration_ms {
        Some(ms) => ms as f64 / 1000.0,
        // Raw streams without a declared duration: what we decoded is the best estimate.
        None => (summary.decoded_seconds * 1000.0).floor() / 1000.0,
    };
    Ok(Fingerprint {
        fingerprint,
        duration_seconds,
        raw: options.include_raw.then_some(raw),
    })
}

/// Batches of decoded samples waiting for the fingerprinter.
const PIPELINE_DEPTH: usize = 4;
/// Samples per batch sent to the fingerprinter (about 1.5 s of audio): few enough hand-overs
/// that the thread switch costs nothing, small enough that memory stays flat.
const BATCH_SAMPLES: usize = 16_384;

/// Feeds Chromaprint everything the channel delivers; returns the compressed and the raw
/// fingerprint (the raw one is empty when the audio was too short).
fn compute(chunks: &mpsc::Receiver<Vec<i16>>) -> Result<(String, Vec<u32>), String> {
    let mut context = Context::new(Algorithm::default());
    context
        .start(CHROMAPRINT_SAMPLE_RATE, 1)
        .map_err(|error| error.to_string())?;
    for chunk in chunks {
        context.feed(&chunk).map_err(|error| error.to_string())?;
    }
    context.finish().map_err(|error| error.to_string())?;
    let raw = context
        .get_fingerprint_raw()
        .map_err(|error| error.to_string())?
        .get()
        .to_vec();
    if raw.is_empty() {
        return Ok((String::new(), raw));
    }
    let compressed = context
        .get_fingerprint_base64()
        .map_err(|error| error.to_string())?
        .get()
        .map_err(|error| error.to_string())?
        .to_owned();
    Ok((compressed, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_proportionate_to_the_length_analysed() {
        let mut options = FingerprintOptions::default();
        assert_eq!(options.decode_deadline(), Duration::from_mins(1));
        options.max_length_seconds = 0;
        assert_eq!(options.decode_deadline(), Duration::from_mins(5));
        assert_eq!(options.whole_file_deadline(), Duration::from_mins(5));
        options.max_length_seconds = 5;
        assert_eq!(options.decode_deadline(), Duration::from_secs(10));
        options.max_length_seconds = u32::MAX;
        assert_eq!(options.decode_deadline(), Duration::from_mins(5));
        options.decode_timeout_seconds = 3;
        options.max_length_seconds = 120;
        assert_eq!(options.decode_deadline(), Duration::from_secs(3));
        options.decode_timeout_seconds = 0;
        assert_eq!(options.decode_deadline(), Duration::from_secs(1));
    }
}
