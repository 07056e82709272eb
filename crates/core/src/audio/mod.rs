//! Streaming audio decoding with FFmpeg, file probing and tag reading.
//!
//! Decoding is packet by packet: at any moment only one packet and its decoded frame are held,
//! so memory does not grow with the length of the file. Files are opened only with the container
//! demuxers of [`ALLOWED_DEMUXERS`], as plain files, within a deadline ([`DecodeLimits`]); streams
//! with implausible rates, channel counts or frame sizes are refused, and tags are read as bytes
//! and converted lossily.

mod decode;
mod error;
mod input;
mod probe;
mod resample;

pub use decode::{
    DEFAULT_DECODE_DEADLINE, DecodeLimits, DecodeSummary, MAX_CHANNELS, MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE, PcmFormat, decode_pcm,
};
pub use error::AudioError;
pub use input::{ALLOWED_DEMUXERS, is_allowed_demuxer};
pub use probe::{AudioInfo, AudioTags, probe_file};

use std::sync::Once;

/// Initialises FFmpeg once per process and silences its own logging (errors are reported
/// through [`AudioError`] instead of being printed to stderr).
pub(crate) fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only fails on very old FFmpeg builds that need explicit registration; decoding
        // reports its own errors afterwards, so a failure here is not fatal.
        if let Err(error) = ffmpeg_next::init() {
            tracing::warn!(%error, "FFmpeg initialisation reported an error");
        }
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    });
}
