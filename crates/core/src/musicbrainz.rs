//! MusicBrainz recording lookups, used to fill what AcoustID or AudD left empty.
//!
//! One throttle per process (1 request/s by default, MusicBrainz's rule), shared by every clone
//! of the client; a User-Agent of the form `app/version (contact)`; retries on 429/5xx and
//! network errors, honouring `Retry-After`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{self, ConfigError, RetryPolicy, RetrySettings, Throttle, Transport};
use crate::json;
use crate::matches::{Match, Release, fill};

/// The public MusicBrainz server.
pub const DEFAULT_MUSICBRAINZ_URL: &str = "https://musicbrainz.org";

/// MusicBrainz client settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MusicBrainzConfig {
    /// Server root; `/ws/2/…` is appended.
    pub base_url: String,
    /// Process-wide; MusicBrainz allows 1. 0 disables throttling (tests and mirrors only).
    pub requests_per_second: f64,
    pub connect_timeout_seconds: f64,
    pub timeout_seconds: f64,
    pub app_name: String,
    pub app_version: String,
    /// A URL or e-mail address MusicBrainz can reach the operator at.
    pub contact: Option<String>,
    pub retry: RetrySettings,
}

impl Default for MusicBrainzConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_MUSICBRAINZ_URL.to_owned(),
            requests_per_second: 1.0,
            connect_timeout_seconds: 5.0,
            timeout_seconds: 5.0,
            app_name: "recozik".to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            contact: None,
            retry: RetrySettings::default(),
        }
    }
}

impl MusicBrainzConfig {
    /// `app/version (contact)`, or `app/version` without a contact.
    pub fn user_agent(&self) -> String {
        let app = match self.app_name.trim() {
            "" => "recozik",
            name => name,
        };
        let version = match self.app_version.trim() {
            "" => "0",
            version => version,
        };
        match self.contact.as_deref().map(str::trim) {
            Some(contact) if !contact.is_empty() => format!("{app}/{version} ({contact})"),
            _ => format!("{app}/{version}"),
        }
    }
}

/// A MusicBrainz lookup failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MusicBrainzError {
    #[error("MusicBrainz is temporarily unavailable (503); please retry later")]
    Unavailable { retry_after: Option<Duration> },
    #[error("MusicBrainz rate limit hit; slow down to stay within its request rate")]
    RateLimited { retry_after: Option<Duration> },
    #[error("unexpected MusicBrainz response: HTTP {status}")]
    Http { status: u16 },
    #[error("invalid MusicBrainz response: {detail}")]
    InvalidResponse { detail: String },
    #[error("MusicBrainz request timed out")]
    Timeout,
    #[error("MusicBrainz request failed: {detail}")]
    Network { detail: String },
}

impl MusicBrainzError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "musicbrainz_unavailable",
            Self::RateLimited { .. } => "musicbrainz_rate_limited",
            Self::Http { .. } => "musicbrainz_http_error",
            Self::InvalidResponse { .. } => "musicbrainz_invalid_response",
            Self::Timeout => "musicbrainz_timeout",
            Self::Network { .. } => "musicbrainz_unreachable",
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. }
            | Self::RateLimited { .. }
            | Self::Timeout
            | Self::Network { .. } => true,
            Self::Http { status } => *status >= 500,
            Self::InvalidResponse { .. } => false,
        }
    }
}

/// What MusicBrainz says about one recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MbRecording {
    pub recording_id: String,
    pub title: Option<String>,
    /// The artist credit as credited on the recording, join phrases kept verbatim.
    pub artist: Option<String>,
    pub release_group_id: Option<String>,
    pub release_group_title: Option<String>,
    pub releases: Vec<Release>,
}

impl MbRecording {
    /// Fills the fields of `target` that are empty and adds missing releases. Returns true when
    /// anything changed.
    pub fn fill_match(&self, target: &mut Match) -> bool {
        let mut changed = fill(&mut target.title, self.title.clone());
        changed |= fill(&mut target.artist, self.artist.clone());
        changed |= fill(&mut target.release_group_id, self.release_group_id.clone());
        changed |= fill(
            &mut target.release_group_title,
            self.release_group_title.clone(),
        );
        changed |= target.add_releases(self.releases.iter());
        changed
    }
}

/// True for a MusicBrainz identifier (a UUID in its 8-4-4-4-12 form).
pub fn is_mbid(id: &str) -> bool {
    let id = id.trim();
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The MusicBrainz client. Cheap to clone; clones share the throttle.
#[derive(Debug, Clone)]
pub struct MusicBrainzClient {
    http: reqwest::Client,
    base: String,
    throttle: Throttle,
    retry: RetryPolicy,
}

impl MusicBrainzClient {
    pub fn new(config: &MusicBrainzConfig) -> Result<Self, ConfigError> {
        let base = http::endpoint("musicbrainz.base_url", &config.base_url)?;
        let http = http::client(
            "musicbrainz",
            &config.user_agent(),
            http::seconds(
                "musicbrainz.connect_timeout_seconds",
                config.connect_timeout_seconds,
                false,
            )?,
            http::seconds("musicbrainz.timeout_seconds", config.timeout_seconds, false)?,
        )?;
        Ok(Self {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            throttle: Throttle::new(
                "musicbrainz.requests_per_second",
                config.requests_per_second,
            )?,
            retry: RetryPolicy::new("musicbrainz.retry", &config.retry)?,
        })
    }

    /// Looks a recording up. `Ok(None)` when the id is not an MBID (no request is made) or
    /// MusicBrainz does not know it.
    pub async fn lookup_recording(
        &self,
        recording_id: &str,
    ) -> Result<Option<MbRecording>, MusicBrainzError> {
        let id = recording_id.trim();
        if !is_mbid(id) {
            return Ok(None);
        }
        let url = format!(
            "{}/ws/2/recording/{}?fmt=json&inc=artists+releases+release-groups",
            self.base,
            id.to_ascii_lowercase()
        );
        self.retry
            .run(
                "MusicBrainz",
                || async {
                    self.throttle.wait().await;
                    self.attempt(&url).await
                },
                |error: &MusicBrainzError| {
                    error.is_transient().then_some(match error {
                        MusicBrainzError::RateLimited { retry_after }
                        | MusicBrainzError::Unavailable { retry_after } => *retry_after,
                        _ => None,
                    })
                },
            )
            .await
    }

    async fn attempt(&self, url: &str) -> Result<Option<MbRecording>, MusicBrainzError> {
        let transport = |error: reqwest::Error| match Transport::from_reqwest(&error) {
            Transport::Timeout => MusicBrainzError::Timeout,
            Transport::Failed(detail) => MusicBrainzError::Network { detail },
        };
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        match status {
            200 => {}
            404 => return Ok(None),
            429 => return Err(MusicBrainzError::RateLimited { retry_after }),
            503 => return Err(MusicBrainzError::Unavailable { retry_after }),
            status => return Err(MusicBrainzError::Http { status }),
        }
        let body = response.bytes().await.map_err(transport)?;
        let payload: Value =
            serde_json::from_slice(&body).map_err(|_| MusicBrainzError::InvalidResponse {
                detail: "the body is not valid JSON".to_owned(),
            })?;
        if !payload.is_object() {
            return Err(MusicBrainzError::InvalidResponse {
                detail: "the payload is not an object".to_owned(),
            });
        }
        Ok(Some(parse_recording(&payload)))
    }
}

/// Parses a `/ws/2/recording/{id}` payload.
pub fn parse_recording(payload: &Value) -> MbRecording {
    let mut recording = MbRecording {
        recording_id: json::text(payload.get("id")).unwrap_or_default(),
        title: json::text(payload.get("title")),
        artist: artist_credit(
            payload
                .get("artist-credit")
                .or_else(|| payload.get("artist_credit")),
        ),
        ..MbRecording::default()
    };
    let mut group: Option<&Value> = None;
    for release in json::array(payload.get("releases")) {
        if !release.is_object() {
            continue;
        }
        let parsed = Release {
            title: json::text(release.get("title")),
            release_id: json::text(release.get("id")),
            date: json::date(release.get("date"))
                .or_else(|| json::date(release.get("first-release-date"))),
            country: json::text(release.get("country")),
        };
        if !recording.releases.contains(&parsed) {
            recording.releases.push(parsed);
        }
        if group.is_none() {
            group = release
                .get("release-group")
                .or_else(|| release.get("release_group"))
                .filter(|g| g.is_object());
        }
    }
    let group = group.or_else(|| payload.get("release-group").filter(|g| g.is_object()));
    if let Some(group) = group {
        recording.release_group_id = json::text(group.get("id"));
        recording.release_group_title = json::text(group.get("title"));
    }
    recording
}

/// Renders an artist credit: each credited name (falling back to the artist's canonical name)
/// followed by its join phrase, verbatim.
fn artist_credit(credit: Option<&Value>) -> Option<String> {
    let mut text = String::new();
    for item in json::array(credit) {
        match item {
            Value::String(name) => text.push_str(name),
            Value::Object(parts) => {
                let name = parts
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.trim().is_empty())
                    .or_else(|| {
                        parts
                            .get("artist")
                            .and_then(|a| a.get("name"))
                            .and_then(Value::as_str)
                    });
                if let Some(name) = name {
                    text.push_str(name);
                }
                if let Some(Value::String(join)) = parts.get("joinphrase") {
                    text.push_str(join);
                }
            }
            _ => {}
        }
    }
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbid_shape() {
        assert!(is_mbid("9ff43b6a-4f16-427c-93c2-92307ca505e0"));
        assert!(is_mbid(" 9FF43B6A-4F16-427C-93C2-92307CA505E0 "));
        assert!(!is_mbid("audd:abc"));
        assert!(!is_mbid("9ff43b6a4f16427c93c292307ca505e0"));
        assert!(!is_mbid("9ff43b6a-4f16-427c-93c2-92307ca505eg"));
    }

    #[test]
    fn user_agent_forms() {
        let mut config = MusicBrainzConfig {
            app_name: "app".into(),
            app_version: "1.2".into(),
            contact: Some("ops@example.org".into()),
            ..MusicBrainzConfig::default()
        };
        assert_eq!(config.user_agent(), "app/1.2 (ops@example.org)");
        config.contact = None;
        config.app_name = String::new();
        assert_eq!(config.user_agent(), "recozik/1.2");
    }
}
