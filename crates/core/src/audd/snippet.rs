//! The standard-mode snippet: a few seconds of the file as a mono 16 kHz 16-bit WAV in memory.

use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;

use super::{AudDError, MAX_SNIPPET_SECONDS, SNIPPET_SAMPLE_RATE};
use crate::audio::{DecodeLimits, PcmFormat, decode_pcm};

/// Facts about a rendered snippet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SnippetInfo {
    pub offset_seconds: f64,
    pub duration_seconds: f64,
    /// Root mean square level, 0 (silence) to 1 (full scale).
    pub rms: f64,
}

/// A rendered standard-mode snippet: a mono 16 kHz 16-bit WAV file in memory.
#[derive(Clone)]
pub struct Snippet {
    pub wav: Vec<u8>,
    pub info: SnippetInfo,
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snippet")
            .field("wav_bytes", &self.wav.len())
            .field("info", &self.info)
            .finish()
    }
}

/// Renders `seconds` of `path` starting at `offset_seconds` as a mono 16 kHz 16-bit WAV.
/// Blocking (decodes with FFmpeg, within `limits`).
pub fn render_snippet(
    path: &Path,
    offset_seconds: f64,
    seconds: f64,
    limits: DecodeLimits,
) -> Result<Snippet, AudDError> {
    let offset_seconds = if offset_seconds.is_finite() {
        offset_seconds.max(0.0)
    } else {
        0.0
    };
    let rate = f64::from(SNIPPET_SAMPLE_RATE);
    let to_skip = (offset_seconds * rate).round() as u64;
    // At most a minute of snippet, whatever the caller asks: the buffer is sized from it.
    let wanted = (seconds.clamp(0.0, MAX_SNIPPET_SECONDS) * rate).round() as usize;
    let mut skipped: u64 = 0;
    let mut samples: Vec<i16> = Vec::with_capacity(wanted);
    decode_pcm(
        path,
        PcmFormat {
            sample_rate: SNIPPET_SAMPLE_RATE,
            channels: 1,
        },
        limits,
        |chunk| {
            let mut chunk = chunk;
            if skipped < to_skip {
                let skip = usize::try_from(to_skip - skipped)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                skipped += skip as u64;
                chunk = &chunk[skip..];
            }
            let take = (wanted - samples.len()).min(chunk.len());
            samples.extend_from_slice(&chunk[..take]);
            if samples.len() >= wanted {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )?;
    if samples.is_empty() {
        return Err(if to_skip > 0 && skipped > 0 {
            AudDError::OffsetBeyondEnd { offset_seconds }
        } else {
            AudDError::EmptyAudio
        });
    }
    let sum_of_squares: f64 = samples
        .iter()
        .map(|&s| {
            let x = f64::from(s) / 32768.0;
            x * x
        })
        .sum();
    let info = SnippetInfo {
        offset_seconds,
        duration_seconds: samples.len() as f64 / rate,
        rms: (sum_of_squares / samples.len() as f64).sqrt(),
    };
    Ok(Snippet {
        wav: wav_bytes(&samples, SNIPPET_SAMPLE_RATE),
        info,
    })
}

/// A canonical 44-byte-header PCM WAV file: mono, 16-bit little-endian.
pub fn wav_bytes(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX - 36);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}
