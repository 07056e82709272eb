//! Plumbing shared by the AcoustID, AudD and MusicBrainz clients: secrets that never print,
//! process-wide request throttles, retry/backoff with `Retry-After`, and HTTP client building.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};

/// A configuration value that is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// A credential (API key, token). `Debug` and `Display` never show it; only [`Secret::expose`]
/// does, at the single place where it is put on the wire.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().trim().to_owned())
    }

    /// The raw value, to send to the service that owns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(<empty>)")
        } else {
            f.write_str("Secret(***redacted***)")
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***redacted***")
    }
}

/// Requests are spaced by `1 / rate` plus this share, so that network jitter between our send
/// and the server's clock can never put `rate + 1` requests into one second at the server.
const THROTTLE_SAFETY_MARGIN: f64 = 0.05;

/// A request throttle shared by every clone (and so by every caller and thread holding one):
/// at most `requests_per_second` requests start in any one-second window, no bursts.
#[derive(Clone)]
pub(crate) struct Throttle {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// Waiters queue here first: tokio's mutex is first come, first served, while the
    /// limiter alone would let a caller that asks again at once take every slot (one big batch
    /// would starve every other identification).
    queue: Arc<tokio::sync::Mutex<()>>,
    per_second: f64,
}

impl Throttle {
    /// `requests_per_second` of 0 disables throttling.
    pub(crate) fn new(setting: &str, requests_per_second: f64) -> Result<Self, ConfigError> {
        if !requests_per_second.is_finite() || requests_per_second < 0.0 {
            return Err(ConfigError::new(
                setting,
                "must be a finite number of requests per second, 0 or more",
            ));
        }
        if requests_per_second == 0.0 {
            return Ok(Self {
                limiter: None,
                queue: Arc::default(),
                per_second: 0.0,
            });
        }
        let period =
            Duration::try_from_secs_f64((1.0 + THROTTLE_SAFETY_MARGIN) / requests_per_second)
                .map_err(|_| ConfigError::new(setting, "out of range"))?;
        let quota = Quota::with_period(period)
            .ok_or_else(|| ConfigError::new(setting, "too high"))?
            .allow_burst(NonZeroU32::MIN);
        Ok(Self {
            limiter: Some(Arc::new(RateLimiter::direct(quota))),
            queue: Arc::default(),
            per_second: requests_per_second,
        })
    }

    /// Waits until this caller may start a request.
    pub(crate) async fn wait(&self) {
        if let Some(limiter) = &self.limiter {
            let _turn = self.queue.lock().await;
            limiter.until_ready().await;
        }
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("requests_per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

/// How a client retries a failed request (network error, timeout, HTTP 429/5xx, or a
/// service-level "slow down" error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrySettings {
    /// Retries after the first attempt (so `max_retries + 1` attempts at most).
    pub max_retries: u32,
    /// Backoff before the first retry; it doubles for each further retry.
    pub initial_backoff_seconds: f64,
    /// Upper bound of the exponential backoff.
    pub max_backoff_seconds: f64,
    /// A `Retry-After` longer than this is not waited for: the request fails instead.
    pub max_retry_after_seconds: f64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff_seconds: 2.0,
            max_backoff_seconds: 5.0,
            max_retry_after_seconds: 60.0,
        }
    }
}

/// [`RetrySettings`], validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl RetryPolicy {
    pub(crate) fn new(prefix: &str, settings: &RetrySettings) -> Result<Self, ConfigError> {
        Ok(Self {
            max_retries: settings.max_retries,
            initial_backoff: seconds(
                &format!("{prefix}.initial_backoff_seconds"),
                settings.initial_backoff_seconds,
                true,
            )?,
            max_backoff: seconds(
                &format!("{prefix}.max_backoff_seconds"),
                settings.max_backoff_seconds,
                true,
            )?,
            max_retry_after: seconds(
                &format!("{prefix}.max_retry_after_seconds"),
                settings.max_retry_after_seconds,
                true,
            )?,
        })
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent: the one retry
    /// loop of every remote client. `retryable` tells whether an error is worth another attempt
    /// (`None`: it is not) and how long the server asked to wait (`Some(Some(wait))`).
    pub(crate) async fn run<T, E, F, Fut>(
        &self,
        service: &'static str,
        mut attempt: F,
        retryable: impl Fn(&E) -> Option<Option<Duration>>,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut retry = 0;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(delay) = retryable(&error).and_then(|asked| self.delay(retry, asked)) else {
                return Err(error);
            };
            tracing::debug!(%error, ?delay, service, "retrying");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    /// The delay before retry number `retry` (0-based), or `None` when no retry should happen:
    /// retries are exhausted, or the server asked for a longer wait than we accept.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let factor = 2u32.saturating_pow(retry.min(30));
        Some(
            self.initial_backoff
                .saturating_mul(factor)
                .min(self.max_backoff),
        )
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date (a date in the past means "now").
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Validates a number of seconds from the configuration.
pub(crate) fn seconds(setting: &str, value: f64, zero_ok: bool) -> Result<Duration, ConfigError> {
    if !value.is_finite() || value < 0.0 || (!zero_ok && value == 0.0) {
        let expected = if zero_ok { "0 or more" } else { "more than 0" };
        return Err(ConfigError::new(
            setting,
            format!("must be a finite number of seconds, {expected}"),
        ));
    }
    Duration::try_from_secs_f64(value).map_err(|_| ConfigError::new(setting, "out of range"))
}

/// Parses and checks an endpoint URL (http or https).
pub(crate) fn endpoint(setting: &str, value: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value.trim())
        .map_err(|error| ConfigError::new(setting, format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(setting, "must be an http or https URL"));
    }
    Ok(url)
}

/// Builds a client with our timeouts and User-Agent.
pub(crate) fn client(
    setting: &str,
    user_agent: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .build()
        .map_err(|error| ConfigError::new(setting, format!("cannot build HTTP client: {error}")))
}

/// The default User-Agent of our clients.
pub(crate) fn default_user_agent() -> String {
    format!("recozik/{}", env!("CARGO_PKG_VERSION"))
}

/// A transport failure, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    Timeout,
    Failed(String),
}

impl Transport {
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Failed(error_chain(error))
        }
    }
}

/// An error and its sources joined by `: `.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]
mod tests {
    use super::*;

    /// Two callers that each ask again as soon as they are served take turns, instead of one
    /// taking every slot (a big batch must not starve single identifications).
    #[tokio::test]
    async fn throttled_callers_take_turns() {
        let throttle = Throttle::new("test", 40.0).unwrap_or_else(|_| unreachable!());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let caller = |id: u8| {
            let (throttle, order) = (throttle.clone(), Arc::clone(&order));
            tokio::spawn(async move {
                for _ in 0..6 {
                    throttle.wait().await;
                    if let Ok(mut order) = order.lock() {
                        order.push(id);
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        let (first, second) = (caller(1), caller(2));
        let _ = tokio::join!(first, second);
        let order = order.lock().map(|o| o.clone()).unwrap_or_default();
        assert_eq!(order.len(), 12);
        let longest_run = order
            .chunk_by(|a, b| a == b)
            .map(<[u8]>::len)
            .max()
            .unwrap_or_default();
        assert!(longest_run <= 2, "{order:?}");
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("  abc123  ");
        assert_eq!(secret.expose(), "abc123");
        assert!(!format!("{secret:?}").contains("abc123"));
        assert!(!format!("{secret}").contains("abc123"));
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().expect("header value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let past = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        headers.insert(RETRY_AFTER, past.parse().expect("header value"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, future.parse().expect("header value"));
        let wait = retry_after(&headers).unwrap_or_default();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        headers.insert(RETRY_AFTER, "soon".parse().expect("header value"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RetryPolicy::new("t", &RetrySettings::default()).expect("valid settings");
        assert_eq!(policy.delay(0, None), Some(Duration::from_secs(2)));
        assert_eq!(policy.delay(1, None), Some(Duration::from_secs(4)));
        assert_eq!(policy.delay(2, None), None);
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(policy.delay(0, Some(Duration::from_mins(10))), None);
    }
}
