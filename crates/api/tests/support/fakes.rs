//! Fake AcoustID and MusicBrainz services (wiremock on 127.0.0.1).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The recording the fake AcoustID finds.
pub const MBID: &str = "b1a9c0e9-d987-4042-ae91-78d6a3267d69";
/// Its title, which only the fake MusicBrainz knows.
pub const MB_TITLE: &str = "Chanson (MusicBrainz)";

/// An AcoustID answer whose best recording has no title, so MusicBrainz completes it.
pub fn acoustid_payload() -> Value {
    json!({
        "status": "ok",
        "results": [{
            "id": "track-1",
            "score": 0.93,
            "recordings": [{"id": MBID, "artists": [{"id": "a1", "name": "Artiste"}]}]
        }]
    })
}

pub fn musicbrainz_payload() -> Value {
    json!({
        "id": MBID,
        "title": MB_TITLE,
        "length": 10000,
        "artist-credit": [{"name": "Artiste", "joinphrase": "", "artist": {"id": "a1", "name": "Artiste"}}],
        "releases": [{"id": "mb-rel-1", "title": "MB Album", "date": "2001-03", "country": "GB",
                      "release-group": {"id": "mb-rg-1", "title": "MB Album", "primary-type": "Album"}}]
    })
}

/// Fake AcoustID and MusicBrainz services, answering nothing until a behaviour is mounted.
pub struct Fakes {
    pub acoustid: MockServer,
    pub musicbrainz: MockServer,
}

impl Fakes {
    pub async fn start() -> Self {
        Self {
            acoustid: MockServer::start().await,
            musicbrainz: MockServer::start().await,
        }
    }

    /// AcoustID finds the recording (after `delay`), MusicBrainz completes it.
    pub async fn healthy(&self, delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/v2/lookup"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(acoustid_payload())
                    .set_delay(delay),
            )
            .mount(&self.acoustid)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/recording/[0-9a-f-]{36}$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(musicbrainz_payload()))
            .mount(&self.musicbrainz)
            .await;
    }

    /// AcoustID answers 503 to everything.
    pub async fn acoustid_down(&self) {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).set_body_json(
                json!({"status": "error", "error": {"code": 13, "message": "service unavailable"}}),
            ))
            .mount(&self.acoustid)
            .await;
    }

    pub fn acoustid_endpoint(&self) -> String {
        format!("{}/v2/lookup", self.acoustid.uri())
    }

    /// How many lookups AcoustID received.
    pub async fn acoustid_calls(&self) -> usize {
        self.acoustid
            .received_requests()
            .await
            .map_or(0, |r| r.len())
    }
}
