use std::path::Path;

use ffmpeg_next::DictionaryRef;
use serde::{Deserialize, Serialize};

use super::AudioError;
use super::decode::{best_audio_stream, check_regular_file, codec_name};
use super::input::{PROBE_DEADLINE, dictionary_entries, open_input};

/// Tags embedded in a file, as far as FFmpeg can read them. Empty values are treated as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioTags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub date: Option<String>,
    pub track_number: Option<String>,
    pub genre: Option<String>,
}

impl AudioTags {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Fills fields still missing from `dictionary` (keys are matched case-insensitively and
    /// under the spellings common containers use).
    fn fill_from(&mut self, dictionary: &DictionaryRef<'_>) {
        for (key, value) in dictionary_entries(dictionary) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let slot = match key.to_ascii_lowercase().as_str() {
                "title" => &mut self.title,
                "artist" => &mut self.artist,
                "album" => &mut self.album,
                "album_artist" | "albumartist" | "album artist" => &mut self.album_artist,
                "date" | "year" | "originaldate" => &mut self.date,
                "track" | "tracknumber" => &mut self.track_number,
                "genre" => &mut self.genre,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.to_owned());
            }
        }
    }
}

/// Facts about a file and its main audio stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioInfo {
    /// FFmpeg's short container name(s), e.g. `mp3`, `flac`, `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    /// FFmpeg's codec name, e.g. `mp3`, `flac`, `aac`, `pcm_s16le`.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per second of the audio stream, else of the whole file, when known.
    pub bit_rate: Option<u64>,
    /// Duration in seconds as declared by the container, when known.
    pub duration_seconds: Option<f64>,
    pub tags: AudioTags,
}

/// Longest declared duration reported (ten days); a file declaring more reports none.
const MAX_DECLARED_SECONDS: f64 = 10.0 * 24.0 * 3600.0;

/// Reads stream facts and tags without decoding any audio.
pub fn probe_file(path: &Path) -> Result<AudioInfo, AudioError> {
    check_regular_file(path)?;
    let input = open_input(path, PROBE_DEADLINE)?;
    let stream = best_audio_stream(&input, path)?;
    let parameters = stream.parameters();
    // ffmpeg-next exposes rate and channel count only through a decoder context.
    let context =
        ffmpeg_next::codec::Context::from_parameters(parameters.clone()).map_err(|error| {
            AudioError::Corrupt {
                path: path.to_owned(),
                detail: format!("invalid stream parameters: {error}"),
            }
        })?;
    let audio = context.decoder().audio().ok();
    let (sample_rate, channels, stream_bit_rate) = audio
        .as_ref()
        .map_or((0, 0, 0), |a| (a.rate(), a.channels(), a.bit_rate()));

    let mut tags = AudioTags::default();
    tags.fill_from(&input.metadata());
    tags.fill_from(&stream.metadata());

    let duration_seconds = {
        let time_base = stream.time_base();
        let declared = if stream.duration() > 0 && time_base.denominator() > 0 {
            Some(stream.duration() as f64 * f64::from(time_base))
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE))
        } else {
            None
        };
        // A file can declare any number; keep only what a real recording could last.
        declared
            .filter(|seconds| seconds.is_finite() && (0.0..=MAX_DECLARED_SECONDS).contains(seconds))
    };
    let bit_rate = match (stream_bit_rate, input.bit_rate()) {
        (rate, _) if rate > 0 => Some(rate as u64),
        (_, rate) if rate > 0 => Some(rate as u64),
        _ => None,
    };
    Ok(AudioInfo {
        container: input.format().name().to_owned(),
        codec: codec_name(parameters.id()),
        sample_rate,
        channels,
        bit_rate,
        duration_seconds,
        tags,
    })
}
