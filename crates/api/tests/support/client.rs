//! HTTP (reqwest) and WebSocket clients of a server on a socket.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::fixture_bytes;

/// The close code of a denied WebSocket.
pub const POLICY: u16 = 1008;
/// The close code after the terminal events.
pub const NORMAL: u16 = 1000;

pub fn close_code_value(code: CloseCode) -> u16 {
    u16::from(code)
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

/// Sends `request` with the API token `token`; returns status and JSON body (`null` when the
/// body is not JSON).
pub async fn answer(request: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let response = request.header("X-API-Token", token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST /identify/upload` with a token; returns status and JSON body.
pub async fn upload(base: &str, token: &str, form: reqwest::multipart::Form) -> (u16, Value) {
    answer(
        client()
            .post(format!("{base}/identify/upload"))
            .multipart(form),
        token,
    )
    .await
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

/// `GET url` with a token; returns status and JSON body.
pub async fn get_json(url: &str, token: &str) -> (u16, Value) {
    answer(client().get(url), token).await
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
