use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ffmpeg_next::{Packet, codec, format, frame, media};

use super::AudioError;
use super::resample::{Resampler, request_s16_output};

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
    sink: impl FnMut(&[i16]) -> ControlFlow<()>,
) -> Result<DecodeSummary, AudioError> {
    let mut source = AudioSource::open(path)?;
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
        let mut packet = Packet::empty();
        match packet.read(&mut source.input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
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
        let resampler = match &mut self.resampler {
            Some(resampler) => resampler,
            None => self.resampler.insert(
                Resampler::for_frame(&self.frame, self.target.sample_rate, self.target.channels)
                    .map_err(|detail| conversion_error(self.path, detail))?,
            ),
        };
        resampler
            .convert(&self.frame, &mut self.pcm)
            .map_err(|detail| conversion_error(self.path, detail))?;
        self.emit();
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

fn conversion_error(path: &Path, detail: String) -> AudioError {
    AudioError::Conversion {
        path: path.to_owned(),
        detail,
    }
}

/// An opened input with its chosen audio stream and decoder.
pub(crate) struct AudioSource {
    pub(crate) input: format::context::Input,
    pub(crate) stream_index: usize,
    pub(crate) decoder: codec::decoder::Audio,
    pub(crate) declared_duration_ms: Option<i64>,
}

impl AudioSource {
    pub(crate) fn open(path: &Path) -> Result<Self, AudioError> {
        check_regular_file(path)?;
        super::init_ffmpeg();
        let input = format::input(path).map_err(|error| open_error(path, error))?;
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
        Ok(Self {
            input,
            stream_index,
            decoder,
            declared_duration_ms,
        })
    }
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
fn declared_duration_ms(
    input: &format::context::Input,
    stream: &format::stream::Stream,
) -> Option<i64> {
    let time_base = stream.time_base();
    let duration = stream.duration();
    if duration != ffmpeg_next::ffi::AV_NOPTS_VALUE && duration >= 0 && time_base.denominator() > 0
    {
        return Some(
            1000 * i64::from(time_base.numerator()) * duration / i64::from(time_base.denominator()),
        );
    }
    let duration = input.duration();
    if duration != ffmpeg_next::ffi::AV_NOPTS_VALUE && duration >= 0 {
        return Some(1000 * duration / i64::from(ffmpeg_next::ffi::AV_TIME_BASE));
    }
    None
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

/// The file exists and is readable (checked before), so FFmpeg failing to open it means it is
/// not in any format FFmpeg knows.
fn open_error(path: &Path, error: ffmpeg_next::Error) -> AudioError {
    tracing::debug!(path = %path.display(), %error, "FFmpeg cannot open the file");
    AudioError::NotAudio {
        path: path.to_owned(),
    }
}
