//! The AudD HTTP client: one request per endpoint, with retries, redacted errors and upload
//! size limits.

use std::path::Path;

use serde_json::Value;

use super::parse::parse_response;
use super::snippet::render_snippet;
use super::{
    AudDConfig, AudDEndpoint, AudDError, ENTERPRISE_UPLOAD_LIMIT, EnterpriseParams, RETURN_FIELDS,
    SNIPPET_SECONDS, STANDARD_UPLOAD_LIMIT, Snippet, redact,
};
use crate::audio::{AudioError, DecodeLimits};
use crate::http::{self, ConfigError, RetryPolicy, Secret, Transport};
use crate::matches::Match;

/// The AudD client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AudDClient {
    standard: reqwest::Client,
    enterprise: reqwest::Client,
    standard_endpoint: url::Url,
    enterprise_endpoint: url::Url,
    retry: RetryPolicy,
    enterprise_retry: RetryPolicy,
}

impl AudDClient {
    pub fn new(config: &AudDConfig) -> Result<Self, ConfigError> {
        let connect = http::seconds(
            "audd.connect_timeout_seconds",
            config.connect_timeout_seconds,
            false,
        )?;
        let user_agent = http::default_user_agent();
        Ok(Self {
            standard: http::client(
                "audd",
                &user_agent,
                connect,
                http::seconds(
                    "audd.standard_timeout_seconds",
                    config.standard_timeout_seconds,
                    false,
                )?,
            )?,
            enterprise: http::client(
                "audd",
                &user_agent,
                connect,
                http::seconds(
                    "audd.enterprise_timeout_seconds",
                    config.enterprise_timeout_seconds,
                    false,
                )?,
            )?,
            standard_endpoint: http::endpoint("audd.standard_endpoint", &config.standard_endpoint)?,
            enterprise_endpoint: http::endpoint(
                "audd.enterprise_endpoint",
                &config.enterprise_endpoint,
            )?,
            retry: RetryPolicy::new("audd.retry", &config.retry)?,
            enterprise_retry: RetryPolicy::new("audd.enterprise_retry", &config.enterprise_retry)?,
        })
    }

    /// Renders the standard snippet on a blocking thread.
    pub async fn prepare_snippet(
        &self,
        path: &Path,
        offset_seconds: f64,
        limits: DecodeLimits,
    ) -> Result<Snippet, AudDError> {
        if !path.is_file() {
            return Err(AudDError::Audio(AudioError::NotFound {
                path: path.to_owned(),
            }));
        }
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || {
            render_snippet(&owned, offset_seconds, SNIPPET_SECONDS, limits)
        })
        .await
        .map_err(|error| AudDError::Io {
            path: path.to_owned(),
            detail: format!("snippet rendering stopped: {error}"),
        })?
    }

    /// Standard recognition of a rendered snippet. `original_name` is the audio file's name;
    /// the upload is named after it with a `.wav` extension (the content is WAV).
    pub async fn recognize_snippet(
        &self,
        token: &Secret,
        snippet: &Snippet,
        original_name: &str,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let size = snippet.wav.len() as u64;
        if size > STANDARD_UPLOAD_LIMIT {
            return Err(AudDError::UploadTooLarge {
                endpoint: AudDEndpoint::Standard,
                limit: STANDARD_UPLOAD_LIMIT,
                size,
            });
        }
        let file_name = wav_file_name(original_name);
        let attempt = || async {
            let part = reqwest::multipart::Part::bytes(snippet.wav.clone())
                .file_name(file_name.clone())
                .mime_str("audio/wav")
                .map_err(|error| AudDError::InvalidResponse {
                    detail: error.to_string(),
                })?;
            let form = reqwest::multipart::Form::new()
                .text("api_token", token.expose().to_owned())
                .text("return", RETURN_FIELDS)
                .part("file", part);
            let request = self
                .standard
                .post(self.standard_endpoint.clone())
                .multipart(form);
            send(request, token, AudDEndpoint::Standard).await
        };
        self.retry
            .run("AudD standard", attempt, |error: &AudDError| {
                error.is_transient().then_some(None)
            })
            .await
    }

    /// Renders the snippet and recognises it.
    pub async fn recognize_standard(
        &self,
        token: &Secret,
        path: &Path,
        offset_seconds: f64,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let snippet = self
            .prepare_snippet(path, offset_seconds, DecodeLimits::default())
            .await?;
        self.recognize_snippet(token, &snippet, &display_name(path))
            .await
    }

    /// Enterprise recognition: uploads the whole file (streamed from disk) and flattens the
    /// chunk list into matches carrying their chunk's offset.
    pub async fn recognize_enterprise(
        &self,
        token: &Secret,
        path: &Path,
        params: &EnterpriseParams,
    ) -> Result<Vec<Match>, AudDError> {
        if token.is_empty() {
            return Err(AudDError::MissingToken);
        }
        let io_error = |error: std::io::Error| AudDError::Io {
            path: path.to_owned(),
            detail: error.to_string(),
        };
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        if size > ENTERPRISE_UPLOAD_LIMIT {
            return Err(AudDError::UploadTooLarge {
                endpoint: AudDEndpoint::Enterprise,
                limit: ENTERPRISE_UPLOAD_LIMIT,
                size,
            });
        }
        let file_name = display_name(path);
        let attempt = || async {
            // A fresh stream of the file for every attempt.
            let file = tokio::fs::File::open(path).await.map_err(io_error)?;
            let part = reqwest::multipart::Part::stream_with_length(file, size)
                .file_name(file_name.clone())
                .mime_str("application/octet-stream")
                .map_err(|error| AudDError::InvalidResponse {
                    detail: error.to_string(),
                })?;
            let mut form = reqwest::multipart::Form::new()
                .text("api_token", token.expose().to_owned())
                .text("return", RETURN_FIELDS);
            for (name, value) in params.form_fields() {
                form = form.text(name, value);
            }
            form = form.part("file", part);
            let request = self
                .enterprise
                .post(self.enterprise_endpoint.clone())
                .multipart(form);
            send(request, token, AudDEndpoint::Enterprise).await
        };
        self.enterprise_retry
            .run("AudD enterprise", attempt, |error: &AudDError| {
                error.is_transient().then_some(None)
            })
            .await
    }
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "audio".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// `song.mp3` → `song.wav`.
pub(super) fn wav_file_name(original: &str) -> String {
    let stem = Path::new(original)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "snippet".to_owned());
    format!("{stem}.wav")
}

async fn send(
    request: reqwest::RequestBuilder,
    token: &Secret,
    endpoint: AudDEndpoint,
) -> Result<Vec<Match>, AudDError> {
    let transport = |error: reqwest::Error| match Transport::from_reqwest(&error) {
        Transport::Timeout => AudDError::Timeout,
        Transport::Failed(detail) => AudDError::Network {
            detail: redact(&detail, token),
        },
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(transport)?;
    if status != 200 {
        return Err(AudDError::Http { status });
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|_| AudDError::InvalidResponse {
        detail: "the body is not valid JSON".to_owned(),
    })?;
    parse_response(&payload, endpoint).map_err(|error| match error {
        AudDError::Service { code, message } => AudDError::Service {
            code,
            message: redact(&message, token),
        },
        other => other,
    })
}
