//! Server settings, loaded once at start-up with figment: built-in defaults, then an optional
//! TOML file, then a `.env` file, then `RECOZIK_WEB_*` environment variables (later sources win).
//!
//! Every field's name is its variable's name without the `RECOZIK_WEB_` prefix, in lower case;
//! `docs/deploy-backend.md` documents each of them (a test keeps the two in agreement).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

/// The prefix of every environment variable.
pub const ENV_PREFIX: &str = "RECOZIK_WEB_";
/// The variable naming an optional TOML settings file.
pub const CONFIG_FILE_VAR: &str = "RECOZIK_WEB_CONFIG";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// All settings of the server. See `docs/deploy-backend.md` for the meaning of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // a flat list of switches, as operators see them
pub struct Settings {
    // Server process
    pub host: String,
    pub port: u16,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Job workers; 0 means one per CPU.
    pub workers: usize,
    pub shutdown_grace_seconds: u64,

    // Seeded accounts and secrets
    pub production_mode: bool,
    pub admin_username: String,
    pub admin_password: String,
    pub admin_token: String,
    #[serde(deserialize_with = "blank_is_none")]
    pub readonly_token: Option<String>,
    #[serde(deserialize_with = "blank_is_none")]
    pub readonly_quota_acoustid: Option<u32>,
    #[serde(deserialize_with = "blank_is_none")]
    pub readonly_quota_musicbrainz: Option<u32>,
    #[serde(deserialize_with = "blank_is_none")]
    pub readonly_quota_audd_standard: Option<u32>,
    #[serde(deserialize_with = "blank_is_none")]
    pub readonly_quota_audd_enterprise: Option<u32>,

    // Identification services
    pub acoustid_api_key: String,
    pub acoustid_endpoint: String,
    #[serde(deserialize_with = "blank_is_none")]
    pub audd_token: Option<String>,
    pub audd_endpoint_standard: String,
    pub audd_endpoint_enterprise: String,
    pub musicbrainz_enabled: bool,
    pub musicbrainz_endpoint: String,
    pub musicbrainz_app_name: String,
    pub musicbrainz_app_version: String,
    #[serde(deserialize_with = "blank_is_none")]
    pub musicbrainz_contact: Option<String>,
    pub cache_enabled: bool,
    pub cache_ttl_hours: u32,
    /// Seconds one whole-file decode may take; a 120 s fingerprint gets a fifth of it.
    pub decode_timeout_seconds: u32,

    // Files and databases
    pub base_media_root: PathBuf,
    pub upload_subdir: String,
    pub max_upload_mb: i64,
    #[serde(deserialize_with = "string_list")]
    pub allowed_upload_extensions: Vec<String>,
    pub jobs_db_filename: String,
    pub auth_db_filename: String,
    #[serde(deserialize_with = "blank_is_none")]
    pub jobs_database_url: Option<String>,
    #[serde(deserialize_with = "blank_is_none")]
    pub auth_database_url: Option<String>,
    /// Seconds a request or worker waits for a free database connection (then 503).
    pub database_checkout_timeout_seconds: u64,

    // Jobs
    pub job_lease_seconds: u64,
    pub job_max_attempts: u32,
    pub job_retention_hours: u64,
    /// Longest a job may run before it is failed (0: no limit).
    pub job_timeout_seconds: u64,

    // Per-user resource limits (0: no limit)
    pub max_queued_jobs_per_user: u32,
    pub max_pending_upload_mb_per_user: u64,
    /// Uploads are refused while less than this is free under the media root.
    pub min_free_disk_mb: u64,
    pub max_websockets_per_user: u32,

    // HTTP protections
    pub cors_enabled: bool,
    #[serde(deserialize_with = "string_list")]
    pub cors_origins: Vec<String>,
    pub rate_limit_enabled: bool,
    pub rate_limit_per_minute: u32,
    pub rate_limit_trusted_proxies: u32,
    /// Seconds a resolved API token is remembered in memory (0: every request reads the
    /// database).
    pub token_cache_seconds: u64,
    pub security_headers_enabled: bool,
    #[serde(deserialize_with = "blank_is_none")]
    pub security_csp: Option<String>,
    pub security_referrer_policy: String,
    #[serde(deserialize_with = "blank_is_none")]
    pub security_permissions_policy: Option<String>,
    pub security_hsts_max_age: i64,
    pub security_hsts_include_subdomains: bool,
    pub security_hsts_preload: bool,
}

/// The longest decode deadline a setting may give (one day).
const MAX_DECODE_TIMEOUT_SECONDS: u32 = 86_400;

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8000,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            workers: 0,
            shutdown_grace_seconds: 30,
            production_mode: false,
            admin_username: "admin".to_owned(),
            admin_password: "dev-password".to_owned(),
            admin_token: "dev-admin".to_owned(),
            readonly_token: None,
            readonly_quota_acoustid: None,
            readonly_quota_musicbrainz: None,
            readonly_quota_audd_standard: None,
            readonly_quota_audd_enterprise: None,
            acoustid_api_key: "demo-key".to_owned(),
            acoustid_endpoint: "https://api.acoustid.org/v2/lookup".to_owned(),
            audd_token: None,
            audd_endpoint_standard: "https://api.audd.io".to_owned(),
            audd_endpoint_enterprise: "https://enterprise.audd.io".to_owned(),
            musicbrainz_enabled: true,
            musicbrainz_endpoint: "https://musicbrainz.org".to_owned(),
            musicbrainz_app_name: "recozik-web".to_owned(),
            musicbrainz_app_version: "0".to_owned(),
            musicbrainz_contact: None,
            cache_enabled: true,
            cache_ttl_hours: 24,
            decode_timeout_seconds: 300,
            base_media_root: PathBuf::from("data"),
            upload_subdir: "uploads".to_owned(),
            max_upload_mb: 32,
            allowed_upload_extensions: [
                ".mp3", ".flac", ".wav", ".ogg", ".m4a", ".aac", ".opus", ".wma",
            ]
            .map(str::to_owned)
            .to_vec(),
            jobs_db_filename: "jobs.db".to_owned(),
            auth_db_filename: "auth.db".to_owned(),
            jobs_database_url: None,
            auth_database_url: None,
            database_checkout_timeout_seconds: 10,
            job_lease_seconds: 60,
            job_max_attempts: 3,
            job_retention_hours: 24 * 7,
            job_timeout_seconds: 30 * 60,
            max_queued_jobs_per_user: 20,
            max_pending_upload_mb_per_user: 256,
            min_free_disk_mb: 256,
            max_websockets_per_user: 32,
            cors_enabled: false,
            cors_origins: Vec::new(),
            rate_limit_enabled: true,
            rate_limit_per_minute: 60,
            rate_limit_trusted_proxies: 0,
            token_cache_seconds: 2,
            security_headers_enabled: true,
            security_csp: Some(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'".to_owned(),
            ),
            security_referrer_policy: "same-origin".to_owned(),
            security_permissions_policy: None,
            security_hsts_max_age: 63_072_000,
            security_hsts_include_subdomains: true,
            security_hsts_preload: false,
        }
    }
}

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
                "must be at most 87600 (ten years)",
            ));
        }
        if !(1..=MAX_DECODE_TIMEOUT_SECONDS).contains(&self.decode_timeout_seconds) {
            return Err(invalid(
                "decode_timeout_seconds",
                "must be between 1 and 86400 (one day)",
            ));
        }
        self.base_media_root = absolute(&expand_home(&self.base_media_root));
        Ok(self)
    }

    /// The lower-case names of every setting (the variables without their prefix).
    pub fn names() -> Vec<String> {
        match serde_json::to_value(Self::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The folder that holds uploads while their job runs.
    pub fn upload_dir(&self) -> PathBuf {
        self.base_media_root.join(&self.upload_subdir)
    }

    /// The jobs database URL: the explicit one, else a SQLite file under the media root.
    pub fn jobs_database(&self) -> String {
        self.jobs_database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.base_media_root.join(&self.jobs_db_filename).display()
            )
        })
    }

    /// The auth database URL (which also holds quota usage).
    pub fn auth_database(&self) -> String {
        self.auth_database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.base_media_root.join(&self.auth_db_filename).display()
            )
        })
    }

    /// The upload cap in bytes, or `None` when uploads are turned off.
    pub fn max_upload_bytes(&self) -> Option<u64> {
        u64::try_from(self.max_upload_mb)
            .ok()
            .filter(|mb| *mb > 0)
            .map(|mb| mb * 1024 * 1024)
    }

    /// The per-user cap on bytes of uploads waiting for or being processed, `None`: no cap.
    pub fn max_pending_upload_bytes(&self) -> Option<u64> {
        (self.max_pending_upload_mb_per_user > 0).then(|| {
            self.max_pending_upload_mb_per_user
                .saturating_mul(1024 * 1024)
        })
    }

    /// The longest a job may run, `None`: no limit.
    pub fn job_timeout(&self) -> Option<std::time::Duration> {
        (self.job_timeout_seconds > 0)
            .then(|| std::time::Duration::from_secs(self.job_timeout_seconds))
    }

    /// Job workers to run: the setting, else one per CPU.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
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

/// An optional setting: absent, null or blank text means "not set"; otherwise the value (text
/// from a variable, or a TOML string or number) is parsed as the setting's type.
fn blank_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct Optional<T>(std::marker::PhantomData<T>);

    impl<T: std::str::FromStr> Optional<T>
    where
        T::Err: std::fmt::Display,
    {
        fn parse<E: serde::de::Error>(text: &str) -> Result<Option<T>, E> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|error| E::custom(format!("`{text}`: {error}")))
        }
    }

    impl<'de, T: std::str::FromStr> serde::de::Visitor<'de> for Optional<T>
    where
        T::Err: std::fmt::Display,
    {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a value, or nothing")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, inner: D2) -> Result<Self::Value, D2::Error> {
            inner.deserialize_any(self)
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Self::parse(text)
        }
        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Self::parse(&number.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Self::parse(&number.to_string())
        }
    }

    deserializer.deserialize_option(Optional(std::marker::PhantomData))
}

/// Accepts a list as an array (TOML, JSON) or as one string: a JSON array, or comma-separated.
fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::List(items) => Ok(clean(items)),
        Raw::Text(text) if text.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<String>>(&text)
                .map(clean)
                .map_err(|error| {
                    serde::de::Error::custom(format!("not a JSON array of strings: {error}"))
                })
        }
        Raw::Text(text) => Ok(clean(text.split(',').map(str::to_owned).collect())),
    }
}

fn clean(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(&Sources {
            variables: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Sources::default()
        })
    }

    #[test]
    fn defaults_load_without_any_source() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.port, 8000);
        assert_eq!(settings.admin_token, "dev-admin");
        assert!(settings.base_media_root.is_absolute());
        assert!(settings.auth_database().starts_with("sqlite://"));
        assert_eq!(settings.max_upload_bytes(), Some(32 * 1024 * 1024));
    }

    #[test]
    fn variables_are_typed_by_the_setting_not_by_their_look() {
        let settings = load(&[
            ("RECOZIK_WEB_PORT", "9001"),
            ("RECOZIK_WEB_ADMIN_TOKEN", "123456789012345678901234"),
            ("recozik_web_production_mode", "on"),
            ("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID", "50"),
            ("RECOZIK_WEB_AUDD_TOKEN", ""),
            ("OTHER_VARIABLE", "ignored"),
            ("RECOZIK_WEB_API_BASE", "http://dashboard-only"),
        ])
        .unwrap();
        assert_eq!(settings.port, 9001);
        assert_eq!(settings.admin_token, "123456789012345678901234");
        assert!(settings.production_mode);
        assert_eq!(settings.readonly_quota_acoustid, Some(50));
        assert_eq!(settings.audd_token, None);
    }

    #[test]
    fn text_settings_keep_their_exact_text_and_optional_ones_read_blank_as_unset() {
        let settings = load(&[
            ("RECOZIK_WEB_ADMIN_TOKEN", "000123456789012345678901"),
            ("RECOZIK_WEB_ADMIN_PASSWORD", "true"),
            ("RECOZIK_WEB_READONLY_TOKEN", "  "),
            ("RECOZIK_WEB_READONLY_QUOTA_MUSICBRAINZ", ""),
            ("RECOZIK_WEB_WORKERS", "3"),
            ("RECOZIK_WEB_CACHE_ENABLED", "off"),
        ])
        .unwrap();
        assert_eq!(settings.admin_token, "000123456789012345678901");
        assert_eq!(settings.admin_password, "true");
        assert_eq!(settings.readonly_token, None);
        assert_eq!(settings.readonly_quota_musicbrainz, None);
        assert_eq!(settings.workers, 3);
        assert!(!settings.cache_enabled);
        let error = load(&[("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID", "many")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID"),
            "{error}"
        );

        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("recozik.toml");
        std::fs::write(&toml, "readonly_quota_acoustid = 12\naudd_token = \"\"\n").unwrap();
        let from_file = Settings::load(&Sources {
            toml_file: Some(toml),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(from_file.readonly_quota_acoustid, Some(12));
        assert_eq!(from_file.audd_token, None);
    }

    #[test]
    fn lists_accept_json_arrays_and_comma_separated_values() {
        let json = load(&[(
            "RECOZIK_WEB_CORS_ORIGINS",
            r#"["https://a.example", " https://b.example "]"#,
        )])
        .unwrap();
        assert_eq!(
            json.cors_origins,
            ["https://a.example", "https://b.example"]
        );
        let commas = load(&[("RECOZIK_WEB_ALLOWED_UPLOAD_EXTENSIONS", "MP3, flac,,.Wav")]).unwrap();
        assert_eq!(commas.allowed_upload_extensions, [".mp3", ".flac", ".wav"]);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("RECOZIK_WEB_PORT", "eighty"),
            ("RECOZIK_WEB_PORT", "70000"),
            ("RECOZIK_WEB_CACHE_ENABLED", "maybe"),
            ("RECOZIK_WEB_UPLOAD_SUBDIR", "../outside"),
            ("RECOZIK_WEB_LOG_FORMAT", "xml"),
            ("RECOZIK_WEB_CORS_ORIGINS", "[not json"),
            ("RECOZIK_WEB_NO_SUCH_SETTING", "1"),
            ("RECOZIK_WEB_CORS_ORIGINS", "*"),
            (
                "RECOZIK_WEB_CORS_ORIGINS",
                "https://ok.example,https://bad.example/path",
            ),
        ] {
            let error = load(&[(name, value)]).expect_err(name).to_string();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("recozik.toml");
        std::fs::write(&toml, "port = 7000\nlog_level = \"debug\"\nworkers = 3\ncors_origins = [\"https://x.example\"]\n").unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "RECOZIK_WEB_PORT=7100\nRECOZIK_WEB_WORKERS=4\n").unwrap();
        let settings = Settings::load(&Sources {
            toml_file: Some(toml),
            dotenv_file: Some(dotenv),
            variables: vec![("RECOZIK_WEB_PORT".to_owned(), "7200".to_owned())],
        })
        .unwrap();
        assert_eq!(settings.port, 7200, "environment wins");
        assert_eq!(settings.workers, 4, ".env beats the TOML file");
        assert_eq!(settings.log_level, "debug", "the TOML file beats defaults");
        assert_eq!(settings.cors_origins, ["https://x.example"]);
    }

    #[test]
    fn a_missing_settings_file_is_an_error() {
        let error = Settings::load(&Sources {
            toml_file: Some(PathBuf::from("/nonexistent/recozik.toml")),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(error, SettingsError::File { .. }));
    }

    #[test]
    fn uploads_can_be_turned_off() {
        assert_eq!(
            load(&[("RECOZIK_WEB_MAX_UPLOAD_MB", "0")])
                .unwrap()
                .max_upload_bytes(),
            None
        );
        assert_eq!(
            load(&[("RECOZIK_WEB_MAX_UPLOAD_MB", "-5")])
                .unwrap()
                .max_upload_bytes(),
            None
        );
    }
}
