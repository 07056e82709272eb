//! Batch lookups against a local fake AcoustID that understands `batch=1`, gzip bodies, and
//! refuses oversized requests and invalid fingerprints like the real service.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use identify_support::{fast_config, max_in_window};
use recozik_core::acoustid::{BatchQuery, MAX_BATCH};
use recozik_core::{AcoustIdClient, AcoustIdConfig, AcoustIdError, Secret};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the fake saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    gzipped: bool,
    fingerprints: usize,
}

/// A fake lookup endpoint: fingerprint `fp-N` is recording `rec-N`, `none-…` matches nothing,
/// `BAD…` makes the whole request fail with error 3; more than `max_per_request` fingerprints
/// is an HTTP 413.
#[derive(Clone)]
struct FakeAcoustId {
    seen: Arc<Mutex<Vec<Seen>>>,
    max_per_request: usize,
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn results_for(fingerprint: &str) -> Value {
    match fingerprint.strip_prefix("fp-") {
        Some(n) => json!([{"id": format!("track-{n}"), "score": 0.9,
            "recordings": [{"id": format!("rec-{n}"), "title": format!("Title {n}")}]}]),
        None => json!([]),
    }
}

impl Respond for FakeAcoustId {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let gzipped = request
            .headers
            .get("content-encoding")
            .is_some_and(|v| v.as_bytes() == b"gzip");
        let mut body = request.body.clone();
        if gzipped {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&request.body[..])
                .read_to_end(&mut plain)
                .expect("valid gzip");
            body = plain;
        }
        let pairs = form(&body);
        let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let batch = value("batch").as_deref() == Some("1");
        let fingerprints: Vec<String> = if batch {
            (0..)
                .map_while(|i| value(&format!("fingerprint.{i}")))
                .collect()
        } else {
            value("fingerprint").into_iter().collect()
        };
        self.seen.lock().expect("lock").push(Seen {
            at: Instant::now(),
            gzipped,
            fingerprints: fingerprints.len(),
        });
        if fingerprints.len() > self.max_per_request {
            return ResponseTemplate::new(413);
        }
        if fingerprints.iter().any(|f| f.starts_with("BAD")) {
            return ResponseTemplate::new(400).set_body_json(
                json!({"status": "error", "error": {"code": 3, "message": "invalid fingerprint"}}),
            );
        }
        if !batch {
            let results = results_for(fingerprints.first().map_or("", String::as_str));
            return ResponseTemplate::new(200)
                .set_body_json(json!({"status": "ok", "results": results}));
        }
        let entries: Vec<Value> = fingerprints
            .iter()
            .enumerate()
            .map(|(index, f)| json!({"index": index, "results": results_for(f)}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "fingerprints": entries}))
    }
}

async fn fake(max_per_request: usize) -> (MockServer, FakeAcoustId) {
    let server = MockServer::start().await;
    let fake = FakeAcoustId {
        seen: Arc::new(Mutex::new(Vec::new())),
        max_per_request,
    };
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}

fn config(server: &MockServer) -> AcoustIdConfig {
    fast_config(&server.uri(), "http://127.0.0.1:9", "http://127.0.0.1:9").acoustid
}

fn queries(names: &[String]) -> Vec<BatchQuery> {
    names
        .iter()
        .map(|name| BatchQuery {
            fingerprint: name.clone(),
            duration_seconds: 31.6,
        })
        .collect()
}

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("fp-{n}")).collect()
}

#[tokio::test]
async fn forty_five_fingerprints_take_three_requests_and_answers_keep_their_order() {
    let (server, fake) = fake(MAX_BATCH).await;
    let client = AcoustIdClient::new(&config(&server)).expect("client");
    let answers = client
        .lookup_batch(&Secret::new("key"), &queries(&numbered(45)), MAX_BATCH)
        .await
        .expect("lookup");
    assert_eq!(answers.len(), 45);
    for (n, answer) in answers.iter().enumerate() {
        let matches = answer.as_ref().expect("answered");
        assert_eq!(matches[0].recording_id, format!("rec-{n}"));
        assert_eq!(
            matches[0].acoustid_id.as_deref(),
            Some(format!("track-{n}").as_str())
        );
    }
    let seen = fake.seen.lock().expect("lock").clone();
    let sizes: Vec<usize> = seen.iter().map(|s| s.fingerprints).collect();
    assert_eq!(sizes, vec![20, 20, 5]);
}

#[tokio::test]
async fn a_large_body_is_gzipped() {
    let (server, fake) = fake(MAX_BATCH).await;
    let client = AcoustIdClient::new(&config(&server)).expect("client");
    // Real fingerprints of 2-minute tracks are about 2,500 characters.
    let padded: Vec<BatchQuery> = (0..20)
        .map(|n| BatchQuery {
            fingerprint: format!("none-{n}-{}", "Q".repeat(2500)),
            duration_seconds: 120.0,
        })
        .collect();
    let answers = client
        .lookup_batch(&Secret::new("key"), &padded, MAX_BATCH)
        .await
        .expect("lookup");
    assert!(answers.iter().all(|a| a.as_ref().is_ok_and(Vec::is_empty)));
    assert!(fake.seen.lock().expect("lock")[0].gzipped);
    let small = client
        .lookup_batch(&Secret::new("key"), &queries(&numbered(2)), MAX_BATCH)
        .await
        .expect("lookup");
    assert_eq!(small.len(), 2);
    assert!(!fake.seen.lock().expect("lock")[1].gzipped);
}

#[tokio::test]
async fn a_request_refused_as_too_large_is_split() {
    let (server, fake) = fake(6).await;
    let client = AcoustIdClient::new(&config(&server)).expect("client");
    let answers = client
        .lookup_batch(&Secret::new("key"), &queries(&numbered(20)), MAX_BATCH)
        .await
        .expect("lookup");
    assert_eq!(answers.len(), 20);
    assert!(answers.iter().all(Result::is_ok));
    let seen = fake.seen.lock().expect("lock").clone();
    assert!(seen.iter().skip(1).all(|s| s.fingerprints <= 10));
    let answered: usize = seen
        .iter()
        .filter(|s| s.fingerprints <= 6)
        .map(|s| s.fingerprints)
        .sum();
    assert_eq!(answered, 20, "every fingerprint answered exactly once");
}

#[tokio::test]
async fn an_invalid_fingerprint_gets_its_own_error_and_the_others_are_answered() {
    let (server, _fake) = fake(MAX_BATCH).await;
    let client = AcoustIdClient::new(&config(&server)).expect("client");
    let mut names = numbered(8);
    names[5] = "BAD-five".to_owned();
    let answers = client
        .lookup_batch(&Secret::new("key"), &queries(&names), MAX_BATCH)
        .await
        .expect("lookup");
    for (n, answer) in answers.iter().enumerate() {
        if n == 5 {
            assert!(matches!(
                answer,
                Err(AcoustIdError::InvalidFingerprint { .. })
            ));
        } else {
            assert_eq!(
                answer.as_ref().expect("answered")[0].recording_id,
                format!("rec-{n}")
            );
        }
    }
}

#[tokio::test]
async fn a_missing_key_sends_nothing() {
    let (server, fake) = fake(MAX_BATCH).await;
    let client = AcoustIdClient::new(&config(&server)).expect("client");
    let outcome = client
        .lookup_batch(&Secret::new(""), &queries(&numbered(3)), MAX_BATCH)
        .await;
    assert!(matches!(outcome, Err(AcoustIdError::MissingApiKey)));
    assert!(fake.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn batches_and_single_lookups_share_one_throttle() {
    let (server, fake) = fake(MAX_BATCH).await;
    let mut config = config(&server);
    config.requests_per_second = 3.0;
    let client = AcoustIdClient::new(&config).expect("client");
    let key = Secret::new("key");
    let batch = queries(&numbered(60));
    let (batched, single) = tokio::join!(
        client.lookup_batch(&key, &batch, MAX_BATCH),
        client.lookup(&key, "fp-99", 10.0),
    );
    assert_eq!(batched.expect("batch").len(), 60);
    assert_eq!(single.expect("single")[0].recording_id, "rec-99");
    let arrivals: Vec<Instant> = fake
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.at)
        .collect();
    assert_eq!(arrivals.len(), 4);
    assert!(
        max_in_window(&arrivals, Duration::from_millis(990)) <= 3,
        "never more than 3 requests in a second: {arrivals:?}"
    );
}
