//! Many identifications from many threads share one AcoustID and one MusicBrainz throttle: the
//! fakes record arrival times and no one-second window may hold more than the configured rate.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::sync::Arc;
use std::time::Duration;

use identify_support::{
    MBID_1, Recorder, fast_config, max_in_window, musicbrainz_payload, sine_wav,
};
use recozik_core::{
    AcoustIdConfig, IdentifyHooks, IdentifyRequest, MatchSource, MusicBrainzConfig, Services,
    identify,
};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Counts {
    acoustid: Recorder,
    musicbrainz: Recorder,
}

/// Runs `total` identifications spread over `threads` OS threads, each with its own runtime,
/// all sharing one `Services`.
async fn run_many(
    acoustid_rate: f64,
    musicbrainz_rate: f64,
    total: usize,
    threads: usize,
) -> Counts {
    let acoustid = MockServer::start().await;
    let musicbrainz = MockServer::start().await;
    // The recording misses its title, so every identification asks MusicBrainz too.
    let acoustid_recorder = Recorder::new(ResponseTemplate::new(200).set_body_json(json!({
        "status": "ok",
        "results": [{"id": "t", "score": 0.9, "recordings": [{"id": MBID_1}]}]
    })));
    let musicbrainz_recorder =
        Recorder::new(ResponseTemplate::new(200).set_body_json(musicbrainz_payload(MBID_1)));
    Mock::given(method("POST"))
        .respond_with(acoustid_recorder.clone())
        .mount(&acoustid)
        .await;
    Mock::given(method("GET"))
        .respond_with(musicbrainz_recorder.clone())
        .mount(&musicbrainz)
        .await;

    let mut config = fast_config(&acoustid.uri(), "http://127.0.0.1:9", &musicbrainz.uri());
    config.acoustid = AcoustIdConfig {
        requests_per_second: acoustid_rate,
        ..config.acoustid
    };
    config.musicbrainz = MusicBrainzConfig {
        requests_per_second: musicbrainz_rate,
        ..config.musicbrainz
    };
    let services = Services::new(&config).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = sine_wav(dir.path(), "clip.wav", 5.0, &[]);
    let mut request = IdentifyRequest::new(&audio, "key");
    request.cache_enabled = false;
    let request = Arc::new(request);

    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let services = services.clone();
            let request = Arc::clone(&request);
            let share = total / threads + usize::from(thread < total % threads);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    for _ in 0..share {
                        let result = identify(&services, &request, &IdentifyHooks::default())
                            .await
                            .expect("identified");
                        assert_eq!(result.match_source, Some(MatchSource::AcoustId));
                        assert_eq!(result.matches[0].title.as_deref(), Some("Other Song (MB)"));
                    }
                });
            })
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        for handle in handles {
            handle.join().expect("thread finished");
        }
    })
    .await
    .expect("joined");

    Counts {
        acoustid: acoustid_recorder,
        musicbrainz: musicbrainz_recorder,
    }
}

/// 200 identifications from 16 threads. The throttles are set to 20 requests/s here (the same
/// code path as the defaults) so the test takes about ten seconds instead of a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_identifications_from_sixteen_threads_respect_the_rates() {
    let counts = run_many(20.0, 20.0, 200, 16).await;
    let acoustid = counts.acoustid.times();
    let musicbrainz = counts.musicbrainz.times();
    // At least one request per identification (a request that fails in transit, e.g. on a
    // connection the server just closed, is retried and counted again).
    assert!(acoustid.len() >= 200, "{}", acoustid.len());
    assert!(musicbrainz.len() >= 200, "{}", musicbrainz.len());
    let second = Duration::from_secs(1);
    assert!(
        max_in_window(&acoustid, second) <= 20,
        "AcoustID: {}",
        max_in_window(&acoustid, second)
    );
    assert!(
        max_in_window(&musicbrainz, second) <= 20,
        "MusicBrainz: {}",
        max_in_window(&musicbrainz, second)
    );
}

/// The real defaults: 3 AcoustID requests and 1 MusicBrainz request per second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_rates_hold_across_threads() {
    let defaults = (
        AcoustIdConfig::default().requests_per_second,
        MusicBrainzConfig::default().requests_per_second,
    );
    assert_eq!(defaults, (3.0, 1.0));
    let counts = run_many(defaults.0, defaults.1, 6, 3).await;
    let second = Duration::from_secs(1);
    assert!(counts.acoustid.times().len() >= 6);
    assert!(max_in_window(&counts.acoustid.times(), second) <= 3);
    assert!(counts.musicbrainz.times().len() >= 6);
    assert_eq!(max_in_window(&counts.musicbrainz.times(), second), 1);
}
