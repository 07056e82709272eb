//! The settings as the libraries take them: `recozik_auth`'s, the service clients' and the
//! storage's configuration, each built from the one [`Settings`].

use std::time::Duration;

use recozik_auth::AuthSettings;
use recozik_core::identify::ServicesConfig;
use recozik_storage::{PoolOptions, QueueOptions, StorageConfig};

use super::Settings;

impl Settings {
    /// What `recozik_auth` needs from the server self.
    pub fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            production_mode: self.production_mode,
            admin_username: self.admin_username.clone(),
            admin_password: self.admin_password.clone(),
            admin_token: self.admin_token.clone(),
            readonly_token: self.readonly_token.clone(),
            readonly_quota_acoustid: self.readonly_quota_acoustid.map(i64::from),
            readonly_quota_musicbrainz: self.readonly_quota_musicbrainz.map(i64::from),
            readonly_quota_audd_standard: self.readonly_quota_audd_standard.map(i64::from),
            readonly_quota_audd_enterprise: self.readonly_quota_audd_enterprise.map(i64::from),
            musicbrainz_enabled: self.musicbrainz_enabled,
            audd_enabled: self
                .audd_token
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty()),
            rate_limit_enabled: self.rate_limit_enabled,
            rate_limit_per_minute: self.rate_limit_per_minute,
            rate_limit_trusted_proxies: self.rate_limit_trusted_proxies as usize,
            ..AuthSettings::default()
        }
    }

    /// Endpoints and client identity of the remote services.
    pub fn services_config(&self) -> ServicesConfig {
        let mut config = ServicesConfig::default();
        config.acoustid.endpoint.clone_from(&self.acoustid_endpoint);
        config.acoustid.requests_per_second = self.acoustid_requests_per_second;
        config
            .audd
            .standard_endpoint
            .clone_from(&self.audd_endpoint_standard);
        config
            .audd
            .enterprise_endpoint
            .clone_from(&self.audd_endpoint_enterprise);
        config
            .musicbrainz
            .base_url
            .clone_from(&self.musicbrainz_endpoint);
        config
            .musicbrainz
            .app_name
            .clone_from(&self.musicbrainz_app_name);
        config
            .musicbrainz
            .app_version
            .clone_from(&self.musicbrainz_app_version);
        config
            .musicbrainz
            .contact
            .clone_from(&self.musicbrainz_contact);
        config
    }

    /// The databases and the queue.
    pub fn storage_config(&self) -> StorageConfig {
        StorageConfig {
            auth_url: self.auth_database(),
            jobs_url: self.jobs_database(),
            pool: PoolOptions {
                checkout_timeout: Duration::from_secs(self.database_checkout_timeout_seconds),
                ..PoolOptions::default()
            },
            queue: QueueOptions {
                default_max_attempts: i32::try_from(self.job_max_attempts).unwrap_or(i32::MAX),
                ..QueueOptions::default()
            },
        }
    }
}
