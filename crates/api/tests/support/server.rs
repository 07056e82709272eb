//! The application behind a real socket on 127.0.0.1: in process with the job workers
//! ([`TestServer`]), or as the `recozik-web` binary ([`BinaryServer`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::HttpServer;
use recozik_api::jobs::WorkerPool;
use recozik_api::{AppState, Settings};

use super::fakes::Fakes;
use super::{ADMIN_PASSWORD, ADMIN_TOKEN, client};

/// Settings of a [`TestServer`] under `media_root`, calling `fakes`: two workers, 2 MiB
/// uploads, no rate limit, no cache, a 5 s job lease and a 2 s shutdown grace.
pub fn server_settings(media_root: &Path, fakes: &Fakes) -> Settings {
    Settings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        workers: 2,
        admin_token: ADMIN_TOKEN.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        acoustid_api_key: "api-key".to_owned(),
        acoustid_endpoint: fakes.acoustid_endpoint(),
        musicbrainz_endpoint: fakes.musicbrainz.uri(),
        musicbrainz_contact: Some("tests@example.org".to_owned()),
        cache_enabled: false,
        base_media_root: media_root.to_owned(),
        max_upload_mb: 2,
        rate_limit_enabled: false,
        job_lease_seconds: 5,
        shutdown_grace_seconds: 2,
        ..Settings::default()
    }
}

/// [`recozik_api::app`] served in this process (its own actix system on a thread) on a random
/// port, with the job workers.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(settings: Settings) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let state = AppState::build(settings).expect("state");
            actix_web::rt::System::new().block_on(async move {
                let workers = WorkerPool::start(state.clone());
                let app_state = state.clone();
                let server = HttpServer::new(move || recozik_api::app(app_state.clone()))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", 0))
                    .expect("bind");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, state.clone(), server.handle()))
                    .expect("send");
                let _ = server.await;
                workers.shutdown(Duration::from_secs(2)).await;
            });
        });
        let (addr, state, handle) = rx
            .recv_timeout(Duration::from_mins(1))
            .expect("server start");
        Self {
            addr,
            state,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub fn upload_dir(&self) -> PathBuf {
        self.state.settings.upload_dir()
    }

    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `recozik-web` process.
pub struct BinaryServer {
    pub port: u16,
    child: Child,
}

impl BinaryServer {
    /// Starts the binary with `RECOZIK_WEB_*` variables (`vars` without the prefix) in
    /// `workdir`, and waits until `/health` answers.
    pub async fn start(workdir: &Path, port: u16, vars: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_recozik-web"));
        command
            .current_dir(workdir)
            .env("RECOZIK_WEB_HOST", "127.0.0.1")
            .env("RECOZIK_WEB_PORT", port.to_string())
            .env("RECOZIK_WEB_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(workdir.join(format!("server-{port}.log")))
                    .unwrap(),
            ));
        for (name, value) in vars {
            command.env(format!("RECOZIK_WEB_{}", name.to_ascii_uppercase()), value);
        }
        let child = command.spawn().expect("start recozik-web");
        let server = Self { port, child };
        let start = Instant::now();
        loop {
            if let Ok(response) = client().get(server.url("/health")).send().await
                && response.status().is_success()
            {
                return server;
            }
            assert!(
                start.elapsed() < Duration::from_mins(1),
                "recozik-web did not start; see {}",
                workdir.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill_hard(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
