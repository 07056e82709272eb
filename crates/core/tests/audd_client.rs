//! The AudD client against a local fake, and the in-process snippet renderer.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::time::Duration;

use identify_support::{
    MBID_1, Sequence, audd_enterprise_payload, audd_standard_payload, fast_config, sine_wav,
};
use recozik_core::audd::{AudDMode, parse_response, render_snippet};
use recozik_core::audio::DecodeLimits;
use recozik_core::{AudDClient, AudDEndpoint, AudDError, AudDOptions, EnterpriseParams, Secret};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-SUPER-secret-42";

fn client(server: &MockServer) -> AudDClient {
    let config = fast_config("http://127.0.0.1:9", &server.uri(), "http://127.0.0.1:9");
    AudDClient::new(&config.audd).expect("valid config")
}

#[tokio::test]
async fn standard_uploads_a_wav_snippet_and_parses_the_song() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "song.mp3.wav", 20.0, &[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(audd_standard_payload()))
        .expect(1)
        .mount(&server)
        .await;

    let matches = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect("recognised");

    assert_eq!(matches.len(), 1);
    let song = &matches[0];
    assert_eq!(song.recording_id, MBID_1, "the MusicBrainz id wins");
    assert_eq!(song.artist.as_deref(), Some("Imagine Dragons"));
    assert_eq!(song.title.as_deref(), Some("Warriors"));
    assert!((song.score - 1.0).abs() < f64::EPSILON);
    assert_eq!(song.release_group_id.as_deref(), Some("audd-rg"));
    assert_eq!(song.release_group_title.as_deref(), Some("Warriors"));
    assert_eq!(
        song.releases.len(),
        2,
        "MusicBrainz release plus the album entry"
    );
    assert_eq!(
        song.releases[1].release_id.as_deref(),
        Some("1lgN0A2Vki2FTON5PYq42m")
    );

    let request = &server.received_requests().await.expect("recorded")[0];
    let body = String::from_utf8_lossy(&request.body);
    assert!(body.contains("name=\"api_token\""));
    assert!(body.contains(TOKEN));
    assert!(body.contains("apple_music,spotify,deezer,musicbrainz"));
    assert!(body.contains("filename=\"song.mp3.wav\""));
    assert!(body.contains("Content-Type: audio/wav"));
    // A 12 s, 16 kHz mono 16-bit snippet: 44-byte header + 384000 bytes of samples.
    let riff = request
        .body
        .windows(4)
        .position(|w| w == b"RIFF")
        .expect("a WAV file is uploaded");
    let wav = &request.body[riff..];
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(
        u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
        16_000
    );
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 1);
    assert_eq!(
        u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]),
        12 * 16_000 * 2
    );
}

#[tokio::test]
async fn the_upload_is_named_after_the_file_with_a_wav_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = sine_wav(dir.path(), "x.wav", 3.0, &[]);
    let audio = dir.path().join("song.flac");
    std::fs::copy(&source, &audio).expect("copy");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "success", "result": null})),
        )
        .mount(&server)
        .await;
    let matches = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect("no error");
    assert!(matches.is_empty(), "a null result means no match");
    let request = &server.received_requests().await.expect("recorded")[0];
    assert!(String::from_utf8_lossy(&request.body).contains("filename=\"song.wav\""));
}

#[tokio::test]
async fn service_errors_keep_code_and_message_but_never_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "error",
            "error": {"error_code": 900,
                      "error_message": format!("Wrong API token (api_token={TOKEN})")},
            "request_params": {"api_token": TOKEN}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "a.wav", 3.0, &[]);
    let error = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect_err("service error");
    assert_eq!(error.service_code(), Some(900));
    let text = error.to_string();
    assert!(text.contains("Wrong API token"), "{text}");
    assert!(text.contains("***redacted***"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!format!("{error:?}").contains(TOKEN));
}

#[test]
fn error_messages_follow_the_documented_preference() {
    let cases = [
        (
            json!({"status": "error", "error": {"error_code": 901, "error_message": "limit"}}),
            Some(901),
            "limit",
        ),
        (
            json!({"status": "error", "error": {"message": "msg"}}),
            None,
            "msg",
        ),
        (json!({"status": "error", "error": "plain"}), None, "plain"),
        (
            json!({"status": "error", "result": "in result"}),
            None,
            "in result",
        ),
        (
            json!({"status": "error"}),
            None,
            "AudD reported an error without details",
        ),
    ];
    for (payload, code, message) in cases {
        match parse_response(&payload, AudDEndpoint::Standard) {
            Err(AudDError::Service {
                code: got,
                message: text,
            }) => {
                assert_eq!(got, code);
                assert_eq!(text, message);
            }
            other => panic!("{payload}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn transport_errors_are_typed_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "a.wav", 3.0, &[]);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(502),
            ResponseTemplate::new(200).set_body_json(audd_standard_payload()),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let found = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect("second attempt");
    assert_eq!(found.len(), 1);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect_err("invalid JSON");
    assert!(
        matches!(error, AudDError::InvalidResponse { .. }),
        "{error:?}"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server)
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect_err("forbidden");
    assert!(matches!(error, AudDError::Http { status: 403 }));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut config = fast_config("http://127.0.0.1:9", &server.uri(), "http://127.0.0.1:9");
    config.audd.standard_timeout_seconds = 0.2;
    config.audd.retry.max_retries = 0;
    let error = AudDClient::new(&config.audd)
        .expect("config")
        .recognize_standard(&Secret::new(TOKEN), &audio, 0.0)
        .await
        .expect_err("timeout");
    assert!(matches!(error, AudDError::Timeout));
}

#[tokio::test]
async fn an_empty_token_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "a.wav", 3.0, &[]);
    let error = client(&server)
        .recognize_standard(&Secret::new(""), &audio, 0.0)
        .await
        .expect_err("no token");
    assert!(matches!(error, AudDError::MissingToken));
}

#[tokio::test]
async fn enterprise_uploads_the_file_with_its_parameters_and_flattens_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "mix.wav", 5.0, &[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/enterprise/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(audd_enterprise_payload()))
        .expect(1)
        .mount(&server)
        .await;
    let params = EnterpriseParams {
        skip: Some(4),
        every: Some(1),
        limit: Some(10),
        skip_first_seconds: Some(30),
        accurate_offsets: true,
        use_timecode: false,
    };
    let matches = client(&server)
        .recognize_enterprise(&Secret::new(TOKEN), &audio, &params)
        .await
        .expect("recognised");

    // Warriors (two chunks, merged: best score, first offset), then Faded.
    assert_eq!(matches.len(), 2);
    assert_eq!(matches[0].title.as_deref(), Some("Warriors"));
    assert!((matches[0].score - 0.95).abs() < 1e-9, "score 95/100");
    assert_eq!(matches[0].offset.as_deref(), Some("00:00"));
    assert_eq!(matches[0].recording_id, "https://lis.tn/Warriors");
    assert_eq!(matches[1].title.as_deref(), Some("Faded"));
    assert_eq!(matches[1].artist.as_deref(), Some("Alan Walker"));
    assert!((matches[1].score - 0.80).abs() < 1e-9);
    assert_eq!(matches[1].offset.as_deref(), Some("00:24"));

    let request = &server.received_requests().await.expect("recorded")[0];
    let body = String::from_utf8_lossy(&request.body);
    for (name, value) in [
        ("skip", "4"),
        ("every", "1"),
        ("limit", "10"),
        ("skip_first_seconds", "30"),
        ("accurate_offsets", "true"),
    ] {
        assert!(
            body.contains(&format!("name=\"{name}\"\r\n\r\n{value}\r\n")),
            "{name}={value} missing"
        );
    }
    assert!(!body.contains("use_timecode"));
    assert!(body.contains("filename=\"mix.wav\""));
    let original = std::fs::read(&audio).expect("read");
    assert!(
        request
            .body
            .windows(original.len())
            .any(|w| w == original.as_slice()),
        "the whole file is uploaded"
    );
}

#[test]
fn synthetic_ids_are_stable() {
    let payload = json!({"status": "success", "result": [
        {"artist": " Someone ", "title": "Song", "confidence": "0.4"},
        {"title": "   "}
    ]});
    let matches = parse_response(&payload, AudDEndpoint::Standard).expect("ok");
    assert_eq!(matches.len(), 2);
    // No confidence: score 1.0, sorted first; blank strings become null.
    assert_eq!(matches[0].title, None);
    assert!((matches[0].score - 1.0).abs() < f64::EPSILON);
    assert_eq!(matches[1].artist.as_deref(), Some("Someone"));
    assert!((matches[1].score - 0.4).abs() < 1e-9);
    // audd:<sha256 hex of "Someone::Song">
    assert_eq!(
        matches[1].recording_id,
        "audd:d2b3ebfd048eebd01d755f9e6e484a26c8cf172f4ae3d0adb692c45f8c555ff2"
    );
}

#[test]
fn mode_selection() {
    let mut options = AudDOptions {
        mode: AudDMode::Auto,
        ..AudDOptions::default()
    };
    assert_eq!(options.primary_endpoint(), AudDEndpoint::Standard);
    options.params.every = Some(1);
    assert_eq!(options.primary_endpoint(), AudDEndpoint::Enterprise);
    options.params = EnterpriseParams::default();
    options.mode = AudDMode::Standard;
    options.force_enterprise = true;
    assert_eq!(options.primary_endpoint(), AudDEndpoint::Enterprise);
    options.force_enterprise = false;
    options.mode = AudDMode::Enterprise;
    assert_eq!(options.primary_endpoint(), AudDEndpoint::Enterprise);
    assert!(!options.available(), "disabled without a token");
    options.enabled = true;
    options.token = Secret::new("t");
    assert!(options.available());
    assert!(!format!("{options:?}").contains("\"t\""));
}

#[test]
fn snippet_at_an_offset_reports_its_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "a.wav", 2.0, &[]);
    let snippet = render_snippet(&audio, 0.5, 1.0, DecodeLimits::default()).expect("rendered");
    assert!((snippet.info.offset_seconds - 0.5).abs() < f64::EPSILON);
    assert!(
        (0.9..=1.01).contains(&snippet.info.duration_seconds),
        "{:?}",
        snippet.info
    );
    assert!(snippet.info.rms > 0.0);
    assert_eq!(snippet.wav.len(), 44 + 16_000 * 2);
}

#[test]
fn an_offset_past_the_end_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "a.wav", 2.0, &[]);
    let error = render_snippet(&audio, 5.0, 12.0, DecodeLimits::default()).expect_err("too far");
    assert!(
        matches!(error, AudDError::OffsetBeyondEnd { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the audio is shorter than the requested AudD snippet offset (5.00 s)"
    );
}

#[test]
fn unreadable_audio_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.mp3");
    std::fs::write(&bogus, b"definitely not audio").expect("write");
    let error = render_snippet(&bogus, 0.0, 12.0, DecodeLimits::default()).expect_err("not audio");
    assert!(matches!(error, AudDError::Audio(_)), "{error:?}");
}
