//! What every job runs with: the runtime's settings, the databases and queue, the auth
//! service, the identification service clients and the registry of job kinds.

use std::sync::Arc;

use recozik_auth::Auth;
use recozik_core::Services;
use recozik_storage::Storage;

use crate::config::JobsConfig;
use crate::identify::Identifier;
use crate::kind::Registry;
use crate::queue::AsyncQueue;

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Debug, Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: JobsConfig,
    storage: Storage,
    auth: Auth,
    services: Services,
    queue: AsyncQueue,
    registry: Registry,
}

impl JobContext {
    pub fn new(
        config: JobsConfig,
        storage: Storage,
        auth: Auth,
        services: Services,
        registry: Registry,
    ) -> Self {
        let queue = AsyncQueue::new(storage.queue.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                storage,
                auth,
                services,
                queue,
                registry,
            }),
        }
    }

    pub fn config(&self) -> &JobsConfig {
        &self.inner.config
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The job queue, async.
    pub fn queue(&self) -> &AsyncQueue {
        &self.inner.queue
    }

    /// The job kinds this runtime knows.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Runs identifications with this context's auth service, cache and clients.
    pub fn identifier(&self) -> Identifier<'_> {
        Identifier {
            auth: &self.inner.auth,
            cache_db: &self.inner.storage.jobs,
            services: &self.inner.services,
        }
    }
}
