//! AcoustID lookups: one POST per fingerprint, or per batch of up to 20 ([`batch`]), throttled
//! process-wide, retried on transient failures, parsed into [`Match`]es.
//!
//! The response shape is the real service's: with `meta=recordings releasegroups releases …`
//! releases are nested inside release groups and dates are `{year, month?, day?}` objects. A
//! recording-level `releases` array (returned when release groups are not requested) is read too.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{self, ConfigError, RetryPolicy, RetrySettings, Secret, Throttle, Transport};
use crate::json;
use crate::matches::{Match, Release, merge_matches};

pub mod batch;

pub use batch::{BatchAnswer, BatchQuery, MAX_BATCH};

/// The public AcoustID lookup endpoint.
pub const DEFAULT_ACOUSTID_ENDPOINT: &str = "https://api.acoustid.org/v2/lookup";

/// A track id AcoustID knows, used to validate keys.
const VALIDATION_TRACK_ID: &str = "9ff43b6a-4f16-427c-93c2-92307ca505e0";

/// What we ask AcoustID to return with each result.
const META: &str = "recordings releasegroups releases tracks compress";

/// AcoustID's documented error codes that we treat specially.
mod code {
    pub const INVALID_FINGERPRINT: i64 = 3;
    pub const INVALID_API_KEY: i64 = 4;
    pub const INTERNAL: i64 = 5;
    pub const INVALID_USER_API_KEY: i64 = 6;
    pub const SERVICE_UNAVAILABLE: i64 = 13;
    pub const TOO_MANY_REQUESTS: i64 = 14;
}

/// AcoustID client settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcoustIdConfig {
    pub endpoint: String,
    pub connect_timeout_seconds: f64,
    /// Whole request, from connecting to the last byte of the response.
    pub timeout_seconds: f64,
    /// Process-wide; AcoustID allows 3. 0 disables throttling (tests only).
    pub requests_per_second: f64,
    pub retry: RetrySettings,
}

impl Default for AcoustIdConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ACOUSTID_ENDPOINT.to_owned(),
            connect_timeout_seconds: 5.0,
            timeout_seconds: 15.0,
            requests_per_second: 3.0,
            retry: RetrySettings {
                max_retries: 2,
                initial_backoff_seconds: 1.0,
                max_backoff_seconds: 8.0,
                max_retry_after_seconds: 30.0,
            },
        }
    }
}

/// An AcoustID lookup failure. Service errors keep AcoustID's code and message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AcoustIdError {
    #[error("no AcoustID API key configured")]
    MissingApiKey,
    #[error("AcoustID rejected the API key (error {code}): {message}")]
    InvalidApiKey { code: i64, message: String },
    #[error("AcoustID rejected the fingerprint (error {code}): {message}")]
    InvalidFingerprint { code: i64, message: String },
    #[error("AcoustID rate limit exceeded: {message}")]
    RateLimited {
        code: Option<i64>,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("AcoustID error {code}: {message}")]
    Service { code: i64, message: String },
    #[error("AcoustID answered with HTTP status {status}")]
    Http { status: u16 },
    #[error("invalid AcoustID response: {detail}")]
    InvalidResponse { detail: String },
    #[error("AcoustID request timed out")]
    Timeout,
    #[error("AcoustID request failed: {detail}")]
    Network { detail: String },
}

impl AcoustIdError {
    /// A stable, machine-readable name for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingApiKey => "acoustid_missing_api_key",
            Self::InvalidApiKey { .. } => "acoustid_invalid_api_key",
            Self::InvalidFingerprint { .. } => "acoustid_invalid_fingerprint",
            Self::RateLimited { .. } => "acoustid_rate_limited",
            Self::Service { .. } => "acoustid_error",
            Self::Http { .. } => "acoustid_http_error",
            Self::InvalidResponse { .. } => "acoustid_invalid_response",
            Self::Timeout => "acoustid_timeout",
            Self::Network { .. } => "acoustid_unreachable",
        }
    }

    /// AcoustID's own error code, when the service sent one.
    pub fn service_code(&self) -> Option<i64> {
        match self {
            Self::InvalidApiKey { code, .. }
            | Self::InvalidFingerprint { code, .. }
            | Self::Service { code, .. } => Some(*code),
            Self::RateLimited { code, .. } => *code,
            _ => None,
        }
    }

    /// True for failures that may go away by waiting (and that are retried).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout | Self::Network { .. } => true,
            Self::Service { code, .. } => {
                matches!(*code, code::INTERNAL | code::SERVICE_UNAVAILABLE)
            }
            Self::Http { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_transport(transport: Transport) -> Self {
        match transport {
            Transport::Timeout => Self::Timeout,
            Transport::Failed(detail) => Self::Network { detail },
        }
    }
}

/// The AcoustID client. Cheap to clone; clones share the throttle, so build one per process.
#[derive(Debug, Clone)]
pub struct AcoustIdClient {
    http: reqwest::Client,
    endpoint: url::Url,
    throttle: Throttle,
    retry: RetryPolicy,
}

impl AcoustIdClient {
    pub fn new(config: &AcoustIdConfig) -> Result<Self, ConfigError> {
        let endpoint = http::endpoint("acoustid.endpoint", &config.endpoint)?;
        let http = http::client(
            "acoustid",
            &http::default_user_agent(),
            http::seconds(
                "acoustid.connect_timeout_seconds",
                config.connect_timeout_seconds,
                false,
            )?,
            http::seconds("acoustid.timeout_seconds", config.timeout_seconds, false)?,
        )?;
        Ok(Self {
            http,
            endpoint,
            throttle: Throttle::new("acoustid.requests_per_second", config.requests_per_second)?,
            retry: RetryPolicy::new("acoustid.retry", &config.retry)?,
        })
    }

    /// Looks a fingerprint up. Returns every match, merged by recording and sorted by score
    /// (highest first); an empty list when AcoustID knows the fingerprint but no recording.
    pub async fn lookup(
        &self,
        api_key: &Secret,
        fingerprint: &str,
        duration_seconds: f64,
    ) -> Result<Vec<Match>, AcoustIdError> {
        if api_key.is_empty() {
            return Err(AcoustIdError::MissingApiKey);
        }
        let duration = duration_param(duration_seconds).to_string();
        let form = [
            ("format", "json"),
            ("client", api_key.expose()),
            ("duration", duration.as_str()),
            ("fingerprint", fingerprint),
            ("meta", META),
        ];
        let payload = self.send(&form).await?;
        parse_lookup(&payload)
    }

    /// Checks that AcoustID accepts `api_key`, by looking up a known track id (no fingerprint
    /// needed). The key goes in the POST body, never in a URL.
    pub async fn validate_key(&self, api_key: &Secret) -> Result<(), AcoustIdError> {
        if api_key.is_empty() {
            return Err(AcoustIdError::MissingApiKey);
        }
        let form = [
            ("format", "json"),
            ("client", api_key.expose()),
            ("trackid", VALIDATION_TRACK_ID),
        ];
        self.send(&form).await.map(drop)
    }

    /// Throttled, retried request; the payload of an `ok` answer.
    async fn send(&self, form: &[(&str, &str)]) -> Result<Value, AcoustIdError> {
        self.send_body(&EncodedForm::new(form)).await
    }

    /// Throttled, retried request of an encoded form (one throttle slot per attempt, whatever
    /// the number of fingerprints it carries).
    async fn send_body(&self, body: &EncodedForm) -> Result<Value, AcoustIdError> {
        self.retry
            .run(
                "AcoustID",
                || async {
                    self.throttle.wait().await;
                    self.attempt(body).await
                },
                |error: &AcoustIdError| error.is_transient().then(|| error.retry_after()),
            )
            .await
    }

    /// One request. Returns the payload of an `ok` response, or the classified error.
    async fn attempt(&self, body: &EncodedForm) -> Result<Value, AcoustIdError> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.bytes.clone());
        if body.gzipped {
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let response = request
            .send()
            .await
            .map_err(|error| AcoustIdError::from_transport(Transport::from_reqwest(&error)))?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|error| AcoustIdError::from_transport(Transport::from_reqwest(&error)))?;
        classify_response(status.as_u16(), retry_after, &body)
    }
}

/// A POST body: the url-encoded form, gzipped when it is large (a batch of 20 fingerprints
/// is about 50 kB of text that compresses to a third).
#[derive(Debug, Clone)]
pub(crate) struct EncodedForm {
    bytes: Vec<u8>,
    gzipped: bool,
}

impl EncodedForm {
    /// Bodies above this size are gzipped (AcoustID accepts `Content-Encoding: gzip`).
    const GZIP_ABOVE: usize = 8 * 1024;

    pub(crate) fn new<'a>(pairs: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Self {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            serializer.append_pair(name, value);
        }
        Self::from_text(serializer.finish())
    }

    pub(crate) fn from_text(text: String) -> Self {
        if text.len() > Self::GZIP_ABOVE
            && let Some(compressed) = gzip(text.as_bytes())
        {
            return Self {
                bytes: compressed,
                gzipped: true,
            };
        }
        Self {
            bytes: text.into_bytes(),
            gzipped: false,
        }
    }
}

/// Gzip of `data`; `None` if compression failed (the body is then sent as it is).
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::fast(),
    );
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// The `duration` parameter: whole seconds, rounded half away from zero. The same rule is used
/// for cache keys, whichever way the fingerprint was computed.
pub fn duration_param(duration_seconds: f64) -> u64 {
    if duration_seconds.is_finite() && duration_seconds > 0.0 {
        duration_seconds.round() as u64
    } else {
        0
    }
}

/// Turns an HTTP answer into the payload or an error. AcoustID sends its errors as JSON with
/// HTTP 400 (or 503/429), so the body is read whatever the status.
fn classify_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, AcoustIdError> {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return Err(match status {
            429 => AcoustIdError::RateLimited {
                code: None,
                message: "HTTP 429 Too Many Requests".to_owned(),
                retry_after,
            },
            200..=299 => AcoustIdError::InvalidResponse {
                detail: "the body is not valid JSON".to_owned(),
            },
            _ => AcoustIdError::Http { status },
        });
    };
    match payload.get("status").and_then(Value::as_str) {
        Some("ok") => Ok(payload),
        Some(_) => {
            let error = payload.get("error");
            let code = json::integer(error.and_then(|e| e.get("code")));
            let message = json::text(error.and_then(|e| e.get("message")))
                .unwrap_or_else(|| "no message".to_owned());
            Err(match code {
                Some(code::INVALID_API_KEY | code::INVALID_USER_API_KEY) => {
                    AcoustIdError::InvalidApiKey {
                        code: code.unwrap_or_default(),
                        message,
                    }
                }
                Some(code::INVALID_FINGERPRINT) => AcoustIdError::InvalidFingerprint {
                    code: code::INVALID_FINGERPRINT,
                    message,
                },
                Some(code::TOO_MANY_REQUESTS) => AcoustIdError::RateLimited {
                    code,
                    message,
                    retry_after,
                },
                None if status == 429 => AcoustIdError::RateLimited {
                    code: None,
                    message,
                    retry_after,
                },
                Some(code) => AcoustIdError::Service { code, message },
                None => AcoustIdError::InvalidResponse {
                    detail: format!("error without a code (HTTP {status}): {message}"),
                },
            })
        }
        None if status == 429 => Err(AcoustIdError::RateLimited {
            code: None,
            message: "HTTP 429 Too Many Requests".to_owned(),
            retry_after,
        }),
        None if !(200..300).contains(&status) => Err(AcoustIdError::Http { status }),
        None => Err(AcoustIdError::InvalidResponse {
            detail: "no `status` field".to_owned(),
        }),
    }
}

/// Parses an `ok` lookup payload into merged, sorted matches.
pub fn parse_lookup(payload: &Value) -> Result<Vec<Match>, AcoustIdError> {
    let results = match payload.get("results") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(results)) => results,
        Some(_) => {
            return Err(AcoustIdError::InvalidResponse {
                detail: "`results` is not a list".to_owned(),
            });
        }
    };
    let mut matches = Vec::new();
    for result in results {
        let score = json::number(result.get("score")).unwrap_or(0.0);
        let track_id = json::text(result.get("id"));
        for recording in json::array(result.get("recordings")) {
            if let Some(found) = parse_recording(recording, score, track_id.as_ref()) {
                matches.push(found);
            }
        }
    }
    Ok(merge_matches(matches))
}

fn parse_recording(recording: &Value, score: f64, track_id: Option<&String>) -> Option<Match> {
    let id = json::text(recording.get("id"))?;
    let mut found = Match::new(score, id);
    found.title = json::text(recording.get("title"));
    found.artist = artist_credit(json::array(recording.get("artists")));
    found.acoustid_id = track_id.cloned();

    let groups = json::array(recording.get("releasegroups"));
    if let Some(first) = groups.first().filter(|g| g.is_object()) {
        found.release_group_id = json::text(first.get("id"));
        found.release_group_title = json::text(first.get("title"));
    }
    let mut releases = Vec::new();
    for group in groups.iter().filter(|g| g.is_object()) {
        let group_title = json::text(group.get("title"));
        for release in json::array(group.get("releases")) {
            if let Some(parsed) = parse_release(release, group_title.as_ref()) {
                releases.push(parsed);
            }
        }
    }
    // Present when only `releases` (not release groups) was requested.
    for release in json::array(recording.get("releases")) {
        if let Some(parsed) = parse_release(release, None) {
            releases.push(parsed);
        }
    }
    found.add_releases(releases.iter());
    Some(found)
}

/// Joins artist credits as `name + joinphrase`, keeping the join phrases' spaces.
fn artist_credit(artists: &[Value]) -> Option<String> {
    let mut credit = String::new();
    for artist in artists {
        let Some(Value::String(name)) = artist.get("name") else {
            continue;
        };
        credit.push_str(name);
        if let Some(Value::String(join)) = artist.get("joinphrase") {
            credit.push_str(join);
        }
    }
    let credit = credit.trim();
    (!credit.is_empty()).then(|| credit.to_owned())
}

fn parse_release(release: &Value, group_title: Option<&String>) -> Option<Release> {
    if !release.is_object() {
        return None;
    }
    let first_event = json::array(release.get("releaseevents")).first();
    Some(Release {
        // `compress` drops a release title equal to its group's.
        title: json::text(release.get("title")).or_else(|| group_title.cloned()),
        release_id: json::text(release.get("id")),
        date: json::date(release.get("date"))
            .or_else(|| json::date(first_event.and_then(|e| e.get("date")))),
        country: json::text(release.get("country"))
            .or_else(|| json::text(first_event.and_then(|e| e.get("country")))),
    })
}
