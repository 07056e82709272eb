//! Loading: the sources in order (defaults, TOML file, `.env`, variables), then validation
//! with errors that name the variable at fault.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::{CONFIG_FILE_VAR, ENV_PREFIX, MAX_BATCH_FILES, MAX_DECODE_TIMEOUT_SECONDS, Settings};

/// Why settings could not be loaded. The message names the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid setting {variable}: {message}")]
    Invalid { variable: String, message: String },
    #[error("cannot read the settings file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
}

fn invalid(field: &str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        variable: format!("{ENV_PREFIX}{}", field.to_ascii_uppercase()),
        message: message.into(),
    }
}

/// Where settings come from, for tests and embedding: the real process uses [`Sources::process`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub toml_file: Option<PathBuf>,
    pub dotenv_file: Option<PathBuf>,
    /// Variables as `(name, value)` pairs; only those with the prefix are used.
    pub variables: Vec<(String, String)>,
}

impl Sources {
    /// The process environment, `.env` in the working directory, and the TOML file named by
    /// `RECOZIK_WEB_CONFIG` if any.
    pub fn process() -> Self {
        let variables: Vec<(String, String)> = std::env::vars().collect();
        let toml_file = variables
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(CONFIG_FILE_VAR))
            .map(|(_, value)| PathBuf::from(value));
        Self {
            toml_file,
            dotenv_file: Some(PathBuf::from(".env")),
            variables,
        }
    }
}

/// Variables with our prefix that belong to other programs (the Next.js dashboard reads
/// `RECOZIK_WEB_API_BASE`): ignored rather than refused, so both can share one environment.
const FOREIGN_VARIABLES: &[&str] = &["api_base"];

/// Keeps the `RECOZIK_WEB_*` pairs, keyed by lower-case field name (the config-file variable
/// itself excluded).
fn prefixed(pairs: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| {
            let upper = name.to_ascii_uppercase();
            let field = upper.strip_prefix(ENV_PREFIX)?;
            let field = field.to_ascii_lowercase();
            (upper != CONFIG_FILE_VAR && !FOREIGN_VARIABLES.contains(&field.as_str()))
                .then_some((field, value))
        })
        .collect()
}

impl Settings {
    /// Loads and validates settings from `sources`.
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = &sources.toml_file {
            if !path.is_file() {
                return Err(SettingsError::File {
                    path: path.clone(),
                    message: "no such file".to_owned(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        if let Some(path) = sources.dotenv_file.as_deref().filter(|p| p.is_file()) {
            let pairs = dotenvy::from_path_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|error| SettingsError::File {
                    path: path.to_owned(),
                    message: error.to_string(),
                })?;
            figment = figment.merge(Serialized::defaults(prefixed(pairs)));
        }
        figment = figment.merge(Serialized::defaults(prefixed(
            sources.variables.iter().cloned(),
        )));

        // Variables arrive as text and stay text in figment (its `Env` provider would turn a
        // numeric-looking token into a number); the lossy extraction reads numbers and
        // booleans out of text only where a setting is a number or a boolean.
        let settings: Self = figment.extract_lossy().map_err(|error| {
            if let figment::error::Kind::UnknownField(name, _) = &error.kind {
                return invalid(name, "unknown setting (see docs/configuration.md)");
            }
            let field = error.path.last().cloned().unwrap_or_default();
            if field.is_empty() {
                invalid("<settings>", error.to_string())
            } else {
                invalid(&field, error.kind.to_string())
            }
        })?;
        settings.validated()
    }

    fn validated(mut self) -> Result<Self, SettingsError> {
        if self.host.trim().is_empty() {
            return Err(invalid("host", "must not be empty"));
        }
        if self.upload_subdir.trim().is_empty() {
            "uploads".clone_into(&mut self.upload_subdir);
        }
        let subdir = Path::new(&self.upload_subdir);
        if subdir.is_absolute()
            || subdir
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(invalid(
                "upload_subdir",
                "must be a relative folder without `..` (it lives under the media root)",
            ));
        }
        self.upload_subdir = self.upload_subdir.replace('\\', "/");
        for extension in &mut self.allowed_upload_extensions {
            let trimmed = extension.trim().to_ascii_lowercase();
            *extension = if trimmed.starts_with('.') {
                trimmed
            } else {
                format!(".{trimmed}")
            };
        }
        self.allowed_upload_extensions.retain(|e| e.len() > 1);
        self.security_hsts_max_age = self.security_hsts_max_age.max(0);
        for origin in &mut self.cors_origins {
            *origin = origin.trim_end_matches('/').to_owned();
            if !is_exact_origin(origin) {
                return Err(invalid(
                    "cors_origins",
                    format!(
                        "`{origin}` is not an exact origin like https://app.example.com (wildcards are refused because credentials are allowed)"
                    ),
                ));
            }
        }
        if self.job_lease_seconds < 5 {
            return Err(invalid("job_lease_seconds", "must be at least 5"));
        }
        if self.database_checkout_timeout_seconds == 0 {
            return Err(invalid(
                "database_checkout_timeout_seconds",
                "must be at least 1",
            ));
        }
        if self.job_max_attempts == 0 {
            return Err(invalid("job_max_attempts", "must be at least 1"));
        }
        if self.cache_ttl_hours == 0 && self.cache_enabled {
            return Err(invalid(
                "cache_ttl_hours",
                "must be at least 1 when the cache is enabled",
            ));
        }
        if self.cache_ttl_hours > crate::pipeline::MAX_CACHE_TTL_HOURS {
            return Err(invalid(
                "cache_ttl_hours",
                format!(
                    "must be at most {} (ten years)",
                    crate::pipeline::MAX_CACHE_TTL_HOURS
                ),
            ));
        }
        if !(1..=MAX_DECODE_TIMEOUT_SECONDS).contains(&self.decode_timeout_seconds) {
            return Err(invalid(
                "decode_timeout_seconds",
                format!("must be between 1 and {MAX_DECODE_TIMEOUT_SECONDS} (one day)"),
            ));
        }
        if !(self.acoustid_requests_per_second > 0.0 && self.acoustid_requests_per_second <= 100.0)
        {
            return Err(invalid(
                "acoustid_requests_per_second",
                "must be more than 0 and at most 100 (AcoustID allows 3)",
            ));
        }
        let most = recozik_core::acoustid::MAX_BATCH;
        if !(1..=most).contains(&self.acoustid_batch_size) {
            return Err(invalid(
                "acoustid_batch_size",
                format!("must be between 1 and {most} (AcoustID's limit)"),
            ));
        }
        if !(1..=MAX_BATCH_FILES).contains(&self.max_batch_files) {
            return Err(invalid(
                "max_batch_files",
                format!("must be between 1 and {MAX_BATCH_FILES}"),
            ));
        }
        self.base_media_root = absolute(&expand_home(&self.base_media_root));
        Ok(self)
    }
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn is_exact_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '*', '?', '#', ' ', '@'])
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
