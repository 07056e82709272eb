use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ffmpeg_next::{Packet, codec, format, frame, media};

use super::AudioError;
use super::input::{GuardedInput, open_input};
use super::resample::{CHUNK_SAMPLES, Resampler, request_s16_output};

/// Bounds on one decoding pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Wall-clock time allowed to open and decode the file; past it the pass stops with
    /// [`AudioError::TimedOut`].
    pub deadline: Duration,
}

/// The deadline of a decode of a whole file when nothing else is configured.
pub const DEFAULT_DECODE_DEADLINE: Duration = Duration::from_mins(5);

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DECODE_DEADLINE,
        }
    }
}

/// Lowest sample rate accepted from a file (below it, no real recording exists and conversion
/// to the fingerprinter's rate would multiply the sample count without bound).
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest sample rate accepted from a file (DXD and DSD-as-PCM stay below it).
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// Most channels accepted from a file.
pub const MAX_CHANNELS: u16 = 64;
/// Largest block alignment (bytes per coded block) accepted from a file.
const MAX_BLOCK_ALIGN: u32 = 1 << 20;
/// Most samples per channel accepted in one decoded frame.
const MAX_FRAME_SAMPLES: usize = 1 << 20;
/// Longest declared duration taken at its word (ten days); beyond it the value is ignored.
const MAX_DECLARED_DURATION_MS: i128 = 10 * 24 * 3600 * 1000;

/// The PCM shape a caller wants: packed signed 16-bit samples at this rate and channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub sample_rate: u32,
    pub channels: u16,
}

/// What a decoding pass saw.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeSummary {
    /// The audio stream's duration as the container declares it, in whole milliseconds, computed
    /// the way `fpcalc` does (stream duration, else the container's).
    pub declared_duration_ms: Option<i64>,
    /// Seconds of audio actually decoded (before conversion).
    pub decoded_seconds: f64,
    /// Whether decoding went to the end of the stream (false when the sink stopped early).
    pub reached_end: bool,
    /// Packets the decoder rejected as invalid but that decoding survived.
    pub skipped_packets: u64,
}

/// Decoding refuses a file when more than this share of its packets cannot be decoded.
const MAX_BAD_PACKET_RATIO: f64 = 0.01;
/// A few damaged packets are tolerated whatever the file's length (junk before the first frame
/// is common in MP3 files).
const MIN_TOLERATED_BAD_PACKETS: u64 = 3;

/// Decodes the best audio stream of `path`, converts it to `target` and hands the samples to
/// `sink` chunk by chunk, until the end of the stream or until `sink` breaks.
///
/// Memory use is bounded by one packet and one decoded frame, whatever the file's length.
pub fn decode_pcm(
    path: &Path,
    target: PcmFormat,
    limits: DecodeLimits,
    sink: impl FnMut(&[i16]) -> ControlFlow<()>,
) -> Result<DecodeSummary, AudioError> {
    let mut source = AudioSource::open(path, limits.deadline)?;
    let mut state = DecodeState {
        path,
        target,
        resampler: None,
        frame: frame::Audio::empty(),
        pcm: Vec::new(),
        decoded_samples: 0.0,
        produced_any: false,
        stopped: false,
        sink,
    };
    let mut packets: u64 = 0;
    let mut bad_packets: u64 = 0;
    let mut last_error = String::new();

    loop {
        // A fresh packet each time: `av_read_frame` does not release the buffer a reused
        // packet still references, so reusing one would keep every packet of the file alive.
        if source.input.watchdog().expired() {
            return Err(source.input.watchdog().timed_out(path));
        }
        let mut packet = Packet::empty();
        match packet.read(&mut source.input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(_) if source.input.watchdog().expired() => {
                return Err(source.input.watchdog().timed_out(path));
            }
            Err(error) => {
                // A read error after some audio is how a damaged tail shows up.
                return Err(AudioError::Corrupt {
                    path: path.to_owned(),
                    detail: format!("cannot read the container: {error}"),
                });
            }
        }
        if packet.stream() != source.stream_index {
            continue;
        }
        packets += 1;
        if let Err(error) = source.decoder.send_packet(&packet) {
            bad_packets += 1;
            last_error = error.to_string();
            continue;
        }
        state.drain(&mut source.decoder, &mut bad_packets, &mut last_error)?;
        if state.stopped {
            break;
        }
    }

    let reached_end = !state.stopped;
    if reached_end {
        // End of stream: let the decoder and the resampler give back what they still hold.
        if source.decoder.send_eof().is_ok() {
            state.drain(&mut source.decoder, &mut bad_packets, &mut last_error)?;
        }
        state.flush_resampler()?;
    }

    let tolerated = MIN_TOLERATED_BAD_PACKETS.max((packets as f64 * MAX_BAD_PACKET_RATIO) as u64);
    if !state.produced_any && bad_packets > 0 {
        return Err(AudioError::Corrupt {
            path: path.to_owned(),
            detail: format!("no packet could be decoded ({last_error})"),
        });
    }
    if bad_packets > tolerated {
        return Err(AudioError::Corrupt {
            path: path.to_owned(),
            detail: format!(
                "{bad_packets} of {packets} packets could not be decoded ({last_error})"
            ),
        });
    }

    let summary = DecodeSummary {
        declared_duration_ms: source.declared_duration_ms,
        decoded_seconds: state.decoded_samples,
        reached_end,
        skipped_packets: bad_packets,
    };
    if reached_end {
        check_not_truncated(path, &summary)?;
    }
    Ok(summary)
}

/// A file whose container promises noticeably more audio than its data holds was cut short.
fn check_not_truncated(path: &Path, summary: &DecodeSummary) -> Result<(), AudioError> {
    let Some(declared_ms) = summary.declared_duration_ms else {
        return Ok(());
    };
    let declared = declared_ms as f64 / 1000.0;
    let tolerance = (declared * 0.02).max(0.5);
    if summary.decoded_seconds + tolerance < declared {
        return Err(AudioError::Truncated {
            path: path.to_owned(),
            declared_seconds: declared,
            decoded_seconds: summary.decoded_seconds,
        });
    }
    Ok(())
}

struct DecodeState<'a, S> {
    path: &'a Path,
    target: PcmFormat,
    resampler: Option<Resampler>,
    frame: frame::Audio,
    pcm: Vec<i16>,
    /// Seconds of decoded input audio so far.
    decoded_samples: f64,
    produced_any: bool,
    stopped: bool,
    sink: S,
}

impl<S: FnMut(&[i16]) -> ControlFlow<()>> DecodeState<'_, S> {
    /// Takes every frame the decoder has ready and pushes it through the resampler to the sink.
    fn drain(
        &mut self,
        decoder: &mut codec::decoder::Audio,
        bad_packets: &mut u64,
        last_error: &mut String,
    ) -> Result<(), AudioError> {
        loop {
            match decoder.receive_frame(&mut self.frame) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno })
                    if errno == ffmpeg_next::util::error::EAGAIN =>
                {
                    return Ok(());
                }
                Err(error) => {
                    *bad_packets += 1;
                    *last_error = error.to_string();
                    return Ok(());
                }
            }
            if self.frame.samples() == 0 || self.frame.rate() == 0 {
                continue;
            }
            check_plausible_frame(self.path, &self.frame)?;
            self.decoded_samples += self.frame.samples() as f64 / f64::from(self.frame.rate());
            self.produced_any = true;
            if self.stopped {
                continue;
            }
            self.convert_frame()?;
        }
    }

    fn convert_frame(&mut self) -> Result<(), AudioError> {
        if self
            .resampler
            .as_ref()
            .is_some_and(|r| !r.accepts(&self.frame))
        {
            // The stream changed shape mid-way: finish the old converter before the new one.
            self.flush_resampler()?;
            self.resampler = None;
        }
        if self.resampler.is_none() {
            self.resampler = Some(
                Resampler::for_frame(&self.frame, self.target.sample_rate, self.target.channels)
                    .map_err(|detail| conversion_error(self.path, detail))?,
            );
        }
        let total = self.frame.samples();
        let mut start = 0;
        while start < total && !self.stopped {
            let count = (total - start).min(CHUNK_SAMPLES);
            if let Some(resampler) = self.resampler.as_mut() {
                resampler
                    .convert(&self.frame, start, count, &mut self.pcm)
                    .map_err(|detail| conversion_error(self.path, detail))?;
            }
            self.emit();
            start += count;
        }
        Ok(())
    }

    fn flush_resampler(&mut self) -> Result<(), AudioError> {
        if self.stopped {
            return Ok(());
        }
        if let Some(resampler) = &mut self.resampler {
            resampler
                .flush(&mut self.pcm)
                .map_err(|detail| conversion_error(self.path, detail))?;
            self.emit();
        }
        Ok(())
    }

    fn emit(&mut self) {
        if !self.pcm.is_empty() && !self.stopped {
            self.stopped = (self.sink)(&self.pcm).is_break();
        }
    }
}

/// Refuses a decoded frame whose shape no real audio has (the resampler would size its buffers
/// from these values).
fn check_plausible_frame(path: &Path, frame: &frame::Audio) -> Result<(), AudioError> {
    check_plausible_rate(path, frame.rate())?;
    check_plausible_channels(path, u32::from(frame.channels()))?;
    if frame.samples() > MAX_FRAME_SAMPLES {
        return Err(implausible(
            path,
            format!(
                "a decoded frame holds {} samples (at most {MAX_FRAME_SAMPLES} are accepted)",
                frame.samples()
            ),
        ));
    }
    Ok(())
}

fn check_plausible_rate(path: &Path, rate: u32) -> Result<(), AudioError> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        return Ok(());
    }
    Err(implausible(
        path,
        format!("sample rate {rate} Hz (accepted: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"),
    ))
}

fn check_plausible_channels(path: &Path, channels: u32) -> Result<(), AudioError> {
    if (1..=u32::from(MAX_CHANNELS)).contains(&channels) {
        return Ok(());
    }
    Err(implausible(
        path,
        format!("{channels} channels (accepted: 1 to {MAX_CHANNELS})"),
    ))
}

fn implausible(path: &Path, detail: String) -> AudioError {
    AudioError::Implausible {
        path: path.to_owned(),
        detail,
    }
}

fn conversion_error(path: &Path, detail: String) -> AudioError {
    AudioError::Conversion {
        path: path.to_owned(),
        detail,
    }
}

/// An opened input with its chosen audio stream and decoder.
pub(crate) struct AudioSource {
    pub(crate) input: GuardedInput,
    pub(crate) stream_index: usize,
    pub(crate) decoder: codec::decoder::Audio,
    pub(crate) declared_duration_ms: Option<i64>,
}

impl AudioSource {
    pub(crate) fn open(path: &Path, deadline: Duration) -> Result<Self, AudioError> {
        check_regular_file(path)?;
        let input = open_input(path, deadline)?;
        let stream = best_audio_stream(&input, path)?;
        let stream_index = stream.index();
        let declared_duration_ms = declared_duration_ms(&input, &stream);
        let parameters = stream.parameters();
        let codec_id = parameters.id();
        let unsupported = || AudioError::UnsupportedCodec {
            path: path.to_owned(),
            codec: codec_name(codec_id),
        };
        if codec_id == codec::Id::None {
            return Err(unsupported());
        }
        let codec = ffmpeg_next::decoder::find(codec_id).ok_or_else(unsupported)?;
        let mut context =
            codec::Context::from_parameters(parameters).map_err(|error| AudioError::Corrupt {
                path: path.to_owned(),
                detail: format!("invalid stream parameters: {error}"),
            })?;
        request_s16_output(&mut context);
        // Frame threads where the codec supports them (FLAC, ALAC, …): the same samples, sooner.
        context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..codec::threading::Config::default()
        });
        let mut decoder = context.decoder();
        decoder.set_packet_time_base(stream.time_base());
        let decoder = decoder
            .open_as(codec)
            .and_then(codec::decoder::Opened::audio)
            .map_err(|error| AudioError::Corrupt {
                path: path.to_owned(),
                detail: format!("cannot open the {} decoder: {error}", codec_name(codec_id)),
            })?;
        check_plausible_parameters(path, &decoder)?;
        Ok(Self {
            input,
            stream_index,
            decoder,
            declared_duration_ms,
        })
    }
}

/// Refuses stream parameters no real audio has, before a decoder sizes anything from them.
/// A rate of 0 means "not known yet": decoded frames are checked again one by one.
fn check_plausible_parameters(
    path: &Path,
    audio: &codec::decoder::Audio,
) -> Result<(), AudioError> {
    if audio.rate() != 0 {
        check_plausible_rate(path, audio.rate())?;
    }
    if audio.channels() != 0 {
        check_plausible_channels(path, u32::from(audio.channels()))?;
    }
    if audio.align() > MAX_BLOCK_ALIGN as usize {
        return Err(implausible(
            path,
            format!(
                "block alignment of {} bytes (at most {MAX_BLOCK_ALIGN} are accepted)",
                audio.align()
            ),
        ));
    }
    if audio.frame_size() as usize > MAX_FRAME_SAMPLES {
        return Err(implausible(
            path,
            format!(
                "frames of {} samples (at most {MAX_FRAME_SAMPLES} are accepted)",
                audio.frame_size()
            ),
        ));
    }
    Ok(())
}

/// The stream FFmpeg considers the main audio stream, or why there is none.
pub(crate) fn best_audio_stream<'a>(
    input: &'a format::context::Input,
    path: &Path,
) -> Result<format::stream::Stream<'a>, AudioError> {
    if let Some(stream) = input.streams().best(media::Type::Audio) {
        return Ok(stream);
    }
    let owned = || path.to_owned();
    let mut streams = input.streams().peekable();
    if streams.peek().is_none() {
        // FFmpeg guessed a format (often from the extension alone) but found nothing in it.
        return Err(AudioError::NotAudio { path: owned() });
    }
    if streams.any(|stream| stream.parameters().medium() == media::Type::Audio) {
        return Err(AudioError::Corrupt {
            path: owned(),
            detail: "the audio stream's parameters cannot be read".to_owned(),
        });
    }
    Err(AudioError::NoAudioStream { path: owned() })
}

pub(crate) fn codec_name(id: codec::Id) -> String {
    format!("{id:?}").to_lowercase()
}

/// The duration `fpcalc` reports: the stream's, else the container's, in whole milliseconds.
///
/// Computed in 128 bits (the file declares these numbers); a value that is negative or beyond
/// [`MAX_DECLARED_DURATION_MS`] is treated as unknown.
fn declared_duration_ms(
    input: &format::context::Input,
    stream: &format::stream::Stream,
) -> Option<i64> {
    let time_base = stream.time_base();
    let stream_ms = scaled_ms(
        stream.duration(),
        time_base.numerator(),
        time_base.denominator(),
    );
    stream_ms.or_else(|| scaled_ms(input.duration(), 1, ffmpeg_next::ffi::AV_TIME_BASE))
}

/// `1000 × duration × numerator / denominator`, when that is a plausible duration.
fn scaled_ms(duration: i64, numerator: i32, denominator: i32) -> Option<i64> {
    if duration == ffmpeg_next::ffi::AV_NOPTS_VALUE || duration < 0 || denominator <= 0 {
        return None;
    }
    let ms = 1000 * i128::from(duration) * i128::from(numerator) / i128::from(denominator);
    if !(0..=MAX_DECLARED_DURATION_MS).contains(&ms) {
        return None;
    }
    i64::try_from(ms).ok()
}

pub(crate) fn check_regular_file(path: &Path) -> Result<(), AudioError> {
    let owned = || PathBuf::from(path);
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => AudioError::NotFound { path: owned() },
        _ => AudioError::Unreadable {
            path: owned(),
            source,
        },
    })?;
    if !metadata.is_file() {
        return Err(AudioError::NotAFile { path: owned() });
    }
    if metadata.len() == 0 {
        return Err(AudioError::Empty { path: owned() });
    }
    // Opening tells a permission problem apart from a format problem before FFmpeg hides it.
    std::fs::File::open(path).map_err(|source| AudioError::Unreadable {
        path: owned(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_durations_never_overflow() {
        assert_eq!(scaled_ms(8_000, 1, 8_000), Some(1_000));
        assert_eq!(scaled_ms(i64::MAX, i32::MAX, 1), None);
        assert_eq!(scaled_ms(i64::MAX, 1, 1), None);
        assert_eq!(scaled_ms(-5, 1, 1), None);
        assert_eq!(scaled_ms(10, 1, 0), None);
        assert_eq!(scaled_ms(10, 1, -3), None);
        assert_eq!(scaled_ms(ffmpeg_next::ffi::AV_NOPTS_VALUE, 1, 1), None);
    }

    #[test]
    fn implausible_rates_and_channel_counts_are_refused() {
        let path = Path::new("x.wav");
        assert!(check_plausible_rate(path, 1).is_err());
        assert!(check_plausible_rate(path, 999).is_err());
        assert!(check_plausible_rate(path, 8_000).is_ok());
        assert!(check_plausible_rate(path, 768_001).is_err());
        assert!(check_plausible_channels(path, 0).is_err());
        assert!(check_plausible_channels(path, 2).is_ok());
        assert!(check_plausible_channels(path, 65).is_err());
    }
}
