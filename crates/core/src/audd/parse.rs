//! Reading AudD answers into [`Match`]es.

use serde_json::Value;

use super::{AudDEndpoint, AudDError};
use crate::cache::sha256_hex;
use crate::json;
use crate::matches::{Match, Release, merge_matches};

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
