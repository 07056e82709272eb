//! The match model shared by AcoustID, AudD, MusicBrainz and the lookup cache, and the rules for
//! merging and ordering matches.
//!
//! A [`Match`] serialises with the keys `score, recording_id, title, artist, release_group_id,
//! release_group_title, releases` in that order (the `IdentifyResult` contract of the web API).
//! Two optional extras follow only when they carry a value: `acoustid_id` (the AcoustID track a
//! match came from) and `offset` (where in the file an AudD enterprise match was heard).
//! Deserialising is lenient: a missing score is 0.0, a missing or null recording id is `""`, and
//! release entries that are not objects are dropped.

use serde::{Deserialize, Deserializer, Serialize};

/// One release (album edition) a recording appears on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub release_id: Option<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// One candidate identification of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Match {
    /// Confidence in `[0, 1]`.
    #[serde(default, deserialize_with = "lenient_score")]
    pub score: f64,
    /// A MusicBrainz recording id for AcoustID matches; for AudD matches the best id AudD gave
    /// (MusicBrainz, Apple Music, Spotify, Deezer, song link) or a synthetic `audd:<sha256>`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub recording_id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// The artist credit, with its join phrases kept verbatim (`A feat. B`).
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub release_group_id: Option<String>,
    #[serde(default)]
    pub release_group_title: Option<String>,
    #[serde(default, deserialize_with = "lenient_releases")]
    pub releases: Vec<Release>,
    /// The AcoustID track id of the result this match came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acoustid_id: Option<String>,
    /// For AudD enterprise matches: the offset of the chunk the song was heard in, as AudD
    /// reports it (e.g. `01:24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
}

impl Match {
    /// A match with only a score and a recording id.
    pub fn new(score: f64, recording_id: impl Into<String>) -> Self {
        Self {
            score,
            recording_id: recording_id.into(),
            title: None,
            artist: None,
            release_group_id: None,
            release_group_title: None,
            releases: Vec::new(),
            acoustid_id: None,
            offset: None,
        }
    }

    /// Appends `releases` that are not already present (compared on all four fields).
    /// Returns true when anything was added.
    pub fn add_releases<'a>(&mut self, releases: impl IntoIterator<Item = &'a Release>) -> bool {
        let mut changed = false;
        for release in releases {
            if !self.releases.contains(release) {
                self.releases.push(release.clone());
                changed = true;
            }
        }
        changed
    }

    /// Folds a later duplicate (same recording id) into this match: the higher score wins, empty
    /// fields are filled, releases are united.
    fn absorb(&mut self, other: Match) {
        if other.score > self.score {
            self.score = other.score;
        }
        fill(&mut self.title, other.title);
        fill(&mut self.artist, other.artist);
        fill(&mut self.release_group_id, other.release_group_id.clone());
        // The group title follows the group id: take the newer one when ours is empty, or when
        // both entries name the same group.
        if other.release_group_title.is_some()
            && (self.release_group_title.is_none()
                || (self.release_group_id.is_some()
                    && self.release_group_id == other.release_group_id))
        {
            self.release_group_title = other.release_group_title;
        }
        self.add_releases(other.releases.iter());
        fill(&mut self.acoustid_id, other.acoustid_id);
        fill(&mut self.offset, other.offset);
    }
}

/// Sets `slot` to `value` when `slot` is empty (None or blank). Returns true when it changed.
pub(crate) fn fill(slot: &mut Option<String>, value: Option<String>) -> bool {
    let empty = slot.as_deref().is_none_or(|s| s.trim().is_empty());
    match value {
        Some(value) if empty && !value.trim().is_empty() => {
            *slot = Some(value);
            true
        }
        _ => false,
    }
}

/// Collapses matches that share a recording id (the first occurrence keeps its place; see
/// [`Match`] for the merge rules), then sorts by score, highest first. The sort is stable, so
/// ties keep their order of first appearance. Matches with an empty recording id are kept as
/// they are.
pub fn merge_matches(matches: impl IntoIterator<Item = Match>) -> Vec<Match> {
    let mut merged: Vec<Match> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for candidate in matches {
        if candidate.recording_id.is_empty() {
            merged.push(candidate);
            continue;
        }
        if let Some(&position) = index.get(&candidate.recording_id) {
            merged[position].absorb(candidate);
        } else {
            index.insert(candidate.recording_id.clone(), merged.len());
            merged.push(candidate);
        }
    }
    sort_by_score(&mut merged);
    merged
}

/// Stable sort, highest score first (NaN scores last).
pub fn sort_by_score(matches: &mut [Match]) {
    matches.sort_by(|a, b| {
        let a = if a.score.is_nan() { f64::MIN } else { a.score };
        let b = if b.score.is_nan() { f64::MIN } else { b.score };
        b.total_cmp(&a)
    });
}

fn lenient_score<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0),
        serde_json::Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn lenient_releases<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Release>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Array(items) = value else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter(serde_json::Value::is_object)
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]
mod tests {
    use super::*;

    fn release(id: &str) -> Release {
        Release {
            title: Some(format!("Album {id}")),
            release_id: Some(id.to_owned()),
            date: Some("2001".to_owned()),
            country: None,
        }
    }

    #[test]
    fn duplicates_collapse_fill_and_sort() {
        let mut first = Match::new(0.4, "rec-1");
        first.title = Some("Title".into());
        first.releases = vec![release("a")];
        let mut other = Match::new(0.6, "rec-2");
        other.title = Some("Other".into());
        let mut later = Match::new(0.9, "rec-1");
        later.title = Some("Ignored".into());
        later.artist = Some("Artist".into());
        later.release_group_id = Some("rg".into());
        later.release_group_title = Some("Group".into());
        later.releases = vec![release("a"), release("b")];

        let merged = merge_matches([first, other, later]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].recording_id, "rec-1");
        assert!((merged[0].score - 0.9).abs() < f64::EPSILON);
        assert_eq!(
            merged[0].title.as_deref(),
            Some("Title"),
            "first value kept"
        );
        assert_eq!(merged[0].artist.as_deref(), Some("Artist"), "filled");
        assert_eq!(merged[0].release_group_id.as_deref(), Some("rg"));
        assert_eq!(merged[0].release_group_title.as_deref(), Some("Group"));
        assert_eq!(merged[0].releases, vec![release("a"), release("b")]);
        assert_eq!(merged[1].recording_id, "rec-2");
    }

    #[test]
    fn group_title_follows_the_same_group_only() {
        let mut first = Match::new(0.5, "r");
        first.release_group_id = Some("g1".into());
        first.release_group_title = Some("Old".into());
        let mut same = Match::new(0.5, "r");
        same.release_group_id = Some("g1".into());
        same.release_group_title = Some("New".into());
        let mut different = Match::new(0.5, "r");
        different.release_group_id = Some("g2".into());
        different.release_group_title = Some("Elsewhere".into());
        let merged = merge_matches([first, same, different]);
        assert_eq!(merged[0].release_group_title.as_deref(), Some("New"));
        assert_eq!(merged[0].release_group_id.as_deref(), Some("g1"));
    }

    #[test]
    fn ties_keep_their_order() {
        let merged = merge_matches([
            Match::new(0.5, "a"),
            Match::new(0.7, "b"),
            Match::new(0.5, "c"),
        ]);
        let ids: Vec<&str> = merged.iter().map(|m| m.recording_id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
    }

    #[test]
    fn deserialising_is_lenient() {
        let parsed: Match = serde_json::from_str(
            r#"{"recording_id": null, "releases": [1, {"title": "T"}, "x"], "extra": true}"#,
        )
        .expect("lenient");
        assert!(parsed.score.abs() < f64::EPSILON);
        assert_eq!(parsed.recording_id, "");
        assert_eq!(parsed.releases.len(), 1);
    }

    #[test]
    fn serialised_key_order() {
        let text = serde_json::to_string(&Match::new(1.0, "id")).expect("json");
        assert_eq!(
            text,
            r#"{"score":1.0,"recording_id":"id","title":null,"artist":null,"release_group_id":null,"release_group_title":null,"releases":[]}"#
        );
    }
}
