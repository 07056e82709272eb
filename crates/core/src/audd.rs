//! AudD recognition: standard (a 12 s snippet rendered in-process) and enterprise (the whole
//! file, answered as a list of chunks with their songs).
//!
//! The API token is a [`Secret`]: it is sent in the multipart body only, and every message
//! built from service or transport text goes through [`redact`] before it leaves this module.

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::cache::sha256_hex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audio::{AudioError, DecodeLimits, PcmFormat, decode_pcm};
use crate::http::{self, ConfigError, RetryPolicy, RetrySettings, Secret, Transport};
use crate::json;
use crate::matches::{Match, Release, merge_matches};

pub const DEFAULT_AUDD_STANDARD_ENDPOINT: &str = "https://api.audd.io/";
pub const DEFAULT_AUDD_ENTERPRISE_ENDPOINT: &str = "https://enterprise.audd.io/";
/// Largest upload the standard endpoint accepts.
pub const STANDARD_UPLOAD_LIMIT: u64 = 10 * 1024 * 1024;
/// Largest upload we send to the enterprise endpoint.
pub const ENTERPRISE_UPLOAD_LIMIT: u64 = 1024 * 1024 * 1024;
/// Length of the standard-mode snippet.
pub const SNIPPET_SECONDS: f64 = 12.0;
/// The longest snippet [`render_snippet`] renders, whatever it is asked.
pub const MAX_SNIPPET_SECONDS: f64 = 60.0;
/// Sample rate of the standard-mode snippet (mono, 16-bit PCM WAV).
pub const SNIPPET_SAMPLE_RATE: u32 = 16_000;
/// The metadata we ask AudD to attach to each song.
const RETURN_FIELDS: &str = "apple_music,spotify,deezer,musicbrainz";

/// AudD client settings (the token is per request, see [`AudDOptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudDConfig {
    pub standard_endpoint: String,
    pub enterprise_endpoint: String,
    pub connect_timeout_seconds: f64,
    /// Whole standard request (a snippet of a few hundred KiB).
    pub standard_timeout_seconds: f64,
    /// Whole enterprise request: uploading up to 1 GiB and AudD scanning it.
    pub enterprise_timeout_seconds: f64,
    pub retry: RetrySettings,
    /// Enterprise uploads are large and billed per chunk, so they retry less by default.
    pub enterprise_retry: RetrySettings,
}

impl Default for AudDConfig {
    fn default() -> Self {
        Self {
            standard_endpoint: DEFAULT_AUDD_STANDARD_ENDPOINT.to_owned(),
            enterprise_endpoint: DEFAULT_AUDD_ENTERPRISE_ENDPOINT.to_owned(),
            connect_timeout_seconds: 10.0,
            standard_timeout_seconds: 20.0,
            enterprise_timeout_seconds: 1800.0,
            retry: RetrySettings::default(),
            enterprise_retry: RetrySettings {
                max_retries: 1,
                ..RetrySettings::default()
            },
        }
    }
}

/// Which AudD endpoint a run starts with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudDMode {
    #[default]
    Standard,
    Enterprise,
    /// Enterprise when any enterprise parameter is set, standard otherwise.
    Auto,
}

/// One of the two AudD endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudDEndpoint {
    Standard,
    Enterprise,
}

impl AudDEndpoint {
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Standard => Self::Enterprise,
            Self::Enterprise => Self::Standard,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for AudDEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Enterprise parameters, with AudD's documented meaning. The file is seen as 12-second chunks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnterpriseParams {
    /// Chunks to skip after each scanned run (`skip=4, every=1`: scan 12 s, skip 48 s, …).
    pub skip: Option<u32>,
    /// Chunks to scan in a row.
    pub every: Option<u32>,
    /// AudD's `limit` parameter (an upper bound on what AudD processes and returns).
    pub limit: Option<u32>,
    /// Seconds to skip at the start of the file.
    pub skip_first_seconds: Option<u32>,
    /// Ask AudD for precise offsets (slower).
    pub accurate_offsets: bool,
    /// Ask AudD for timecodes.
    pub use_timecode: bool,
}

impl EnterpriseParams {
    /// True when any parameter is set (this makes [`AudDMode::Auto`] pick enterprise).
    pub fn any_set(&self) -> bool {
        self.skip.is_some()
            || self.every.is_some()
            || self.limit.is_some()
            || self.skip_first_seconds.is_some()
            || self.accurate_offsets
            || self.use_timecode
    }

    fn form_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        let mut number = |name, value: Option<u32>| {
            if let Some(value) = value {
                fields.push((name, value.to_string()));
            }
        };
        number("skip", self.skip);
        number("every", self.every);
        number("limit", self.limit);
        number("skip_first_seconds", self.skip_first_seconds);
        if self.accurate_offsets {
            fields.push(("accurate_offsets", "true".to_owned()));
        }
        if self.use_timecode {
            fields.push(("use_timecode", "true".to_owned()));
        }
        fields
    }
}

/// How one identification uses AudD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches, one per documented AudD option"
)]
#[serde(default)]
pub struct AudDOptions {
    pub enabled: bool,
    pub token: Secret,
    /// Try AudD before AcoustID.
    pub prefer: bool,
    pub mode: AudDMode,
    pub force_enterprise: bool,
    /// When the first endpoint finds nothing (empty or failed), try the other one once.
    pub enterprise_fallback: bool,
    pub params: EnterpriseParams,
    /// Where the standard snippet starts, in seconds.
    pub snippet_offset_seconds: f64,
    /// Warn when the snippet's RMS level (0–1) is below this.
    pub snippet_min_rms: Option<f64>,
}

impl Default for AudDOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            token: Secret::default(),
            prefer: false,
            mode: AudDMode::Standard,
            force_enterprise: false,
            enterprise_fallback: false,
            params: EnterpriseParams::default(),
            snippet_offset_seconds: 0.0,
            snippet_min_rms: None,
        }
    }
}

impl AudDOptions {
    /// AudD can run: enabled and a token is set.
    pub fn available(&self) -> bool {
        self.enabled && !self.token.is_empty()
    }

    /// The endpoint a run starts with: forced enterprise, else the mode (auto picks enterprise
    /// when an enterprise parameter is set).
    pub fn primary_endpoint(&self) -> AudDEndpoint {
        if self.force_enterprise {
            return AudDEndpoint::Enterprise;
        }
        match self.mode {
            AudDMode::Enterprise => AudDEndpoint::Enterprise,
            AudDMode::Auto if self.params.any_set() => AudDEndpoint::Enterprise,
            AudDMode::Standard | AudDMode::Auto => AudDEndpoint::Standard,
        }
    }
}

/// An AudD failure. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudDError {
    #[error("no AudD token provided")]
    MissingToken,
    #[error("cannot render the AudD snippet: {0}")]
    Audio(#[from] AudioError),
    #[error("the audio is shorter than the requested AudD snippet offset ({offset_seconds:.2} s)")]
    OffsetBeyondEnd { offset_seconds: f64 },
    #[error("the audio is empty")]
    EmptyAudio,
    #[error("AudD {endpoint} upload exceeds {limit} bytes (got {size})")]
    UploadTooLarge {
        endpoint: AudDEndpoint,
        limit: u64,
        size: u64,
    },
    #[error("cannot read {}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    #[error("AudD error{}: {message}", code.map(|c| format!(" {c}")).unwrap_or_default())]
    Service { code: Option<i64>, message: String },
    #[error("AudD returned an unexpected HTTP status: {status}")]
    Http { status: u16 },
    #[error("invalid AudD response: {detail}")]
    InvalidResponse { detail: String },
    #[error("AudD request timed out")]
    Timeout,
    #[error("AudD request failed: {detail}")]
    Network { detail: String },
}

impl AudDError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "audd_missing_token",
            Self::Audio(_) | Self::OffsetBeyondEnd { .. } | Self::EmptyAudio => {
                "audd_snippet_failed"
            }
            Self::UploadTooLarge { .. } => "audd_upload_too_large",
            Self::Io { .. } => "audd_file_unreadable",
            Self::Service { .. } => "audd_error",
            Self::Http { .. } => "audd_http_error",
            Self::InvalidResponse { .. } => "audd_invalid_response",
            Self::Timeout => "audd_timeout",
            Self::Network { .. } => "audd_unreachable",
        }
    }

    /// AudD's own error code, when the service sent one.
    pub fn service_code(&self) -> Option<i64> {
        match self {
            Self::Service { code, .. } => *code,
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Network { .. } => true,
            Self::Http { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

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

/// The AudD client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AudDClient {
    standard: reqwest::Client,
    enterprise: reqwest::Client,
    standard_endpoint: url::Url,
    enterprise_endpoint: url::Url,
    retry: RetryPolicy,
    enterprise_retry: RetryPolicy,
}

impl AudDClient {
    pub fn new(config: &AudDConfig) -> Result<Self, ConfigError> {
        let connect = http::seconds(
            "audd.connect_timeout_seconds",
            config.connect_timeout_seconds,
            false,
        )?;
        let user_agent = http::default_user_agent();
        Ok(Self {
            standard: http::client(
                "audd",
                &user_agent,
                connect,
                http::seconds(
                    "audd.standard_timeout_seconds",
                    config.standard_timeout_seconds,
                    false,
                )?,
            )?,
            enterprise: http::client(
                "audd",
                &user_agent,
                connect,
                http::seconds(
                    "audd.enterprise_timeout_seconds",
                    config.enterprise_timeout_seconds,
                    false,
                )?,
            )?,
            standard_endpoint: http::endpoint("audd.standard_endpoint", &config.standard_endpoint)?,
            enterprise_endpoint: http::endpoint(
                "audd.enterprise_endpoint",
                &config.enterprise_endpoint,
            )?,
            retry: RetryPolicy::new("audd.retry", &config.retry)?,
            enterprise_retry: RetryPolicy::new("audd.enterprise_retry", &config.enterprise_retry)?,
        })
    }

    /// Renders the standard snippet on a blocking thread.
    pub async fn prepare_snippet(
        &self,
        path: &Path,
        offset_seconds: f64,
        limits: DecodeLimits,
    ) -> Result<Snippet, AudDError> {
        if !path.is_file() {
            return Err(AudDError::Audio(AudioError::NotFound {
                path: path.to_owned(),
            }));
        }
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || {
            render_snippet(&owned, offset_seconds, SNIPPET_SECONDS, limits)
        })
        .await
        .map_err(|error| AudDError::Io {
            path: path.to_owned(),
            detail: format!("snippet rendering stopped: {error}"),
        })?
    }

    /// Standard recognition of a rendered snippet. `original_name` is the audio file's name;
    /// the upload is named after it with a `.wav` extension (the content is WAV).
    pub async fn recognize_snippet(
        &self,
        token: &Secret,
        snippet: &Snippet,
        original_name: &str,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let size = snippet.wav.len() as u64;
        if size > STANDARD_UPLOAD_LIMIT {
            return Err(AudDError::UploadTooLarge {
                endpoint: AudDEndpoint::Standard,
                limit: STANDARD_UPLOAD_LIMIT,
                size,
            });
        }
        let file_name = wav_file_name(original_name);
        let attempt = || async {
            let part = reqwest::multipart::Part::bytes(snippet.wav.clone())
                .file_name(file_name.clone())
                .mime_str("audio/wav")
                .map_err(|error| AudDError::InvalidResponse {
                    detail: error.to_string(),
                })?;
            let form = reqwest::multipart::Form::new()
                .text("api_token", token.expose().to_owned())
                .text("return", RETURN_FIELDS)
                .part("file", part);
            let request = self
                .standard
                .post(self.standard_endpoint.clone())
                .multipart(form);
            send(request, token, AudDEndpoint::Standard).await
        };
        self.retry
            .run("AudD standard", attempt, |error: &AudDError| {
                error.is_transient().then_some(None)
            })
            .await
    }

    /// Renders the snippet and recognises it.
    pub async fn recognize_standard(
        &self,
        token: &Secret,
        path: &Path,
        offset_seconds: f64,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let snippet = self
            .prepare_snippet(path, offset_seconds, DecodeLimits::default())
            .await?;
        self.recognize_snippet(token, &snippet, &display_name(path))
            .await
    }

    /// Enterprise recognition: uploads the whole file (streamed from disk) and flattens the
    /// chunk list into matches carrying their chunk's offset.
    pub async fn recognize_enterprise(
        &self,
        token: &Secret,
        path: &Path,
        params: &EnterpriseParams,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let io_error = |error: std::io::Error| AudDError::Io {
            path: path.to_owned(),
            detail: error.to_string(),
        };
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        if size > ENTERPRISE_UPLOAD_LIMIT {
            return Err(AudDError::UploadTooLarge {
                endpoint: AudDEndpoint::Enterprise,
                limit: ENTERPRISE_UPLOAD_LIMIT,
                size,
            });
        }
        let file_name = display_name(path);
        let attempt = || async {
            // A fresh stream of the file for every attempt.
            let file = tokio::fs::File::open(path).await.map_err(io_error)?;
            let part = reqwest::multipart::Part::stream_with_length(file, size)
                .file_name(file_name.clone())
                .mime_str("application/octet-stream")
                .map_err(|error| AudDError::InvalidResponse {
                    detail: error.to_string(),
                })?;
            let mut form = reqwest::multipart::Form::new()
                .text("api_token", token.expose().to_owned())
                .text("return", RETURN_FIELDS);
            for (name, value) in params.form_fields() {
                form = form.text(name, value);
            }
            form = form.part("file", part);
            let request = self
                .enterprise
                .post(self.enterprise_endpoint.clone())
                .multipart(form);
            send(request, token, AudDEndpoint::Enterprise).await
        };
        self.enterprise_retry
            .run("AudD enterprise", attempt, |error: &AudDError| {
                error.is_transient().then_some(None)
            })
            .await
    }
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "audio".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// `song.mp3` → `song.wav`.
fn wav_file_name(original: &str) -> String {
    let stem = Path::new(original)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "snippet".to_owned());
    format!("{stem}.wav")
}

async fn send(
    request: reqwest::RequestBuilder,
    token: &Secret,
    endpoint: AudDEndpoint,
) -> Result<Vec<Match>, AudDError> {
    let transport = |error: reqwest::Error| match Transport::from_reqwest(&error) {
        Transport::Timeout => AudDError::Timeout,
        Transport::Failed(detail) => AudDError::Network {
            detail: redact(&detail, token),
        },
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(transport)?;
    if status != 200 {
        return Err(AudDError::Http { status });
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|_| AudDError::InvalidResponse {
        detail: "the body is not valid JSON".to_owned(),
    })?;
    parse_response(&payload, endpoint).map_err(|error| match error {
        AudDError::Service { code, message } => AudDError::Service {
            code,
            message: redact(&message, token),
        },
        other => other,
    })
}

/// Parses an AudD answer. Standard: `result` is a song object (or a list of them, or null when
/// nothing was recognised). Enterprise: `result` is a list of chunks `{offset, songs: [...]}`.
pub fn parse_response(payload: &Value, endpoint: AudDEndpoint) -> Result<Vec<Match>, AudDError> {
    if !payload.is_object() {
        return Err(AudDError::InvalidResponse {
            detail: "the payload is not an object".to_owned(),
        });
    }
    if payload.get("status").and_then(Value::as_str) != Some("success") {
        let error = payload.get("error");
        let code = json::integer(error.and_then(|e| e.get("error_code")));
        let message = json::text(error.and_then(|e| e.get("error_message")))
            .or_else(|| json::text(error.and_then(|e| e.get("message"))))
            .or_else(|| json::text(error))
            .or_else(|| json::text(payload.get("result")))
            .unwrap_or_else(|| "AudD reported an error without details".to_owned());
        return Err(AudDError::Service { code, message });
    }
    let items: Vec<&Value> = match payload.get("result") {
        None | Some(Value::Null | Value::Bool(false)) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        Some(_) => {
            return Err(AudDError::InvalidResponse {
                detail: "`result` is neither a list nor an object".to_owned(),
            });
        }
    };
    let mut matches = Vec::new();
    for item in items {
        let songs = item.get("songs");
        if let Some(Value::Array(songs)) = songs {
            // An enterprise chunk.
            let offset = json::text(item.get("offset"));
            for song in songs.iter().filter(|s| s.is_object()) {
                let mut found = normalize_song(song);
                found.offset.clone_from(&offset);
                matches.push(found);
            }
        } else if item.is_object() && songs.is_none() {
            if endpoint == AudDEndpoint::Enterprise && item.get("offset").is_some() {
                continue; // a chunk where nothing was heard
            }
            matches.push(normalize_song(item));
        }
    }
    Ok(merge_matches(matches))
}

/// Maps one AudD song object to a [`Match`].
pub fn normalize_song(song: &Value) -> Match {
    let artist = json::text(song.get("artist"));
    let title = json::text(song.get("title"));
    let album = json::text(song.get("album"));
    let release_date = json::text(song.get("release_date"));
    let song_link = json::text(song.get("song_link"));
    let apple_id = provider_id(song.get("apple_music"), &["id", "trackId"]);
    let spotify_id = provider_id(song.get("spotify"), &["id", "track_id"]);
    let deezer_id = provider_id(song.get("deezer"), &["id", "track_id"]);
    let mb = musicbrainz_facts(song.get("musicbrainz"));

    let score = json::number(song.get("confidence"))
        .or_else(|| json::number(song.get("score")).map(|s| s / 100.0))
        .unwrap_or(1.0)
        .clamp(0.0, 1.0);
    let store_id = apple_id
        .clone()
        .or(spotify_id.clone())
        .or(deezer_id.clone());
    let recording_id = mb
        .recording_id
        .clone()
        .or_else(|| store_id.clone())
        .or(song_link)
        .unwrap_or_else(|| {
            let hex = sha256_hex(
                format!(
                    "{}::{}",
                    artist.as_deref().unwrap_or_default(),
                    title.as_deref().unwrap_or_default()
                )
                .as_bytes(),
            );
            format!("audd:{hex}")
        });
    let mut found = Match::new(score, recording_id);
    found.title = title;
    found.artist = artist;
    found.release_group_id = mb.release_group_id.or_else(|| store_id.clone());
    found.release_group_title = mb.release_group_title.or_else(|| album.clone());
    found.add_releases(mb.releases.iter());
    if album.is_some() || release_date.is_some() {
        let extra = Release {
            title: album,
            release_id: store_id,
            date: release_date,
            country: None,
        };
        found.add_releases(std::iter::once(&extra));
    }
    found
}

fn provider_id(provider: Option<&Value>, keys: &[&str]) -> Option<String> {
    let provider = provider?;
    keys.iter().find_map(|key| json::text(provider.get(*key)))
}

#[derive(Default)]
struct MbFacts {
    recording_id: Option<String>,
    release_group_id: Option<String>,
    release_group_title: Option<String>,
    releases: Vec<Release>,
}

/// Reads AudD's `musicbrainz` field (an object or a list of recording objects).
fn musicbrainz_facts(value: Option<&Value>) -> MbFacts {
    let records: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().filter(|v| v.is_object()).collect(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    };
    let mut facts = MbFacts::default();
    for record in &records {
        if facts.recording_id.is_none() {
            facts.recording_id = ["id", "recording_id", "track_id", "trackid"]
                .iter()
                .find_map(|key| json::text(record.get(*key)));
        }
        let releases = record.get("releases").or_else(|| record.get("release"));
        let releases: Vec<&Value> = match releases {
            Some(Value::Array(items)) => items.iter().filter(|v| v.is_object()).collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => Vec::new(),
        };
        if facts.release_group_id.is_none() && facts.release_group_title.is_none() {
            let group = record
                .get("release_group")
                .or_else(|| record.get("release-group"))
                .filter(|g| g.is_object())
                .or_else(|| {
                    releases.iter().find_map(|r| {
                        r.get("release-group")
                            .or_else(|| r.get("release_group"))
                            .filter(|g| g.is_object())
                    })
                });
            if let Some(group) = group {
                facts.release_group_id = json::text(group.get("id"));
                facts.release_group_title = json::text(group.get("title"));
            } else {
                facts.release_group_id = json::text(record.get("release_group_id"));
                facts.release_group_title = json::text(record.get("release_group_title"));
            }
        }
        for release in releases {
            let parsed = Release {
                title: json::text(release.get("title")),
                release_id: json::text(release.get("id")),
                date: json::date(release.get("date"))
                    .or_else(|| json::date(release.get("release_date"))),
                country: json::text(release.get("country")),
            };
            if !facts.releases.contains(&parsed) {
                facts.releases.push(parsed);
            }
        }
    }
    facts
}

/// Removes a token from text: every literal occurrence, and any `api_token=…` /
/// `"api_token": "…"` value.
pub fn redact(text: &str, token: &Secret) -> String {
    const MASK: &str = "***redacted***";
    let mut text = if token.is_empty() {
        text.to_owned()
    } else {
        text.replace(token.expose(), MASK)
    };
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("api_token") {
        let mut i = search_from + found + "api_token".len();
        let bytes = text.as_bytes();
        // closing quote of a quoted key, then spaces, then `:` or `=`, then spaces.
        if matches!(bytes.get(i), Some(b'"' | b'\'')) {
            i += 1;
        }
        while matches!(bytes.get(i), Some(b' ')) {
            i += 1;
        }
        if !matches!(bytes.get(i), Some(b':' | b'=')) {
            search_from = i;
            continue;
        }
        i += 1;
        while matches!(bytes.get(i), Some(b' ')) {
            i += 1;
        }
        let quote = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i += 1;
                Some(q)
            }
            _ => None,
        };
        let start = i;
        while let Some(&b) = bytes.get(i) {
            let end = match quote {
                Some(q) => b == q,
                None => b.is_ascii_whitespace() || matches!(b, b'&' | b',' | b'}' | b';'),
            };
            if end {
                break;
            }
            i += 1;
        }
        if text[start..i] != *MASK {
            text.replace_range(start..i, MASK);
        }
        search_from = start + MASK.len();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_token_values() {
        let token = Secret::new("s3cr3t");
        let text = r#"failed: api_token=abc&x=1 {"api_token": "zzz"} and s3cr3t again"#;
        let redacted = redact(text, &token);
        assert!(!redacted.contains("abc"));
        assert!(!redacted.contains("zzz"));
        assert!(!redacted.contains("s3cr3t"));
        assert!(redacted.contains(r#""api_token": "***redacted***""#));
        assert!(redacted.contains("api_token=***redacted***&x=1"));
    }

    #[test]
    fn wav_header_is_canonical() {
        let wav = wav_bytes(&[0, 1, -1], 16_000);
        assert_eq!(wav.len(), 44 + 6);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(
            u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
            16_000
        );
        assert_eq!(u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]), 6);
    }

    #[test]
    fn file_name_becomes_wav() {
        assert_eq!(wav_file_name("song.mp3"), "song.wav");
        assert_eq!(wav_file_name("a.b.flac"), "a.b.wav");
        assert_eq!(wav_file_name(""), "snippet.wav");
    }
}
