//! Shared helpers for the identification tests: audio generated with the `ffmpeg` CLI, fake
//! services' payloads shaped like the real ones, fast client settings, recording responders.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use recozik_core::{AcoustIdConfig, AudDConfig, MusicBrainzConfig, RetrySettings, ServicesConfig};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

pub const MBID_1: &str = "b1a9c0e9-d987-4042-ae91-78d6a3267d69";
pub const MBID_2: &str = "c2b8d1fa-0000-4042-ae91-78d6a3267d69";
pub const RG_1: &str = "e1e1e1e1-1111-4222-8333-944444444444";
pub const REL_1: &str = "f1f1f1f1-1111-4222-8333-955555555555";
pub const REL_2: &str = "f2f2f2f2-1111-4222-8333-966666666666";

/// Generates a sine WAV with `ffmpeg` (mono, 11025 Hz), optionally tagged.
pub fn sine_wav(dir: &Path, name: &str, seconds: f64, tags: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let mut command = Command::new("ffmpeg");
    command
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-ac", "1", "-ar", "11025"]);
    for (key, value) in tags {
        command.arg("-metadata").arg(format!("{key}={value}"));
    }
    let status = command.arg(&path).status().expect("the ffmpeg CLI runs");
    assert!(status.success(), "ffmpeg failed to generate {name}");
    path
}

/// Settings pointing every service at `base` URLs, with short timeouts and backoffs.
pub fn fast_config(acoustid: &str, audd: &str, musicbrainz: &str) -> ServicesConfig {
    let retry = RetrySettings {
        max_retries: 2,
        initial_backoff_seconds: 0.01,
        max_backoff_seconds: 0.05,
        max_retry_after_seconds: 5.0,
    };
    ServicesConfig {
        acoustid: AcoustIdConfig {
            endpoint: format!("{acoustid}/v2/lookup"),
            connect_timeout_seconds: 2.0,
            timeout_seconds: 5.0,
            requests_per_second: 0.0,
            retry: retry.clone(),
        },
        audd: AudDConfig {
            standard_endpoint: format!("{audd}/"),
            enterprise_endpoint: format!("{audd}/enterprise/"),
            connect_timeout_seconds: 2.0,
            standard_timeout_seconds: 5.0,
            enterprise_timeout_seconds: 5.0,
            retry: retry.clone(),
            enterprise_retry: retry.clone(),
        },
        musicbrainz: MusicBrainzConfig {
            base_url: musicbrainz.to_owned(),
            requests_per_second: 0.0,
            connect_timeout_seconds: 2.0,
            timeout_seconds: 5.0,
            app_name: "recozik-test".to_owned(),
            app_version: "9.9".to_owned(),
            contact: Some("ops@example.org".to_owned()),
            retry,
        },
    }
}

/// An AcoustID `ok` payload shaped like the real service's (meta = recordings releasegroups
/// releases tracks compress): two results, the same recording in both, releases nested in
/// release groups, partial dates, several artists with join phrases.
pub fn acoustid_payload() -> Value {
    json!({
        "status": "ok",
        "results": [
            {
                "id": "track-low",
                "score": 0.41,
                "recordings": [
                    {"id": MBID_2, "title": "Other Song",
                     "artists": [{"id": "a3", "name": "Solo"}]},
                    {"id": MBID_1,
                     "artists": [{"id": "a1", "name": "Artiste", "joinphrase": " feat. "},
                                 {"id": "a2", "name": "Invité"}]}
                ]
            },
            {
                "id": "track-high",
                "score": 0.93,
                "recordings": [
                    {
                        "id": MBID_1,
                        "title": "Chanson",
                        "duration": 10,
                        "artists": [{"id": "a1", "name": "Artiste", "joinphrase": " feat. "},
                                    {"id": "a2", "name": "Invité"}],
                        "releasegroups": [
                            {
                                "id": RG_1,
                                "title": "Album X",
                                "type": "Album",
                                "releases": [
                                    {"id": REL_1, "country": "FR",
                                     "date": {"year": 2018, "month": 5, "day": 1},
                                     "releaseevents": [{"country": "FR",
                                        "date": {"year": 2018, "month": 5, "day": 1}}],
                                     "mediums": [{"format": "CD", "position": 1,
                                        "track_count": 10,
                                        "tracks": [{"id": "t1", "position": 3}]}],
                                     "track_count": 10},
                                    {"id": REL_2, "title": "Album X (Deluxe)",
                                     "releaseevents": [{"country": "XW",
                                        "date": {"year": 2019, "month": 2}}]}
                                ]
                            },
                            {
                                "id": "e2e2e2e2-1111-4222-8333-944444444444",
                                "title": "Best Of",
                                "releases": [{"id": "r-bestof", "date": {"year": 2020}}]
                            }
                        ]
                    }
                ]
            },
            {"id": "track-empty", "score": 0.2}
        ]
    })
}

/// A MusicBrainz recording payload (inc=artists+releases+release-groups).
pub fn musicbrainz_payload(id: &str) -> Value {
    json!({
        "id": id,
        "title": "Other Song (MB)",
        "length": 10000,
        "artist-credit": [
            {"name": "A", "joinphrase": " & ", "artist": {"id": "x", "name": "A canonical"}},
            {"name": "B", "joinphrase": "", "artist": {"id": "y", "name": "B"}}
        ],
        "releases": [
            {"id": "mb-rel-1", "title": "MB Album", "date": "2001-03", "country": "GB",
             "release-group": {"id": "mb-rg-1", "title": "MB Album", "primary-type": "Album"}},
            {"id": "mb-rel-2", "title": "MB Album (US)", "date": "2001", "country": "US",
             "release-group": {"id": "mb-rg-1", "title": "MB Album"}}
        ]
    })
}

/// An AudD standard success payload.
pub fn audd_standard_payload() -> Value {
    json!({
        "status": "success",
        "result": {
            "artist": "Imagine Dragons",
            "title": "Warriors",
            "album": "Warriors",
            "release_date": "2014-09-18",
            "label": "Universal Music",
            "timecode": "00:40",
            "song_link": "https://lis.tn/Warriors",
            "spotify": {"id": "1lgN0A2Vki2FTON5PYq42m"},
            "musicbrainz": [{
                "id": MBID_1,
                "title": "Warriors",
                "releases": [{"id": "audd-rel", "title": "Warriors", "date": "2014-09-18",
                              "country": "US",
                              "release-group": {"id": "audd-rg", "title": "Warriors"}}]
            }]
        }
    })
}

/// An AudD enterprise success payload: a list of chunks, each with its songs.
pub fn audd_enterprise_payload() -> Value {
    json!({
        "status": "success",
        "result": [
            {"offset": "00:00", "songs": [
                {"artist": "Imagine Dragons", "title": "Warriors", "album": "Warriors",
                 "release_date": "2014-09-18", "label": "Universal Music", "score": 95,
                 "timecode": "00:40", "song_link": "https://lis.tn/Warriors"}
            ]},
            {"offset": "00:12", "songs": []},
            {"offset": "00:24", "songs": [
                {"artist": "Alan Walker", "title": "Faded", "album": "Faded",
                 "release_date": "2016-02-12", "score": 80, "timecode": "00:13",
                 "song_link": "https://lis.tn/Faded"},
                {"artist": "Imagine Dragons", "title": "Warriors", "score": 90,
                 "song_link": "https://lis.tn/Warriors"}
            ]}
        ]
    })
}

/// Responds with a fixed template and records when each request arrived.
#[derive(Clone)]
pub struct Recorder {
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
}

impl Recorder {
    pub fn new(template: ResponseTemplate) -> Self {
        Self {
            arrivals: Arc::new(Mutex::new(Vec::new())),
            template,
        }
    }

    pub fn times(&self) -> Vec<Instant> {
        let mut times = self.arrivals.lock().expect("lock").clone();
        times.sort();
        times
    }
}

impl Respond for Recorder {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.arrivals.lock().expect("lock").push(Instant::now());
        self.template.clone()
    }
}

/// Responds with each template in turn, then repeats the last one.
pub struct Sequence {
    templates: Vec<ResponseTemplate>,
    next: Mutex<usize>,
}

impl Sequence {
    pub fn new(templates: Vec<ResponseTemplate>) -> Self {
        Self {
            templates,
            next: Mutex::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut next = self.next.lock().expect("lock");
        let index = (*next).min(self.templates.len() - 1);
        *next += 1;
        self.templates[index].clone()
    }
}

/// The largest number of `times` inside any window of `window` (half-open).
pub fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Decodes a form-urlencoded body into pairs.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    form_pairs(body)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
