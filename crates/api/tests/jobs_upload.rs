//! `POST /identify/upload`: authentication and the access pre-check before the body, the
//! validation order and texts the upstream clients rely on, the size cap while streaming, and no
//! file left behind on any failure. Also the jobs listing, detail, access rule and cancel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::Value;
use support::*;

async fn server(
    configure: impl FnOnce(&mut recozik_api::Settings),
) -> (tempfile::TempDir, Fakes, TestServer) {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::ZERO).await;
    let mut settings = server_settings(media.path(), &fakes);
    configure(&mut settings);
    let server = TestServer::start(settings);
    (media, fakes, server)
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_order_and_texts_leave_no_file_behind() {
    let (_media, _fakes, server) = server(|_| {}).await;
    let base = server.url("");
    let audio = fixture_bytes("mp3_cbr_44k_stereo_tagged.mp3");

    // 415 first: a content type that is not audio/* (even with a bad extension).
    let (status, body) = upload(
        &base,
        ADMIN_TOKEN,
        file_form(audio.clone(), "x.txt", Some("text/plain")),
    )
    .await;
    assert_eq!((status, detail(&body)), (415, "Expected audio/* upload"));

    // 400 extension, with the allowed list; no suffix at all is refused too.
    let (status, body) = upload(
        &base,
        ADMIN_TOKEN,
        file_form(audio.clone(), "x.txt", Some("audio/mpeg")),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        detail(&body),
        "File extension '.txt' not allowed. Allowed: .mp3, .flac, .wav, .ogg, .m4a, .aac, .opus, .wma"
    );
    let (status, body) = upload(&base, ADMIN_TOKEN, file_form(audio.clone(), ".mp3", None)).await;
    assert_eq!(status, 400);
    assert!(
        detail(&body).starts_with("File extension '' not allowed."),
        "{body}"
    );

    // 413 over the cap (2 MiB); exactly the cap is accepted.
    let cap = 2 * 1024 * 1024;
    let (status, body) = upload(
        &base,
        ADMIN_TOKEN,
        file_form(vec![7_u8; cap + 1], "big.mp3", Some("audio/mpeg")),
    )
    .await;
    assert_eq!(
        (status, detail(&body)),
        (413, "Upload exceeds configured size limit")
    );
    assert!(
        files_in(&server.upload_dir()).is_empty(),
        "partial file left behind"
    );

    // 400 empty.
    let (status, body) = upload(
        &base,
        ADMIN_TOKEN,
        file_form(Vec::new(), "empty.mp3", Some("audio/mpeg")),
    )
    .await;
    assert_eq!((status, detail(&body)), (400, "Empty upload"));

    // 422 without a file part; unknown fields are ignored, booleans are checked.
    let form = reqwest::multipart::Form::new().text("locale", "en");
    let (status, body) = upload(&base, ADMIN_TOKEN, form).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["detail"][0]["loc"],
        serde_json::json!(["body", "file"])
    );
    let form = file_form(audio.clone(), "a.mp3", Some("audio/mpeg")).text("prefer_audd", "maybe");
    let (status, body) = upload(&base, ADMIN_TOKEN, form).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "bool_parsing");
    assert!(
        files_in(&server.upload_dir()).is_empty(),
        "a failed upload left a file"
    );

    // A missing content type passes; the dashboard's extra fields and "on" checkboxes work.
    let form = file_form(audio.clone(), "Song.MP3", None)
        .text("locale", "fr")
        .text("metadata_fallback", "on")
        .text("$ACTION_ID_abc", "");
    let (status, body) = upload(&base, ADMIN_TOKEN, form).await;
    assert_eq!(status, 200, "{body}");
    let job_id = body["job_id"].as_str().unwrap();
    assert_eq!(job_id.len(), 32);
    let job = wait_job(
        &base,
        ADMIN_TOKEN,
        job_id,
        Duration::from_secs(30),
        is_terminal,
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(
        files_in(&server.upload_dir()).is_empty(),
        "the finished job's upload is still there"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_uploads_answer_413_before_the_extension_check() {
    let (_media, _fakes, server) = server(|s| s.max_upload_mb = 0).await;
    let (status, body) = upload(
        &server.url(""),
        ADMIN_TOKEN,
        file_form(b"abc".to_vec(), "x.txt", Some("audio/mpeg")),
    )
    .await;
    assert_eq!(
        (status, detail(&body)),
        (413, "File uploads are disabled (max_upload_mb=0)")
    );
    // The content type check still comes first.
    let (status, _) = upload(
        &server.url(""),
        ADMIN_TOKEN,
        file_form(b"abc".to_vec(), "x.mp3", Some("video/mp4")),
    )
    .await;
    assert_eq!(status, 415);
    assert!(files_in(&server.upload_dir()).is_empty());
    server.stop().await;
}

/// Sends the headers of a 50 MiB upload and a few bytes, then reads the answer: the server
/// must answer without waiting for the body.
fn raw_upload_head(addr: std::net::SocketAddr, extra_headers: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /identify/upload HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 52428800\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[0_u8; 4096]).unwrap();
    let mut answer = vec![0_u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_access_come_before_the_body() {
    let (_media, _fakes, server) = server(|_| {}).await;
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || raw_upload_head(addr, ""))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("Missing auth"), "{answer}");
    let answer =
        tokio::task::spawn_blocking(move || raw_upload_head(addr, "X-API-Token: nope\r\n"))
            .await
            .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // A token without the identify feature is refused before any byte is stored.
    let (_, token) = user_with_token(&server.state, "renamer", &["rename"], &[]);
    let header = format!("X-API-Token: {token}\r\n");
    let answer = tokio::task::spawn_blocking(move || raw_upload_head(addr, &header))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("identify"), "{answer}");
    let (status, body) = upload(
        &server.url(""),
        &token,
        file_form(
            fixture_bytes("mp3_cbr_44k_stereo_tagged.mp3"),
            "a.mp3",
            Some("audio/mpeg"),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(detail(&body).contains("identify"));

    // A declared body far over the cap is refused from its headers.
    let answer = tokio::task::spawn_blocking(move || {
        raw_upload_head(addr, &format!("X-API-Token: {ADMIN_TOKEN}\r\n"))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(files_in(&server.upload_dir()).is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_uploads_need_csrf() {
    let (_media, _fakes, server) = server(|_| {}).await;
    let session = server
        .state
        .auth
        .login("admin", ADMIN_PASSWORD, false)
        .unwrap();
    let cookies = format!(
        "recozik_session={}; recozik_csrf={}",
        session.access_token, session.csrf_token
    );
    let form = || {
        file_form(
            fixture_bytes("mp3_cbr_44k_stereo_tagged.mp3"),
            "a.mp3",
            Some("audio/mpeg"),
        )
    };
    let response = client()
        .post(server.url("/identify/upload"))
        .header("Cookie", &cookies)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = client()
        .post(server.url("/identify/upload"))
        .header("Cookie", &cookies)
        .header("X-CSRF-Token", &session.csrf_token)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_detail_access_rule_and_cancel() {
    let (_media, fakes, server) = server(|s| s.workers = 1).await;
    let base = server.url("");
    let (_, worker_token) = user_with_token(&server.state, "worker", &["identify"], &[]);
    let (_, other_token) = user_with_token(&server.state, "other", &["identify"], &[]);
    let mine = [
        upload_fixture(&base, &worker_token).await,
        upload_fixture(&base, &worker_token).await,
        upload_fixture(&base, &worker_token).await,
    ];
    let theirs = upload_fixture(&base, &other_token).await;

    // Own jobs only, newest first; `user_id` is ignored for non-admins.
    let (status, list) = get_json(&format!("{base}/jobs?user_id=other"), &worker_token).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![mine[2].as_str(), mine[1].as_str(), mine[0].as_str()]
    );
    // Admins filter by username; an unknown one matches nothing.
    let (_, list) = get_json(&format!("{base}/jobs?user_id=other"), ADMIN_TOKEN).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["job_id"], theirs.as_str());
    let (_, list) = get_json(&format!("{base}/jobs?user_id=nobody"), ADMIN_TOKEN).await;
    assert_eq!(list, serde_json::json!([]));
    let (_, list) = get_json(&format!("{base}/jobs?limit=2&offset=1"), ADMIN_TOKEN).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    for bad in ["limit=0", "limit=101", "offset=-1", "limit=x"] {
        let (status, body) = get_json(&format!("{base}/jobs?{bad}"), ADMIN_TOKEN).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }

    // Detail: 404, 403 for someone else's job, the JobDetail shape with Z timestamps.
    let (status, body) = get_json(&format!("{base}/jobs/{}", "0".repeat(32)), ADMIN_TOKEN).await;
    assert_eq!((status, detail(&body)), (404, "Job not found"));
    let (status, body) = get_json(&format!("{base}/jobs/{theirs}"), &worker_token).await;
    assert_eq!((status, detail(&body)), (403, "Access denied"));
    let (status, job) = get_json(&format!("{base}/jobs/{theirs}"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = job.as_object().unwrap().keys().collect();
    for key in [
        "job_id",
        "status",
        "created_at",
        "updated_at",
        "finished_at",
        "messages",
        "result",
        "error",
    ] {
        assert!(keys.iter().any(|k| *k == key), "missing {key} in {job}");
    }
    assert!(job["created_at"].as_str().unwrap().ends_with('Z'));

    // Cancel: someone else's job → 403; own job → cancelled (or 409 once finished).
    let response = client()
        .delete(format!("{base}/jobs/{theirs}"))
        .header("X-API-Token", &worker_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = client()
        .delete(format!("{base}/jobs/{}", mine[2]))
        .header("X-API-Token", &worker_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    match status {
        200 => {
            assert_eq!(body["status"], "cancelled");
            assert!(body["finished_at"].as_str().is_some());
        }
        409 => assert!(detail(&body).starts_with("Job already finished"), "{body}"),
        other => panic!("unexpected cancel answer {other}: {body}"),
    }
    for id in mine.iter().chain([&theirs]) {
        wait_job(&base, ADMIN_TOKEN, id, Duration::from_secs(30), is_terminal).await;
    }
    let response = client()
        .delete(format!("{base}/jobs/{}", mine[0]))
        .header("X-API-Token", ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    assert!(files_in(&server.upload_dir()).is_empty());
    assert!(fakes.acoustid_calls().await >= 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_it_and_deletes_its_upload() {
    let media = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    fakes.healthy(Duration::from_secs(3)).await;
    let server = TestServer::start(server_settings(media.path(), &fakes));
    let base = server.url("");
    let job_id = upload_fixture(&base, ADMIN_TOKEN).await;
    wait_job(&base, ADMIN_TOKEN, &job_id, Duration::from_secs(20), |j| {
        j["status"] == "running"
    })
    .await;
    let response = client()
        .delete(format!("{base}/jobs/{job_id}"))
        .header("X-API-Token", ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(files_in(&server.upload_dir()).is_empty());
    // The worker gives up: the job stays cancelled, without a result.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, job) = get_json(&format!("{base}/jobs/{job_id}"), ADMIN_TOKEN).await;
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["result"], Value::Null);
    server.stop().await;
}
