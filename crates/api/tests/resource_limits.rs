//! Resource limits: per-user caps on unfinished jobs and pending upload bytes,
//! the free-space floor of the media root, the job time limit, and the job WebSocket going
//! through the rate limit, the token memo and a per-user socket cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use recozik_storage::NewJob;
use serde_json::Value;
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// AcoustID answers only after this long, so that jobs stay unfinished during a test.
const SLOW: Duration = Duration::from_mins(2);

async fn server(
    delay: Duration,
    configure: impl FnOnce(&mut recozik_api::Settings),
) -> (tempfile::TempDir, Fakes, TestServer) {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    fakes.healthy(delay).await;
    let mut settings = server_settings(media.path(), &fakes);
    configure(&mut settings);
    let server = TestServer::start(settings);
    (media, fakes, server)
}

/// Sends the head of an upload declaring `declared` bytes and only the first 4 KiB of its
/// body, then reads the answer: a limit checked before the body must answer at once.
fn upload_head(addr: SocketAddr, declared: u64) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /identify/upload HTTP/1.1\r\nHost: {addr}\r\nX-API-Token: {ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {declared}\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[0_u8; 4096]).unwrap();
    let mut answer = vec![0_u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// Streams an upload of `size` bytes with chunked encoding (no declared length), then reads
/// the answer.
fn chunked_upload(addr: SocketAddr, size: usize) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /identify/upload HTTP/1.1\r\nHost: {addr}\r\nX-API-Token: {ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let part = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n";
    let mut send = |data: &[u8]| {
        let _ = stream.write_all(format!("{:x}\r\n", data.len()).as_bytes());
        let _ = stream.write_all(data);
        let _ = stream.write_all(b"\r\n");
    };
    send(part.as_bytes());
    let chunk = vec![0_u8; 16 * 1024];
    let mut sent = 0;
    while sent < size {
        send(&chunk);
        sent += chunk.len();
    }
    let mut answer = vec![0_u8; 4096];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

fn upload_flac() -> reqwest::multipart::Form {
    file_form(
        fixture_bytes("flac_44k_stereo_tagged.flac"),
        "song.flac",
        Some("audio/flac"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_unfinished_jobs_are_refused_with_429_before_the_body() {
    let (_media, _fakes, server) = server(SLOW, |s| s.max_queued_jobs_per_user = 2).await;
    let base = server.url("");
    let first = upload_fixture(&base, ADMIN_TOKEN).await;
    upload_fixture(&base, ADMIN_TOKEN).await;

    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || upload_head(addr, 200_000))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("too_many_queued_jobs"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    let (status, body) = upload(&base, ADMIN_TOKEN, upload_flac()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_queued_jobs");
    assert_eq!(files_in(&server.upload_dir()).len(), 2, "nothing stored");

    // A finished job frees its place.
    let response = client()
        .delete(server.url(&format!("/jobs/{first}")))
        .header("X-API-Token", ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    upload_fixture(&base, ADMIN_TOKEN).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_upload_bytes_over_the_limit_are_refused_with_507() {
    let (_media, _fakes, server) = server(SLOW, |s| {
        s.max_pending_upload_mb_per_user = 1;
        s.max_upload_mb = 2;
    })
    .await;
    let base = server.url("");
    // Two files of 454,601 bytes: 909,202 of the 1,048,576 allowed.
    for _ in 0..2 {
        let (status, body) = upload(&base, ADMIN_TOKEN, upload_flac()).await;
        assert_eq!(status, 200, "{body}");
    }
    let addr = server.addr;

    // Declared too large: refused from the headers.
    let answer = tokio::task::spawn_blocking(move || upload_head(addr, 200_000))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    assert!(answer.contains("pending_uploads_too_large"), "{answer}");
    assert_eq!(files_in(&server.upload_dir()).len(), 2);

    // No declared length: stopped while streaming (139,374 bytes are left; a little more is
    // sent), and the partial file is gone.
    let answer = tokio::task::spawn_blocking(move || chunked_upload(addr, 140_000))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    assert!(answer.contains("pending_uploads_too_large"), "{answer}");
    assert_eq!(files_in(&server.upload_dir()).len(), 2, "no partial file");

    // What fits is still accepted.
    let (status, body) = upload(
        &base,
        ADMIN_TOKEN,
        file_form(
            fixture_bytes("mp3_vbr_22k_mono.mp3"),
            "small.mp3",
            Some("audio/mpeg"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_refused_with_507_when_the_disk_is_below_its_floor() {
    // A floor no disk can meet.
    let (_media, _fakes, server) = server(SLOW, |s| s.min_free_disk_mb = 1 << 40).await;
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || upload_head(addr, 200_000))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    assert!(answer.contains("insufficient_storage"), "{answer}");
    let (status, body) = upload(&server.url(""), ADMIN_TOKEN, upload_flac()).await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "insufficient_storage");
    assert!(
        files_in(&server.upload_dir()).is_empty(),
        "nothing half-written"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_its_time_limit_fails_and_frees_its_worker() {
    let (_media, fakes, server) = server(SLOW, |s| {
        s.workers = 1;
        s.job_timeout_seconds = 1;
    })
    .await;
    let base = server.url("");
    let first = upload_fixture(&base, ADMIN_TOKEN).await;
    let second = upload_fixture(&base, ADMIN_TOKEN).await;
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        &first,
        Duration::from_mins(1),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"], "Job timed out after 1 seconds");
    assert!(
        job["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "Error: Job timed out after 1 seconds"),
        "{job}"
    );
    // The only worker moved on to the next job.
    let next = wait_job(&base, ADMIN_TOKEN, &second, Duration::from_mins(1), |j| {
        j["status"] != "queued"
    })
    .await;
    assert_ne!(next["status"], "queued");
    assert!(fakes.acoustid_calls().await >= 1);
    server.stop().await;
}

/// What the hanging AcoustID double saw on one connection.
#[derive(Debug)]
enum Seen {
    Request,
    Closed(Instant),
}

/// An AcoustID that reads each request and never answers, reporting when a request came and
/// when its client hung up.
fn hanging_acoustid() -> (String, std::sync::mpsc::Receiver<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buffer = [0_u8; 8192];
                let mut announced = false;
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(Seen::Closed(Instant::now()));
                            return;
                        }
                        Ok(_) if !announced => {
                            announced = true;
                            let _ = tx.send(Seen::Request);
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (format!("http://{addr}/v2/lookup"), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_renew_its_lease_stops_the_job_when_the_lease_runs_out() {
    let (endpoint, seen) = hanging_acoustid();
    let (_media, _fakes, server) = server(SLOW, |s| {
        s.workers = 1;
        s.job_lease_seconds = 5;
        s.database_checkout_timeout_seconds = 1;
        s.job_timeout_seconds = 0;
        s.acoustid_endpoint = endpoint;
    })
    .await;
    upload_fixture(&server.url(""), ADMIN_TOKEN).await;
    // The job is waiting for AcoustID (whose client gives up after 15 s).
    let request = tokio::task::spawn_blocking(move || {
        let first = seen.recv_timeout(Duration::from_mins(1));
        (first, seen)
    })
    .await
    .unwrap();
    let (Ok(Seen::Request), seen) = request else {
        panic!("AcoustID was not called: {:?}", request.0);
    };

    // The jobs database becomes unreachable: every connection of its pool is taken.
    let outage = Instant::now();
    let jobs = server.state.storage.jobs.clone();
    let held = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        while let Ok(conn) = jobs.conn() {
            held.push(conn);
        }
        held
    })
    .await
    .unwrap();
    assert!(!held.is_empty());

    // The lease (5 s) runs out without a renewal: the worker drops the job's work, which hangs
    // up on AcoustID long before AcoustID's own 15 s timeout would have.
    let closed = tokio::task::spawn_blocking(move || {
        loop {
            match seen.recv_timeout(Duration::from_mins(1)) {
                Ok(Seen::Closed(at)) => return Some(at),
                Ok(Seen::Request) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .unwrap()
    .expect("the worker never hung up");
    let after = closed.duration_since(outage);
    assert!(
        after < Duration::from_secs(11),
        "the work went on {after:?} after the database became unreachable"
    );
    drop(held);
    server.stop().await;
}

/// Opens a job WebSocket; `Err(status)` when the handshake is answered with an HTTP status.
async fn open_ws(
    url: &str,
    token: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, String),
> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("X-API-Token", token.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// The first text frame of a socket, as JSON.
async fn first_frame(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).ok(),
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn enqueue_for(server: &TestServer, owner: Option<i64>) -> String {
    server
        .state
        .storage
        .queue
        .enqueue(&NewJob {
            owner_id: owner,
            payload: "{}".to_owned(),
            ..NewJob::default()
        })
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_handshake_is_rate_limited_like_http() {
    let (_media, _fakes, server) = server(SLOW, |s| {
        s.rate_limit_enabled = true;
        s.rate_limit_per_minute = 3;
    })
    .await;
    let job = enqueue_for(&server, None);
    let url = server.ws_url(&format!("/ws/jobs/{job}"));
    for attempt in 0..3 {
        let socket = open_ws(&url, ADMIN_TOKEN).await;
        assert!(socket.is_ok(), "handshake {attempt}: {:?}", socket.err());
    }
    match open_ws(&url, ADMIN_TOKEN).await {
        Err((status, _)) => assert_eq!(status, 429),
        Ok(_) => panic!("the fourth handshake in a minute must be refused"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_handshake_uses_the_token_memo() {
    let (_media, _fakes, server) = server(SLOW, |s| s.token_cache_seconds = 600).await;
    let state = &server.state;
    let (user_id, _) = user_with_token(state, "listener", &["identify"], &[]);
    let created = state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            user_id,
            display_name: "memo".to_owned(),
            ..recozik_auth::NewTokenRequest::default()
        })
        .unwrap();
    let job = enqueue_for(&server, Some(user_id));
    // An HTTP request puts the token in the memo...
    let (status, _) = get_json(&server.url("/whoami"), &created.token).await;
    assert_eq!(status, 200);
    // ...then the token is deleted behind the memo's back (as another instance would).
    state.auth.revoke_token(&created.info.id).unwrap();
    let (status, _) = get_json(&server.url("/whoami"), &created.token).await;
    assert_eq!(status, 200, "HTTP is answered from the memo");
    let mut socket = open_ws(&server.ws_url(&format!("/ws/jobs/{job}")), &created.token)
        .await
        .unwrap();
    let frame = first_frame(&mut socket).await;
    assert_eq!(
        frame.as_ref().map(|f| f["type"].clone()),
        Some(Value::from("snapshot")),
        "the handshake is answered from the same memo: {frame:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_per_user_are_capped() {
    let (_media, _fakes, server) = server(SLOW, |s| s.max_websockets_per_user = 2).await;
    let base = server.url("");
    let job = upload_fixture(&base, ADMIN_TOKEN).await;
    let url = server.ws_url(&format!("/ws/jobs/{job}"));
    let mut first = open_ws(&url, ADMIN_TOKEN).await.unwrap();
    assert!(first_frame(&mut first).await.is_some());
    let mut second = open_ws(&url, ADMIN_TOKEN).await.unwrap();
    assert!(first_frame(&mut second).await.is_some());
    match open_ws(&url, ADMIN_TOKEN).await {
        Err((status, body)) => {
            assert_eq!(status, 429);
            assert!(body.contains("too_many_websockets"), "{body}");
        }
        Ok(_) => panic!("a third socket must be refused"),
    }
    // Closing one frees its slot.
    first.send(Message::Close(None)).await.unwrap();
    while let Some(Ok(_)) = first.next().await {}
    let start = Instant::now();
    loop {
        match open_ws(&url, ADMIN_TOKEN).await {
            Ok(_) => break,
            Err((429, _)) if start.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("the freed slot was not given back: {other:?}"),
        }
    }
    drop(second);
    server.stop().await;
}
