//! Shared harness of the jobs, WebSocket and restart tests: fake AcoustID and MusicBrainz
//! (wiremock on 127.0.0.1), a real server on a random port (in process, or the `recozik-web`
//! binary), and small HTTP and WebSocket clients.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use futures_util::{SinkExt, StreamExt};
use recozik_api::jobs::WorkerPool;
use recozik_api::{AppState, Settings};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";
pub const ADMIN_PASSWORD: &str = "DevPassword1!-long-enough";
pub const USER_PASSWORD: &str = "TestPassword1!";
pub const MBID: &str = "b1a9c0e9-d987-4042-ae91-78d6a3267d69";
pub const MB_TITLE: &str = "Chanson (MusicBrainz)";

/// A real audio file of the core test fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures")
        .join(name)
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// Fake AcoustID and MusicBrainz services.
pub struct Fakes {
    pub acoustid: MockServer,
    pub musicbrainz: MockServer,
}

/// An AcoustID answer whose best recording has no title, so MusicBrainz completes it.
pub fn acoustid_payload() -> Value {
    json!({
        "status": "ok",
        "results": [{
            "id": "track-1",
            "score": 0.93,
            "recordings": [{"id": MBID, "artists": [{"id": "a1", "name": "Artiste"}]}]
        }]
    })
}

pub fn musicbrainz_payload() -> Value {
    json!({
        "id": MBID,
        "title": MB_TITLE,
        "length": 10000,
        "artist-credit": [{"name": "Artiste", "joinphrase": "", "artist": {"id": "a1", "name": "Artiste"}}],
        "releases": [{"id": "mb-rel-1", "title": "MB Album", "date": "2001-03", "country": "GB",
                      "release-group": {"id": "mb-rg-1", "title": "MB Album", "primary-type": "Album"}}]
    })
}

impl Fakes {
    pub async fn start() -> Self {
        Self {
            acoustid: MockServer::start().await,
            musicbrainz: MockServer::start().await,
        }
    }

    /// AcoustID finds the recording (after `delay`), MusicBrainz completes it.
    pub async fn healthy(&self, delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/v2/lookup"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(acoustid_payload())
                    .set_delay(delay),
            )
            .mount(&self.acoustid)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/recording/[0-9a-f-]{36}$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(musicbrainz_payload()))
            .mount(&self.musicbrainz)
            .await;
    }

    /// AcoustID answers 503 to everything.
    pub async fn acoustid_down(&self) {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).set_body_json(
                json!({"status": "error", "error": {"code": 13, "message": "service unavailable"}}),
            ))
            .mount(&self.acoustid)
            .await;
    }

    pub fn acoustid_endpoint(&self) -> String {
        format!("{}/v2/lookup", self.acoustid.uri())
    }

    /// How many lookups AcoustID received.
    pub async fn acoustid_calls(&self) -> usize {
        self.acoustid
            .received_requests()
            .await
            .map_or(0, |r| r.len())
    }
}

/// Settings for an in-process test server under `media_root`.
pub fn settings(media_root: &Path, fakes: &Fakes) -> Settings {
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

/// A server running in this process (its own actix system on a thread) with the job workers.
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
                let server = HttpServer::new(move || {
                    let state = app_state.clone();
                    App::new().configure(move |config| recozik_api::mount(config, state.clone()))
                })
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

/// Files left in a folder.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A multipart form with one file part.
pub fn file_form(
    bytes: Vec<u8>,
    name: &str,
    content_type: Option<&str>,
) -> reqwest::multipart::Form {
    let mut part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    if let Some(kind) = content_type {
        part = part.mime_str(kind).unwrap();
    }
    reqwest::multipart::Form::new().part("file", part)
}

/// `POST /identify/upload` with a token; returns status and JSON body.
pub async fn upload(base: &str, token: &str, form: reqwest::multipart::Form) -> (u16, Value) {
    let response = client()
        .post(format!("{base}/identify/upload"))
        .header("X-API-Token", token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads the tagged MP3 fixture with `token`, expecting a queued job; returns its id.
pub async fn upload_fixture(base: &str, token: &str) -> String {
    let form = file_form(
        fixture_bytes("mp3_cbr_44k_stereo_tagged.mp3"),
        "song.mp3",
        Some("audio/mpeg"),
    );
    let (status, body) = upload(base, token, form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "queued");
    body["job_id"].as_str().unwrap().to_owned()
}

pub async fn get_json(url: &str, token: &str) -> (u16, Value) {
    let response = client()
        .get(url)
        .header("X-API-Token", token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `GET /jobs/{id}` until `done` holds for the job (or panics after `timeout`).
pub async fn wait_job(
    base: &str,
    token: &str,
    job_id: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = get_json(&format!("{base}/jobs/{job_id}"), token).await;
        if status == 200 && done(&job) {
            return job;
        }
        assert!(
            start.elapsed() < timeout,
            "job {job_id} did not get there in time: {status} {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn is_terminal(job: &Value) -> bool {
    matches!(
        job["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

/// A non-admin user with a token. Returns (user id, raw token).
pub fn user_with_token(
    state: &AppState,
    username: &str,
    features: &[&str],
    quota: &[(&str, i64)],
) -> (i64, String) {
    let user = state
        .auth
        .register(&recozik_auth::NewUserRequest {
            username: username.to_owned(),
            email: format!("{username}@example.org"),
            display_name: None,
            password: USER_PASSWORD.to_owned(),
            roles: None,
            allowed_features: Vec::new(),
            quota_limits: std::collections::BTreeMap::default(),
        })
        .unwrap();
    let token = state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            token: None,
            user_id: user.id,
            display_name: format!("{username} token"),
            roles: Vec::new(),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            quota_limits: quota
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some(*v)))
                .collect(),
            expires_at: None,
        })
        .unwrap();
    (user.id, token.token)
}

/// What a WebSocket saw: its text frames (as JSON) and its close code.
#[derive(Debug)]
pub struct WsOutcome {
    pub frames: Vec<Value>,
    pub close_code: Option<u16>,
}

/// Opens `/ws/jobs/{id}` with `headers`, reads every frame until the server closes (or
/// `timeout`), answering nothing but the protocol's own pongs.
pub async fn follow_ws(url: &str, headers: &[(&str, &str)], timeout: Duration) -> WsOutcome {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    let mut outcome = WsOutcome {
        frames: Vec::new(),
        close_code: None,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        match next {
            Ok(Some(Ok(Message::Text(text)))) => {
                outcome.frames.push(serde_json::from_str(&text).unwrap());
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                outcome.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                let _ = socket.close(None).await;
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break,
            Err(_) => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    outcome
}

pub const POLICY: u16 = 1008;
pub const NORMAL: u16 = 1000;

pub fn close_code_value(code: CloseCode) -> u16 {
    u16::from(code)
}

// ---------------------------------------------------------------------------------------------
// The real binary

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
