//! The MusicBrainz client against a local fake of `/ws/2/recording/{id}`.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::time::{Duration, Instant, SystemTime};

use identify_support::{
    MBID_2, Recorder, Sequence, fast_config, max_in_window, musicbrainz_payload,
};
use recozik_core::musicbrainz::parse_recording;
use recozik_core::{Match, MusicBrainzClient, MusicBrainzConfig, MusicBrainzError, Release};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> MusicBrainzClient {
    let config = fast_config("http://127.0.0.1:9", "http://127.0.0.1:9", &server.uri());
    MusicBrainzClient::new(&config.musicbrainz).expect("valid config")
}

#[tokio::test]
async fn looks_up_with_the_user_agent_and_keeps_join_phrases() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/ws/2/recording/{MBID_2}")))
        .and(query_param("fmt", "json"))
        .and(query_param("inc", "artists releases release-groups"))
        .and(header("user-agent", "recozik-test/9.9 (ops@example.org)"))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(musicbrainz_payload(MBID_2)))
        .expect(1)
        .mount(&server)
        .await;

    let recording = client(&server)
        .lookup_recording(MBID_2)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(recording.title.as_deref(), Some("Other Song (MB)"));
    // Credited names, join phrase verbatim (not `A&B`, not the canonical name).
    assert_eq!(recording.artist.as_deref(), Some("A & B"));
    assert_eq!(recording.release_group_id.as_deref(), Some("mb-rg-1"));
    assert_eq!(recording.release_group_title.as_deref(), Some("MB Album"));
    assert_eq!(
        recording.releases[0],
        Release {
            title: Some("MB Album".into()),
            release_id: Some("mb-rel-1".into()),
            date: Some("2001-03".into()),
            country: Some("GB".into()),
        }
    );
    let raw_query = server.received_requests().await.expect("recorded")[0]
        .url
        .query()
        .map(str::to_owned);
    assert_eq!(
        raw_query.as_deref(),
        Some("fmt=json&inc=artists+releases+release-groups"),
        "includes are sent with literal `+`"
    );
}

#[tokio::test]
async fn only_fills_missing_fields() {
    let recording = parse_recording(&musicbrainz_payload(MBID_2));
    let mut target = Match::new(0.5, MBID_2);
    target.title = Some("Kept Title".into());
    target.releases.push(Release {
        title: Some("MB Album".into()),
        release_id: Some("mb-rel-1".into()),
        date: Some("2001-03".into()),
        country: Some("GB".into()),
    });
    assert!(recording.fill_match(&mut target));
    assert_eq!(target.title.as_deref(), Some("Kept Title"));
    assert_eq!(target.artist.as_deref(), Some("A & B"));
    assert_eq!(target.release_group_title.as_deref(), Some("MB Album"));
    assert_eq!(
        target.releases.len(),
        2,
        "the known release is not duplicated"
    );
    assert!(!recording.fill_match(&mut target), "nothing left to fill");
}

#[tokio::test]
async fn non_mbids_are_never_requested() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let client = client(&server);
    for id in [
        "audd:abcdef",
        "1lgN0A2Vki2FTON5PYq42m",
        "",
        "../../etc/passwd",
    ] {
        assert_eq!(client.lookup_recording(id).await, Ok(None));
    }
}

#[tokio::test]
async fn not_found_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client(&server).lookup_recording(MBID_2).await, Ok(None));
}

#[tokio::test]
async fn unavailable_and_rate_limited_are_retried_with_retry_after() {
    let server = MockServer::start().await;
    let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    Mock::given(method("GET"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(503).insert_header("Retry-After", "1"),
            ResponseTemplate::new(429).insert_header("Retry-After", soon.as_str()),
            ResponseTemplate::new(200).set_body_json(musicbrainz_payload(MBID_2)),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let started = Instant::now();
    let found = client(&server)
        .lookup_recording(MBID_2)
        .await
        .expect("third try");
    assert!(found.is_some());
    // 1 s, then until the HTTP date (whole seconds, so at least 2 s after the start).
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn errors_are_typed() {
    let cases: Vec<(ResponseTemplate, u64, MusicBrainzError)> = vec![
        (
            ResponseTemplate::new(400),
            1,
            MusicBrainzError::Http { status: 400 },
        ),
        (
            ResponseTemplate::new(500),
            3,
            MusicBrainzError::Http { status: 500 },
        ),
        (
            ResponseTemplate::new(503),
            3,
            MusicBrainzError::Unavailable { retry_after: None },
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            1,
            MusicBrainzError::InvalidResponse {
                detail: "the body is not valid JSON".into(),
            },
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!([1, 2])),
            1,
            MusicBrainzError::InvalidResponse {
                detail: "the payload is not an object".into(),
            },
        ),
    ];
    for (template, attempts, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(template)
            .expect(attempts)
            .mount(&server)
            .await;
        assert_eq!(
            client(&server).lookup_recording(MBID_2).await,
            Err(expected)
        );
    }
}

#[tokio::test]
async fn times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut config = fast_config("http://127.0.0.1:9", "http://127.0.0.1:9", &server.uri());
    config.musicbrainz.timeout_seconds = 0.2;
    config.musicbrainz.retry.max_retries = 0;
    let result = MusicBrainzClient::new(&config.musicbrainz)
        .expect("config")
        .lookup_recording(MBID_2)
        .await;
    assert_eq!(result, Err(MusicBrainzError::Timeout));
}

#[test]
fn release_group_falls_back_to_the_recording_level() {
    let recording = parse_recording(&json!({
        "id": MBID_2,
        "artist-credit": ["Plain ", {"artist": {"name": "Canonical Only"}}],
        "releases": [{"id": "r", "title": "T", "first-release-date": "1999"}, "junk"],
        "release-group": {"id": "rg-top", "title": "Top"}
    }));
    assert_eq!(recording.artist.as_deref(), Some("Plain Canonical Only"));
    assert_eq!(recording.release_group_id.as_deref(), Some("rg-top"));
    assert_eq!(recording.releases[0].date.as_deref(), Some("1999"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_throttle_allows_one_request_per_second() {
    let server = MockServer::start().await;
    let recorder =
        Recorder::new(ResponseTemplate::new(200).set_body_json(musicbrainz_payload(MBID_2)));
    Mock::given(method("GET"))
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    let config = MusicBrainzConfig {
        base_url: server.uri(),
        ..MusicBrainzConfig::default()
    };
    let client = MusicBrainzClient::new(&config).expect("config");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.lookup_recording(MBID_2).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("lookup");
    }
    let times = recorder.times();
    assert!(times.len() >= 4);
    assert_eq!(
        max_in_window(&times, Duration::from_secs(1)),
        1,
        "{times:?}"
    );
}
