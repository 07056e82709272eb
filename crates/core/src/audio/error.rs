use std::path::PathBuf;

/// Everything that can go wrong while opening, decoding or fingerprinting an audio file.
///
/// Each variant names the file so that the message is useful on its own; callers that must not
/// reveal server paths (the HTTP API) map the variant to their own text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("audio file not found: {}", path.display())]
    NotFound { path: PathBuf },

    #[error("not a regular file: {}", path.display())]
    NotAFile { path: PathBuf },

    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the file is empty: {}", path.display())]
    Empty { path: PathBuf },

    #[error("not an audio file (no format FFmpeg can read): {}", path.display())]
    NotAudio { path: PathBuf },

    #[error(
        "refused container `{format}` in {}: only audio and video container formats are accepted, never playlists, lists or devices",
        path.display()
    )]
    ContainerNotAllowed { path: PathBuf, format: String },

    #[error("implausible audio stream in {}: {detail}", path.display())]
    Implausible { path: PathBuf, detail: String },

    #[error(
        "decoding {} took longer than the {limit_seconds:.0} s allowed (stopped after {elapsed_seconds:.1} s)",
        path.display()
    )]
    TimedOut {
        path: PathBuf,
        limit_seconds: f64,
        elapsed_seconds: f64,
    },

    #[error("the file has no audio stream: {}", path.display())]
    NoAudioStream { path: PathBuf },

    #[error("unsupported audio codec `{codec}` in {}", path.display())]
    UnsupportedCodec { path: PathBuf, codec: String },

    #[error("corrupt audio data in {}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "truncated audio file {}: the container announces {declared_seconds:.2} s but only {decoded_seconds:.2} s could be decoded",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        declared_seconds: f64,
        decoded_seconds: f64,
    },

    #[error(
        "audio too short to fingerprint ({decoded_seconds:.2} s decoded): {}",
        path.display()
    )]
    TooShort { path: PathBuf, decoded_seconds: f64 },

    /// A catalogue query holds more audio than its caller accepts; decoding stopped there.
    #[error(
        "audio too long for a query (more than {max_seconds} s): {}",
        path.display()
    )]
    TooLong { path: PathBuf, max_seconds: u32 },

    #[error("audio conversion failed for {}: {detail}", path.display())]
    Conversion { path: PathBuf, detail: String },

    #[error("fingerprinting failed for {}: {detail}", path.display())]
    Fingerprinter { path: PathBuf, detail: String },
}

impl AudioError {
    /// A stable, machine-readable name for the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "file_not_found",
            Self::NotAFile { .. } => "not_a_file",
            Self::Unreadable { .. } => "file_unreadable",
            Self::Empty { .. } => "empty_file",
            Self::NotAudio { .. } => "not_audio",
            Self::ContainerNotAllowed { .. } => "container_not_allowed",
            Self::Implausible { .. } => "implausible_audio",
            Self::TimedOut { .. } => "decode_timeout",
            Self::NoAudioStream { .. } => "no_audio_stream",
            Self::UnsupportedCodec { .. } => "unsupported_codec",
            Self::Corrupt { .. } => "corrupt_audio",
            Self::Truncated { .. } => "truncated_audio",
            Self::TooShort { .. } => "audio_too_short",
            Self::TooLong { .. } => "audio_too_long",
            Self::Conversion { .. } => "conversion_failed",
            Self::Fingerprinter { .. } => "fingerprint_failed",
        }
    }

    /// True when the file itself is at fault (as opposed to a failure of this machine).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::Unreadable { .. } | Self::Conversion { .. } | Self::Fingerprinter { .. }
        )
    }
}
