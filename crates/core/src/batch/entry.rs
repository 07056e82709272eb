//! One file's entry in a batch log: the JSONL object the upstream `identify-batch` writes and
//! its `rename-from-log` reads, so that our exports work with both.
//!
//! Field order is the stored and exported order: `path, duration_seconds, error, status, note,
//! matches, metadata`; a match is `rank, formatted, score, recording_id, artist, title, album,
//! release_group_id, release_id`.

use serde::{Deserialize, Serialize};

use crate::batch::format::render;
use crate::cache::MatchSource;
use crate::identify::{AUDD_NOTE, IdentifyResult};
use crate::matches::Match;
use crate::metadata::EmbeddedMetadata;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// At least one match.
    Ok,
    /// Looked up, nothing matched.
    Unmatched,
    /// The file could not be identified (bad audio, service failure, quota, access).
    Error,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unmatched => "unmatched",
            Self::Error => "error",
        }
    }

    /// Parses `ok`, `unmatched` or `error`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Self::Ok),
            "unmatched" => Some(Self::Unmatched),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// One match of an entry, flattened for logs and renames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMatch {
    /// 1 for the best match.
    pub rank: u32,
    /// The match rendered with the batch's display template.
    #[serde(default)]
    pub formatted: String,
    /// `null` only for the metadata pseudo-match of a rename plan.
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub recording_id: Option<String>,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The release group title, else the first release's title.
    #[serde(default)]
    pub album: Option<String>,
    #[serde(default)]
    pub release_group_id: Option<String>,
    /// The first release's id.
    #[serde(default)]
    pub release_id: Option<String>,
}

/// One file of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEntry {
    /// Relative to the media root (`/`-separated).
    pub path: String,
    /// `null` when the file could not be fingerprinted.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
    pub status: EntryStatus,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub matches: Vec<LogMatch>,
    #[serde(default)]
    pub metadata: Option<EmbeddedMetadata>,
}

/// What `formatted` is rendered with when the display template cannot be.
pub const FALLBACK_TEMPLATE: &str = "{artist} - {title}";

impl LogMatch {
    /// `found` as the `rank`-th match of an entry, `formatted` with `template` (see
    /// [`display_value`] for its placeholders), else with [`FALLBACK_TEMPLATE`].
    pub fn from_match(rank: u32, found: &Match, template: &str) -> Self {
        let lookup = |name: &str| display_value(found, name);
        let formatted = render(template, &lookup).unwrap_or_else(|_| {
            // The fallback template, written out: rendering it could only fail on length,
            // and the values' own length is all it would add.
            format!(
                "{} - {}",
                lookup("artist").unwrap_or_default(),
                lookup("title").unwrap_or_default()
            )
        });
        Self {
            rank,
            formatted,
            score: Some(found.score),
            recording_id: Some(found.recording_id.clone()),
            artist: found.artist.clone(),
            title: found.title.clone(),
            album: album(found).map(str::to_owned),
            release_group_id: found.release_group_id.clone(),
            release_id: found
                .releases
                .first()
                .and_then(|release| present(release.release_id.as_deref()))
                .map(str::to_owned),
        }
    }
}

/// The value of a display-template placeholder for `found`: `artist` (default `Unknown
/// artist`), `title` (default `Unknown title`), `album`, `release_id`, `recording_id` and
/// `score` (two decimals). Unknown names have none (they render empty).
///
/// `release_id` is the release *group* id first, then the first release's id: an upstream
/// quirk kept so that templates render as they do there (the entry's own `release_id` field is
/// the first release's id).
pub fn display_value(found: &Match, name: &str) -> Option<String> {
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    Some(match name {
        "artist" => present(found.artist.as_deref())
            .unwrap_or("Unknown artist")
            .to_owned(),
        "title" => present(found.title.as_deref())
            .unwrap_or("Unknown title")
            .to_owned(),
        "album" => text(album(found)),
        "release_id" => text(present(found.release_group_id.as_deref()).or_else(|| {
            found
                .releases
                .first()
                .and_then(|release| present(release.release_id.as_deref()))
        })),
        "recording_id" => found.recording_id.clone(),
        "score" => format!("{:.2}", found.score),
        _ => return None,
    })
}

/// The release group title, else the first release's title.
fn album(found: &Match) -> Option<&str> {
    present(found.release_group_title.as_deref()).or_else(|| {
        found
            .releases
            .first()
            .and_then(|release| present(release.title.as_deref()))
    })
}

/// Empty text counts as missing, as upstream's `value or default` does.
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

impl BatchEntry {
    /// The entry of a file that was identified: `ok` with its first `max(limit, 1)` matches in
    /// the order the providers gave (no de-duplication of identical renders), or `unmatched`
    /// with the file's embedded metadata.
    ///
    /// The note: `Source: AudD.` when AudD supplied the matches; `AudD lookup failed: <error>`
    /// when AudD failed and AcoustID matched (an AudD failure followed by an AudD match only
    /// says `Source: AudD.`: the matches are AudD's); `No match.`, plus ` AudD lookup failed:
    /// <error>` when AudD failed, for an unmatched file.
    pub fn identified(path: String, result: &IdentifyResult, limit: usize, template: &str) -> Self {
        let matches: Vec<LogMatch> = result
            .matches
            .iter()
            .take(limit.max(1))
            .zip(1_u32..)
            .map(|(found, rank)| LogMatch::from_match(rank, found, template))
            .collect();
        let audd_failure = result
            .audd_error
            .as_deref()
            .map(|error| format!("AudD lookup failed: {error}"));
        let (status, note, metadata) = if matches.is_empty() {
            let note = match audd_failure {
                Some(failure) => format!("No match. {failure}"),
                None => "No match.".to_owned(),
            };
            (EntryStatus::Unmatched, Some(note), result.metadata.clone())
        } else if result.match_source == Some(MatchSource::AudD) {
            let note = result
                .audd_note
                .clone()
                .unwrap_or_else(|| AUDD_NOTE.to_owned());
            (EntryStatus::Ok, Some(note), None)
        } else {
            (EntryStatus::Ok, audd_failure, None)
        };
        Self {
            path,
            duration_seconds: Some(result.duration_seconds),
            error: None,
            status,
            note,
            matches,
            metadata,
        }
    }

    /// The entry of a file that could not be identified: no fingerprint, no matches.
    pub fn failed(path: String, error: String) -> Self {
        Self {
            path,
            duration_seconds: None,
            error: Some(error),
            status: EntryStatus::Error,
            note: None,
            matches: Vec::new(),
            metadata: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matches::Release;

    fn release(title: Option<&str>, id: Option<&str>) -> Release {
        Release {
            title: title.map(str::to_owned),
            release_id: id.map(str::to_owned),
            date: None,
            country: None,
        }
    }

    fn full_match() -> Match {
        let mut found = Match::new(0.905, "rec-1");
        found.artist = Some("Artist".into());
        found.title = Some("Title".into());
        found.release_group_id = Some("rg-1".into());
        found.release_group_title = Some("Group".into());
        found.releases = vec![release(Some("Album"), Some("rel-1"))];
        found
    }

    fn result(matches: Vec<Match>, source: Option<MatchSource>) -> IdentifyResult {
        IdentifyResult {
            matches,
            match_source: source,
            metadata: None,
            audd_note: None,
            audd_error: None,
            fingerprint: "AQAA".into(),
            duration_seconds: 187.254,
        }
    }

    #[test]
    fn a_match_is_flattened() {
        let logged = LogMatch::from_match(
            1,
            &full_match(),
            "{artist} - {title} [{album}] {release_id} {recording_id} {score} {nope}",
        );
        assert_eq!(logged.formatted, "Artist - Title [Group] rg-1 rec-1 0.91 ");
        assert_eq!(logged.score, Some(0.905));
        assert_eq!(logged.album.as_deref(), Some("Group"));
        assert_eq!(logged.release_group_id.as_deref(), Some("rg-1"));
        assert_eq!(logged.release_id.as_deref(), Some("rel-1"), "not the group");
    }

    #[test]
    fn missing_values_take_their_defaults() {
        let mut found = Match::new(0.5, "rec-2");
        found.artist = Some(String::new());
        found.releases = vec![
            release(Some("First"), Some("rel-9")),
            release(Some("Second"), None),
        ];
        let logged = LogMatch::from_match(2, &found, "{artist}|{title}|{album}|{release_id}");
        assert_eq!(logged.formatted, "Unknown artist|Unknown title|First|rel-9");
        assert_eq!(logged.album.as_deref(), Some("First"));
        assert_eq!(logged.release_id.as_deref(), Some("rel-9"));
        let bare = LogMatch::from_match(1, &Match::new(0.5, "r"), "[{album}][{release_id}]");
        assert_eq!(bare.formatted, "[][]");
        assert_eq!((bare.album, bare.release_id), (None, None));
    }

    #[test]
    fn a_broken_template_falls_back() {
        for broken in ["{artist", "{0}", "{score:.1f}", "}"] {
            let logged = LogMatch::from_match(1, &full_match(), broken);
            assert_eq!(logged.formatted, "Artist - Title", "{broken:?}");
        }
    }

    #[test]
    fn matches_are_truncated_in_provider_order() {
        let mut low = full_match();
        low.score = 0.2;
        low.recording_id = "rec-low".into();
        let found = result(
            vec![low, full_match(), full_match(), full_match()],
            Some(MatchSource::AcoustId),
        );
        let entry = BatchEntry::identified("a.mp3".into(), &found, 3, "{artist} - {title}");
        assert_eq!(entry.status, EntryStatus::Ok);
        let ranks: Vec<u32> = entry.matches.iter().map(|m| m.rank).collect();
        assert_eq!(ranks, [1, 2, 3], "identical renders are all kept");
        assert_eq!(entry.matches[0].recording_id.as_deref(), Some("rec-low"));
        assert_eq!(entry.note, None);
        assert_eq!(entry.metadata, None);
        assert_eq!(entry.duration_seconds, Some(187.254));
        let best = BatchEntry::identified("a.mp3".into(), &found, 0, "{title}");
        assert_eq!(best.matches.len(), 1, "a limit of 0 is 1");
    }

    #[test]
    fn notes() {
        let mut audd = result(vec![full_match()], Some(MatchSource::AudD));
        let entry = BatchEntry::identified("a".into(), &audd, 3, "");
        assert_eq!(entry.note.as_deref(), Some("Source: AudD."));
        audd.audd_error = Some("timeout".into());
        let entry = BatchEntry::identified("a".into(), &audd, 3, "");
        assert_eq!(entry.note.as_deref(), Some("Source: AudD."));

        let mut acoustid = result(vec![full_match()], Some(MatchSource::AcoustId));
        acoustid.audd_error = Some("quota exceeded".into());
        let entry = BatchEntry::identified("a".into(), &acoustid, 3, "");
        assert_eq!(
            entry.note.as_deref(),
            Some("AudD lookup failed: quota exceeded")
        );

        let mut none = result(Vec::new(), None);
        none.metadata = Some(EmbeddedMetadata {
            artist: Some("Tag artist".into()),
            title: None,
            album: None,
        });
        let entry = BatchEntry::identified("a".into(), &none, 3, "");
        assert_eq!(entry.status, EntryStatus::Unmatched);
        assert_eq!(entry.note.as_deref(), Some("No match."));
        assert_eq!(entry.metadata, none.metadata);
        assert!(entry.matches.is_empty());
        none.audd_error = Some("bad token".into());
        let entry = BatchEntry::identified("a".into(), &none, 3, "");
        assert_eq!(
            entry.note.as_deref(),
            Some("No match. AudD lookup failed: bad token")
        );
    }

    #[test]
    fn failures() {
        let entry = BatchEntry::failed("x.mp3".into(), "bad audio".into());
        assert_eq!(entry.status, EntryStatus::Error);
        assert_eq!(entry.error.as_deref(), Some("bad audio"));
        assert_eq!(entry.duration_seconds, None);
        assert!(entry.matches.is_empty() && entry.note.is_none() && entry.metadata.is_none());
    }
}
