//! # recozik_api
//!
//! The HTTP shell of Recozik on actix-web: it extracts requests, calls `recozik_core`,
//! `recozik_storage`, `recozik_auth` and `recozik_jobs` (the job runtime, which it starts), and
//! maps their results and errors to the HTTP contract in one place ([`error`]). It owns no business rule of its own; anything worth testing
//! without HTTP belongs in a library crate.
//!
//! Embedding: build an [`AppState`] from [`Settings`], start the job workers with
//! [`jobs::WorkerPool::start`], and mount the API on any `App` or scope with [`mount`]:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use actix_web::{App, HttpServer, web};
//! use recozik_api::{AppState, Settings, jobs::WorkerPool, mount};
//!
//! let settings = Settings::default();
//! let state = web::block(move || AppState::build(settings)).await??;
//! let workers = WorkerPool::start(state.clone());
//! let app_state = state.clone();
//! HttpServer::new(move || {
//!     App::new().service(web::scope("/recozik").configure(|config| mount(config, app_state.clone())))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await?;
//! workers.shutdown(std::time::Duration::from_secs(30)).await;
//! # Ok(())
//! # }
//! ```

pub mod adapters;
pub mod codes;
pub mod error;
pub mod extract;
pub mod extractors;
pub mod jobs;
pub mod middleware;
pub mod pipeline;
pub mod routes;
pub mod settings;
pub mod state;
pub mod token_cache;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};

pub use settings::{Settings, SettingsError, Sources};
pub use state::{AppState, StartupError};

/// Mounts the whole API (routes, state, extractor error handlers) on `config`: an `App` or a
/// `web::scope("/any/prefix")` of another application.
pub fn mount(config: &mut web::ServiceConfig, state: AppState) {
    config.app_data(web::Data::new(state));
    error::configure_extractors(config);
    routes::configure(config);
}

/// The complete application `recozik-web` serves: the security headers, CORS and request
/// tracing around the [`mount`]ed API, and the JSON `404` for unknown paths. [`run`] serves it;
/// the integration tests call it too, so that they exercise the same middleware stack.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(middleware::security_headers(&state.settings))
        .wrap(middleware::cors(&state.settings))
        .wrap(tracing_actix_web::TracingLogger::default())
        .configure(|config| mount(config, state))
        .default_service(web::to(error::not_found))
}

/// Runs the complete server until SIGINT/SIGTERM: opens the databases, seeds, starts the job
/// workers, serves HTTP, then stops claiming jobs and lets running ones finish within the grace
/// period.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let state = web::block(move || AppState::build(settings)).await??;
    let workers = jobs::WorkerPool::start(state.clone());
    let housekeeping = actix_web::rt::spawn(housekeeping(state.clone()));
    let settings = state.settings.clone();
    tracing::info!(host = %settings.host, port = settings.port, workers = settings.worker_count(), "recozik-web starting");

    let app_state = state.clone();
    let server = HttpServer::new(move || app(app_state.clone()))
        .shutdown_timeout(settings.shutdown_grace_seconds)
        // Signals are handled below, so that HTTP and the job workers share one grace period.
        .disable_signals()
        .bind((settings.host.as_str(), settings.port))
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {}:{}: {error}",
                settings.host,
                settings.port
            )
        })?
        .run();
    let handle = server.handle();
    let mut serving = actix_web::rt::spawn(server);
    tokio::select! {
        () = shutdown_signal() => {}
        // The server stopped on its own (it should not): stop the workers too.
        finished = &mut serving => {
            housekeeping.abort();
            workers.shutdown(Duration::from_secs(settings.shutdown_grace_seconds)).await;
            return finished?.map_err(Into::into);
        }
    }
    tracing::info!(
        grace_seconds = settings.shutdown_grace_seconds,
        "stopping: draining requests and jobs"
    );
    housekeeping.abort();
    // Open requests and running jobs drain at the same time, within the same grace period.
    let ((), ()) = tokio::join!(
        handle.stop(true),
        workers.shutdown(Duration::from_secs(settings.shutdown_grace_seconds))
    );
    serving.await?.map_err(Into::into)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Hourly (and once at start): deletes expired sessions, quota records and cache entries.
async fn housekeeping(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_hours(1));
    loop {
        interval.tick().await;
        let state = state.clone();
        let outcome = web::block(move || -> anyhow::Result<(usize, usize, usize)> {
            let sessions = state.auth.purge_expired_sessions()?;
            let quota = state.auth.purge_expired_quota()?;
            let mut conn = state.storage.jobs.conn()?;
            let cache = recozik_storage::cache::purge_expired(&mut conn, recozik_storage::now())?;
            Ok((sessions, quota, cache))
        })
        .await;
        match outcome {
            Ok(Ok((sessions, quota, cache))) => {
                tracing::debug!(sessions, quota, cache, "housekeeping done");
            }
            Ok(Err(error)) => tracing::warn!(error = %error, "housekeeping failed"),
            Err(error) => tracing::warn!(error = %error, "housekeeping could not run"),
        }
    }
}
