//! The application state shared by every request and worker: settings, databases, the auth
//! service, rate limiters and the identification service clients. Built once from settings.

use std::sync::Arc;
use std::time::Duration;

use recozik_auth::{Auth, AuthSettings, RateLimiters};
use recozik_core::Services;
use recozik_core::identify::ServicesConfig;
use recozik_storage::{PoolOptions, QueueOptions, Storage, StorageConfig};

use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the databases: {0}")]
    Storage(#[from] recozik_storage::StorageError),
    #[error("{0}")]
    Auth(#[from] recozik_auth::AuthError),
    #[error("invalid identification service settings: {0}")]
    Services(String),
    #[error("cannot prepare the media folders: {0}")]
    Io(#[from] std::io::Error),
}

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub struct Inner {
    pub settings: Settings,
    pub storage: Storage,
    pub auth: Auth,
    pub limiters: RateLimiters,
    pub services: Services,
    pub token_cache: crate::token_cache::TokenCache,
    /// Uploads being received on this instance (per-user limits).
    pub upload_limits: crate::jobs::limits::InFlightUploads,
    /// Job WebSockets open on this instance (per-user cap).
    pub open_sockets: crate::jobs::sockets::OpenSockets,
    /// What the job runtime runs with (built from the settings; see [`crate::jobs`]).
    pub jobs: recozik_jobs::JobContext,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// What `recozik_auth` needs from the server settings.
pub fn auth_settings(settings: &Settings) -> AuthSettings {
    AuthSettings {
        production_mode: settings.production_mode,
        admin_username: settings.admin_username.clone(),
        admin_password: settings.admin_password.clone(),
        admin_token: settings.admin_token.clone(),
        readonly_token: settings.readonly_token.clone(),
        readonly_quota_acoustid: settings.readonly_quota_acoustid.map(i64::from),
        readonly_quota_musicbrainz: settings.readonly_quota_musicbrainz.map(i64::from),
        readonly_quota_audd_standard: settings.readonly_quota_audd_standard.map(i64::from),
        readonly_quota_audd_enterprise: settings.readonly_quota_audd_enterprise.map(i64::from),
        musicbrainz_enabled: settings.musicbrainz_enabled,
        audd_enabled: settings
            .audd_token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty()),
        rate_limit_enabled: settings.rate_limit_enabled,
        rate_limit_per_minute: settings.rate_limit_per_minute,
        rate_limit_trusted_proxies: settings.rate_limit_trusted_proxies as usize,
        ..AuthSettings::default()
    }
}

/// Endpoints and client identity of the remote services.
pub fn services_config(settings: &Settings) -> ServicesConfig {
    let mut config = ServicesConfig::default();
    config
        .acoustid
        .endpoint
        .clone_from(&settings.acoustid_endpoint);
    config
        .audd
        .standard_endpoint
        .clone_from(&settings.audd_endpoint_standard);
    config
        .audd
        .enterprise_endpoint
        .clone_from(&settings.audd_endpoint_enterprise);
    config
        .musicbrainz
        .base_url
        .clone_from(&settings.musicbrainz_endpoint);
    config
        .musicbrainz
        .app_name
        .clone_from(&settings.musicbrainz_app_name);
    config
        .musicbrainz
        .app_version
        .clone_from(&settings.musicbrainz_app_version);
    config
        .musicbrainz
        .contact
        .clone_from(&settings.musicbrainz_contact);
    config
}

pub fn storage_config(settings: &Settings) -> StorageConfig {
    StorageConfig {
        auth_url: settings.auth_database(),
        jobs_url: settings.jobs_database(),
        pool: PoolOptions {
            checkout_timeout: Duration::from_secs(settings.database_checkout_timeout_seconds),
            ..PoolOptions::default()
        },
        queue: QueueOptions {
            default_max_attempts: i32::try_from(settings.job_max_attempts).unwrap_or(i32::MAX),
            ..QueueOptions::default()
        },
    }
}

impl AppState {
    /// Opens and migrates the databases, seeds the accounts and builds the service clients.
    /// Blocking (database work and one Argon2 run): call it before starting the runtime or on a
    /// blocking thread.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let auth_settings = auth_settings(&settings);
        recozik_auth::check_production_settings(&auth_settings)?;
        std::fs::create_dir_all(&settings.base_media_root)?;
        std::fs::create_dir_all(settings.upload_dir())?;
        let storage = Storage::open(&storage_config(&settings))?;
        let auth = Auth::new(storage.auth.clone(), auth_settings.clone())?;
        recozik_auth::seed(&storage.auth, &auth_settings)?;
        let limiters = RateLimiters::new(&auth_settings);
        let services = Services::new(&services_config(&settings))
            .map_err(|error| StartupError::Services(error.to_string()))?;
        let token_cache =
            crate::token_cache::TokenCache::new(Duration::from_secs(settings.token_cache_seconds));
        let jobs = recozik_jobs::JobContext::new(
            crate::jobs::jobs_config(&settings),
            storage.clone(),
            auth.clone(),
            services.clone(),
            recozik_jobs::kinds::registry(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                storage,
                auth,
                limiters,
                services,
                token_cache,
                upload_limits: crate::jobs::limits::InFlightUploads::default(),
                open_sockets: crate::jobs::sockets::OpenSockets::default(),
                jobs,
            }),
        })
    }
}
