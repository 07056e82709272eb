//! AudD recognition: standard (a 12 s snippet rendered in-process) and enterprise (the whole
//! file, answered as a list of chunks with their songs).
//!
//! The API token is a [`Secret`]: it is sent in the multipart body only, and every message
//! built from service or transport text goes through [`redact`] before it leaves this module.

//! The module is split by concern: `client` talks to the two endpoints, `parse` reads their
//! answers, `snippet` renders the standard-mode WAV snippet.

mod client;
mod parse;
mod snippet;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::audio::AudioError;
use crate::http::{RetrySettings, Secret};

pub use client::AudDClient;
pub use parse::{normalize_song, parse_response};
pub use snippet::{Snippet, SnippetInfo, render_snippet, wav_bytes};

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
    use super::client::wav_file_name;
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
