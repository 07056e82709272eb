//! The embedded-metadata fallback: when nothing matched, report the file's own tags.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio::probe_file;

/// The tags reported when no service matched. Only keys with a value are serialised, e.g.
/// `{"artist": "…", "title": "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddedMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
}

impl EmbeddedMetadata {
    pub fn is_empty(&self) -> bool {
        self.artist.is_none() && self.title.is_none() && self.album.is_none()
    }
}

/// Reads the artist, title and album tags of `path`. `None` when the file cannot be read or
/// has none of the three. Blocking (opens the file with FFmpeg).
pub fn read_embedded_metadata(path: &Path) -> Option<EmbeddedMetadata> {
    let info = probe_file(path).ok()?;
    let clean =
        |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let metadata = EmbeddedMetadata {
        artist: clean(info.tags.artist),
        title: clean(info.tags.title),
        album: clean(info.tags.album),
    };
    (!metadata.is_empty()).then_some(metadata)
}
