//! Chromaprint fingerprints identical to those of `fpcalc`.
//!
//! AcoustID's database was built from `fpcalc` output, so we reproduce its pipeline exactly:
//! decode with FFmpeg, convert to mono signed 16-bit at Chromaprint's internal rate (11025 Hz)
//! with the resampler settings `fpcalc` uses, feed at most `max_length_seconds` of that to
//! Chromaprint's default algorithm, and report the container's declared duration.

use std::ops::ControlFlow;
use std::path::Path;

use chromaprint_rust::{Algorithm, Context};
use serde::{Deserialize, Serialize};

use crate::audio::{AudioError, PcmFormat, decode_pcm};

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
}

impl Default for FingerprintOptions {
    fn default() -> Self {
        Self {
            max_length_seconds: 120,
            include_raw: false,
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
    let failed = |detail: String| AudioError::Fingerprinter {
        path: path.to_owned(),
        detail,
    };
    let mut context = Context::new(Algorithm::default());
    context
        .start(CHROMAPRINT_SAMPLE_RATE, 1)
        .map_err(|error| failed(error.to_string()))?;

    let limit = match options.max_length_seconds {
        0 => u64::MAX,
        seconds => u64::from(seconds) * u64::from(CHROMAPRINT_SAMPLE_RATE),
    };
    let mut fed: u64 = 0;
    let mut feed_error = None;
    let target = PcmFormat {
        sample_rate: CHROMAPRINT_SAMPLE_RATE,
        channels: 1,
    };
    let summary = decode_pcm(path, target, |samples| {
        let remaining = limit - fed;
        let take = samples
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if let Err(error) = context.feed(&samples[..take]) {
            feed_error = Some(error.to_string());
            return ControlFlow::Break(());
        }
        fed += take as u64;
        if fed >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(detail) = feed_error {
        return Err(failed(detail));
    }
    context
        .finish()
        .map_err(|error| failed(error.to_string()))?;

    let raw = context
        .get_fingerprint_raw()
        .map_err(|error| failed(error.to_string()))?;
    if raw.get().is_empty() {
        return Err(AudioError::TooShort {
            path: path.to_owned(),
            decoded_seconds: summary.decoded_seconds,
        });
    }
    let fingerprint = context
        .get_fingerprint_base64()
        .map_err(|error| failed(error.to_string()))?
        .get()
        .map_err(|error| failed(error.to_string()))?
        .to_owned();
    let duration_seconds = match summary.declared_duration_ms {
        Some(ms) => ms as f64 / 1000.0,
        // Raw streams without a declared duration: what we decoded is the best estimate.
        None => (summary.decoded_seconds * 1000.0).floor() / 1000.0,
    };
    Ok(Fingerprint {
        fingerprint,
        duration_seconds,
        raw: options.include_raw.then(|| raw.get().to_vec()),
    })
}
