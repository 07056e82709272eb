//! The application state shared by every request and worker: settings, databases, the auth
//! service, rate limiters and the identification service clients. Built once from settings.

use std::sync::Arc;
use std::time::Duration;

use recozik_auth::{Auth, RateLimiters};
use recozik_core::Services;
use recozik_storage::Storage;

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

impl AppState {
    /// Opens and migrates the databases, seeds the accounts and builds the service clients.
    /// Blocking (database work and one Argon2 run): call it before starting the runtime or on a
    /// blocking thread.
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let auth_settings = settings.auth_settings();
        recozik_auth::check_production_settings(&auth_settings)?;
        std::fs::create_dir_all(&settings.base_media_root)?;
        std::fs::create_dir_all(settings.upload_dir())?;
        let storage = Storage::open(&settings.storage_config())?;
        let auth = Auth::new(storage.auth.clone(), auth_settings.clone())?;
        recozik_auth::seed(&storage.auth, &auth_settings)?;
        let limiters = RateLimiters::new(&auth_settings);
        let services = Services::new(&settings.services_config())
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
