//! The one mapping of library errors to the text a client may see. HTTP responses (through
//! `recozik_api`'s error module) and job failure messages both use it, so a client reads the
//! same sentence whether it identified a file synchronously or through a job.
//!
//! The libraries' own `Display` texts can name server paths or internals; these never do.

use recozik_core::{AudioError, IdentifyError};

/// A client-safe description of an audio failure (the library's message names server paths).
pub fn audio_error_text(error: &AudioError) -> &'static str {
    use AudioError as A;
    match error {
        A::NotFound { .. } => "Audio file not found",
        A::NotAFile { .. } => "Path is not a file",
        A::Empty { .. } => "The file is empty",
        A::NotAudio { .. } => "The file is not in an audio format that can be read",
        A::ContainerNotAllowed { .. } => {
            "The file's format is not accepted (playlists, lists and other indirections are refused)"
        }
        A::Implausible { .. } => "The audio stream declares impossible parameters",
        A::TimedOut { .. } => "Decoding the audio took longer than the server allows",
        A::NoAudioStream { .. } => "The file has no audio stream",
        A::UnsupportedCodec { .. } => "The file's audio codec is not supported",
        A::Corrupt { .. } => "The audio data is corrupt",
        A::Truncated { .. } => "The audio file is truncated",
        A::TooShort { .. } => {
            "The audio is too short to fingerprint (at least about 3 seconds are needed)"
        }
        A::TooLong { .. } => "The audio is longer than this operation accepts",
        _ => "The audio could not be fingerprinted",
    }
}

/// The client-facing text of a pipeline error, or `None` for an internal failure (whose cause
/// is logged and never shown).
pub fn identify_error_text(error: &IdentifyError) -> Option<String> {
    match error {
        IdentifyError::Denied { message, .. } | IdentifyError::QuotaExceeded { message, .. } => {
            Some(message.clone())
        }
        IdentifyError::BadAudio(audio) => Some(audio_error_text(audio).to_owned()),
        IdentifyError::Upstream(upstream) => Some(upstream.to_string()),
        _ => None,
    }
}
