//! Server settings, loaded once at start-up with figment: built-in defaults, then an optional
//! TOML file, then a `.env` file, then `RECOZIK_WEB_*` environment variables (later sources win).
//!
//! Every field's name is its variable's name without the `RECOZIK_WEB_` prefix, in lower case;
//! `docs/deploy-backend.md` documents each of them (a test keeps the two in agreement).

mod convert;
mod fields;
mod load;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use fields::{blank_is_none, string_list};
pub use load::{SettingsError, Sources};

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

    // Library batches
    /// Files one batch may hold.
    pub max_batch_files: usize,
    /// AcoustID requests per second for the whole process (AcoustID allows 3).
    pub acoustid_requests_per_second: f64,
    /// Fingerprints per AcoustID request (1 to 20).
    pub acoustid_batch_size: usize,
    /// Files a batch fingerprints at once (0: one per CPU).
    pub batch_fingerprint_workers: usize,
    /// Files one `POST /identify/batch/upload` may carry.
    pub max_batch_upload_files: usize,
    /// Total MiB of one `POST /identify/batch/upload` (each file is also capped by
    /// `max_upload_mb`).
    pub max_batch_upload_mb: u64,

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

/// The most files a batch may be allowed to hold.
pub const MAX_BATCH_FILES: usize = 1_000_000;

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
            max_batch_files: 100_000,
            acoustid_requests_per_second: 3.0,
            acoustid_batch_size: recozik_core::acoustid::MAX_BATCH,
            batch_fingerprint_workers: 0,
            max_batch_upload_files: 100,
            max_batch_upload_mb: 512,
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

impl Settings {
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

#[cfg(test)]
mod tests;
