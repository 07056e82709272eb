//! The identify pipeline end to end against local fakes of AcoustID, AudD and MusicBrainz.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

mod identify_support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use identify_support::{
    MBID_1, MBID_2, acoustid_payload, audd_enterprise_payload, audd_standard_payload, fast_config,
    musicbrainz_payload, sine_wav,
};
use recozik_core::audd::AudDMode;
use recozik_core::{
    AccessPolicy, AcoustIdError, AudDOptions, EmbeddedMetadata, Feature, IdentifyError,
    IdentifyHooks, IdentifyRequest, IdentifyResult, Match, MatchSource, MemoryLookupCache,
    PolicyError, ProgressLevel, ProgressSink, QuotaPolicy, QuotaScope, Release, Secret, Service,
    Services, UpstreamError, identify,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUDD_TOKEN: &str = "audd-token-XYZ";

struct Fakes {
    acoustid: MockServer,
    audd: MockServer,
    musicbrainz: MockServer,
    services: Services,
    dir: tempfile::TempDir,
}

impl Fakes {
    async fn start() -> Self {
        let acoustid = MockServer::start().await;
        let audd = MockServer::start().await;
        let musicbrainz = MockServer::start().await;
        let config = fast_config(&acoustid.uri(), &audd.uri(), &musicbrainz.uri());
        let services = Services::new(&config).expect("valid config");
        Self {
            acoustid,
            audd,
            musicbrainz,
            services,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn audio(&self, tags: &[(&str, &str)]) -> PathBuf {
        sine_wav(self.dir.path(), "clip.wav", 10.0, tags)
    }

    async fn acoustid_answers(&self, body: Value, times: u64) {
        Mock::given(method("POST"))
            .and(path("/v2/lookup"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(times)
            .mount(&self.acoustid)
            .await;
    }

    async fn audd_answers(&self, route: &str, body: Value, times: u64) {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(times)
            .mount(&self.audd)
            .await;
    }

    async fn musicbrainz_answers(&self, times: u64) {
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/recording/[0-9a-f-]{36}$"))
            .respond_with(move |request: &wiremock::Request| {
                let id = request
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                ResponseTemplate::new(200).set_body_json(musicbrainz_payload(&id))
            })
            .expect(times)
            .mount(&self.musicbrainz)
            .await;
    }
}

fn request(audio: &Path) -> IdentifyRequest {
    let mut request = IdentifyRequest::new(audio, "acoustid-key");
    request.cache_enabled = false;
    request
}

fn with_audd(mut request: IdentifyRequest, prefer: bool) -> IdentifyRequest {
    request.audd = AudDOptions {
        enabled: true,
        token: Secret::new(AUDD_TOKEN),
        prefer,
        mode: AudDMode::Auto,
        enterprise_fallback: false,
        ..AudDOptions::default()
    };
    request
}

fn empty_acoustid() -> Value {
    json!({"status": "ok", "results": [{"id": "t", "score": 0.3}]})
}

/// Records checks; denies the listed features.
#[derive(Default)]
struct Access {
    denied: Vec<Feature>,
    checked: Mutex<Vec<Feature>>,
}

#[async_trait]
impl AccessPolicy for Access {
    async fn ensure_feature(&self, feature: Feature) -> Result<(), PolicyError> {
        self.checked.lock().expect("lock").push(feature);
        if self.denied.contains(&feature) {
            Err(PolicyError::denied(feature))
        } else {
            Ok(())
        }
    }
}

/// Records consumption and refunds; refuses the listed scopes.
#[derive(Default)]
struct Quota {
    exhausted: Vec<QuotaScope>,
    consumed: Mutex<Vec<(QuotaScope, u32)>>,
    refunded: Mutex<Vec<(QuotaScope, u32)>>,
}

impl Quota {
    fn scopes(&self) -> Vec<QuotaScope> {
        self.consumed
            .lock()
            .expect("lock")
            .iter()
            .map(|(s, _)| *s)
            .collect()
    }
}

#[async_trait]
impl QuotaPolicy for Quota {
    async fn consume(&self, scope: QuotaScope, cost: u32) -> Result<(), PolicyError> {
        if self.exhausted.contains(&scope) {
            return Err(PolicyError::quota_exceeded(
                scope,
                2,
                1,
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000)),
            ));
        }
        self.consumed.lock().expect("lock").push((scope, cost));
        Ok(())
    }

    async fn refund(&self, scope: QuotaScope, cost: u32) {
        self.refunded.lock().expect("lock").push((scope, cost));
    }
}

#[derive(Default)]
struct Messages(Mutex<Vec<(ProgressLevel, String)>>);

impl ProgressSink for Messages {
    fn report(&self, level: ProgressLevel, message: &str) {
        self.0
            .lock()
            .expect("lock")
            .push((level, message.to_owned()));
    }
}

impl Messages {
    fn any(&self, level: ProgressLevel, needle: &str) -> bool {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .any(|(l, m)| *l == level && m.contains(needle))
    }
}

async fn run(fakes: &Fakes, request: &IdentifyRequest) -> Result<IdentifyResult, IdentifyError> {
    identify(&fakes.services, request, &IdentifyHooks::default()).await
}

#[tokio::test]
async fn acoustid_matches_are_returned() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 1).await;
    fakes.musicbrainz_answers(0).await; // both matches have a title and an artist
    let audio = fakes.audio(&[]);

    let result = run(&fakes, &request(&audio)).await.expect("identified");

    assert_eq!(result.match_source, Some(MatchSource::AcoustId));
    assert_eq!(result.matches.len(), 2);
    assert_eq!(result.matches[0].recording_id, MBID_1);
    assert_eq!(
        result.matches[0].artist.as_deref(),
        Some("Artiste feat. Invité")
    );
    assert_eq!(result.metadata, None);
    assert_eq!(result.audd_note, None);
    assert!(!result.fingerprint.is_empty());
    assert!((result.duration_seconds - 10.0).abs() < 0.1);

    let sent = &fakes.acoustid.received_requests().await.expect("recorded")[0];
    let fingerprint = identify_support::form_value(&sent.body, "fingerprint");
    assert_eq!(fingerprint.as_deref(), Some(result.fingerprint.as_str()));
    assert_eq!(
        identify_support::form_value(&sent.body, "duration").as_deref(),
        Some("10")
    );
}

#[test]
fn the_result_serialises_to_the_web_contract() {
    let mut found = Match::new(0.5, "r");
    found.title = Some("T".into());
    found.artist = Some("A".into());
    found.releases.push(Release {
        title: Some("Alb".into()),
        release_id: Some("x".into()),
        date: Some("2001".into()),
        country: Some("FR".into()),
    });
    let result = IdentifyResult {
        matches: vec![found],
        match_source: Some(MatchSource::AcoustId),
        metadata: None,
        audd_note: None,
        audd_error: None,
        fingerprint: "AQAA".into(),
        duration_seconds: 1.5,
    };
    let text = serde_json::to_string(&result).expect("serialises");
    assert_eq!(
        text,
        concat!(
            r#"{"matches":[{"score":0.5,"recording_id":"r","title":"T","artist":"A","#,
            r#""release_group_id":null,"release_group_title":null,"#,
            r#""releases":[{"title":"Alb","release_id":"x","date":"2001","country":"FR"}]}],"#,
            r#""match_source":"acoustid","metadata":null,"audd_note":null,"audd_error":null,"#,
            r#""fingerprint":"AQAA","duration_seconds":1.5}"#
        )
    );
    let back: IdentifyResult = serde_json::from_str(&text).expect("round trip");
    assert_eq!(back, result);

    let audd = IdentifyResult {
        matches: Vec::new(),
        match_source: None,
        metadata: Some(EmbeddedMetadata {
            artist: Some("Me".into()),
            title: None,
            album: Some("Mine".into()),
        }),
        ..result
    };
    let text = serde_json::to_string(&audd).expect("serialises");
    assert!(
        text.contains(
            r#""matches":[],"match_source":null,"metadata":{"artist":"Me","album":"Mine"}"#
        )
    );
}

#[tokio::test]
async fn no_match_falls_back_to_embedded_metadata() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    let audio = fakes.audio(&[
        ("artist", "Tag Artist"),
        ("title", " Tag Title "),
        ("album", "Tag Album"),
    ]);

    let result = run(&fakes, &request(&audio)).await.expect("no error");
    assert!(result.matches.is_empty());
    assert_eq!(result.match_source, None);
    assert_eq!(
        result.metadata,
        Some(EmbeddedMetadata {
            artist: Some("Tag Artist".into()),
            title: Some("Tag Title".into()),
            album: Some("Tag Album".into()),
        })
    );

    let mut off = request(&audio);
    off.metadata_fallback = false;
    let fakes2 = Fakes::start().await;
    fakes2.acoustid_answers(empty_acoustid(), 1).await;
    assert_eq!(run(&fakes2, &off).await.expect("no error").metadata, None);
}

#[tokio::test]
async fn preferred_audd_answers_alone() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    fakes.musicbrainz_answers(0).await;
    let audio = fakes.audio(&[]);

    let result = run(&fakes, &with_audd(request(&audio), true))
        .await
        .expect("identified");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert_eq!(result.matches[0].title.as_deref(), Some("Warriors"));
    assert_eq!(result.audd_note.as_deref(), Some("Source: AudD."));
    assert_eq!(result.audd_error, None);
}

#[tokio::test]
async fn audd_runs_after_an_empty_acoustid_answer() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    fakes.musicbrainz_answers(0).await;
    let audio = fakes.audio(&[]);
    let messages = Messages::default();

    let result = identify(
        &fakes.services,
        &with_audd(request(&audio), false),
        &IdentifyHooks::default().with_progress(&messages),
    )
    .await
    .expect("identified");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert!(messages.any(
        ProgressLevel::Info,
        "Preparing AudD snippet (~12s, mono 16 kHz) before upload."
    ));
}

#[tokio::test]
async fn a_denied_identify_is_a_typed_error() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let access = Access {
        denied: vec![Feature::Identify],
        ..Access::default()
    };
    let error = identify(
        &fakes.services,
        &request(&audio),
        &IdentifyHooks::default().with_access(&access),
    )
    .await
    .expect_err("denied");
    assert!(matches!(
        error,
        IdentifyError::Denied { feature: Feature::Identify, ref message }
            if message == "identify not permitted for this token"
    ));
    assert_eq!(error.code(), "access_denied");
}

#[tokio::test]
async fn quota_scopes_are_consumed_in_order() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    fakes.musicbrainz_answers(1).await;
    let audio = fakes.audio(&[]);
    let quota = Quota::default();
    let mut request = with_audd(request(&audio), false);
    request.musicbrainz.enrich_missing_only = false;

    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect("identified");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert_eq!(
        quota.scopes(),
        vec![
            QuotaScope::AcoustidLookup,
            QuotaScope::AuddStandardLookup,
            QuotaScope::MusicbrainzEnrich
        ]
    );
    assert!(quota.refunded.lock().expect("lock").is_empty());
}

// Fix of an upstream bug: an AcoustID failure falls back to AudD when AudD is available.
#[tokio::test]
async fn an_acoustid_failure_falls_back_to_audd() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/lookup"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"status": "error", "error": {"code": 13, "message": "service unavailable"}}),
        ))
        .expect(3)
        .mount(&fakes.acoustid)
        .await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    fakes.musicbrainz_answers(0).await;
    let audio = fakes.audio(&[]);
    let messages = Messages::default();
    let quota = Quota::default();

    let result = identify(
        &fakes.services,
        &with_audd(request(&audio), false),
        &IdentifyHooks::default()
            .with_progress(&messages)
            .with_quota(&quota),
    )
    .await
    .expect("AudD rescued it");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert!(messages.any(ProgressLevel::Warning, "AcoustID lookup failed"));
    assert!(messages.any(ProgressLevel::Warning, "service unavailable"));
    // The failed AcoustID call is refunded.
    assert_eq!(
        *quota.refunded.lock().expect("lock"),
        vec![(QuotaScope::AcoustidLookup, 1)]
    );
}

#[tokio::test]
async fn an_acoustid_failure_without_audd_keeps_the_service_error() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "error", "error": {"code": 4, "message": "invalid API key"}}),
        ))
        .expect(1)
        .mount(&fakes.acoustid)
        .await;
    let audio = fakes.audio(&[]);
    let error = run(&fakes, &request(&audio)).await.expect_err("fails");
    let IdentifyError::Upstream(upstream) = &error else {
        panic!("not an upstream error: {error:?}");
    };
    assert_eq!(upstream.service(), Service::AcoustId);
    assert_eq!(upstream.service_code(), Some(4));
    assert!(matches!(
        upstream,
        UpstreamError::AcoustId(AcoustIdError::InvalidApiKey { message, .. }) if message == "invalid API key"
    ));
    assert_eq!(error.code(), "acoustid_invalid_api_key");
    assert!(error.to_string().contains("invalid API key"));
}

#[tokio::test]
async fn an_acoustid_failure_and_an_empty_audd_answer_report_the_failure() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "error", "error": {"code": 3, "message": "invalid fingerprint"}}),
        ))
        .mount(&fakes.acoustid)
        .await;
    fakes
        .audd_answers("/", json!({"status": "success", "result": null}), 1)
        .await;
    let audio = fakes.audio(&[]);
    let error = run(&fakes, &with_audd(request(&audio), false))
        .await
        .expect_err("nobody answered");
    assert_eq!(error.code(), "acoustid_invalid_fingerprint");
}

#[tokio::test]
async fn a_missing_acoustid_key_is_a_configuration_error() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let mut request = request(&audio);
    request.acoustid_api_key = Secret::new("");
    let quota = Quota::default();
    let error = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect_err("no key");
    assert!(matches!(error, IdentifyError::Config(_)), "{error:?}");
    assert!(quota.scopes().is_empty(), "no quota for a call never made");
}

// Fix of an upstream bug: a denied optional stage is skipped with a note instead of aborting.
#[tokio::test]
async fn a_denied_audd_feature_is_skipped() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let access = Access {
        denied: vec![Feature::Audd],
        ..Access::default()
    };
    let result = identify(
        &fakes.services,
        &with_audd(request(&audio), true),
        &IdentifyHooks::default().with_access(&access),
    )
    .await
    .expect("AcoustID still answers");
    assert_eq!(result.match_source, Some(MatchSource::AcoustId));
    assert_eq!(
        result.audd_error.as_deref(),
        Some("audd not permitted for this token")
    );
}

// Fix of an upstream bug: the MusicBrainz permission is only checked when there is something to
// enrich, and a denial skips enrichment.
#[tokio::test]
async fn the_musicbrainz_permission_is_checked_only_when_needed() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    let audio = fakes.audio(&[]);
    let access = Access {
        denied: vec![Feature::MusicbrainzEnrich],
        ..Access::default()
    };
    let result = identify(
        &fakes.services,
        &request(&audio),
        &IdentifyHooks::default().with_access(&access),
    )
    .await
    .expect("no match, no error");
    assert!(result.matches.is_empty());
    assert_eq!(
        *access.checked.lock().expect("lock"),
        vec![Feature::Identify]
    );

    let fakes = Fakes::start().await;
    let mut payload = acoustid_payload();
    payload["results"][0]["recordings"][0]["title"] = Value::Null;
    fakes.acoustid_answers(payload, 1).await;
    fakes.musicbrainz_answers(0).await;
    let messages = Messages::default();
    let result = identify(
        &fakes.services,
        &request(&audio),
        &IdentifyHooks::default()
            .with_access(&access)
            .with_progress(&messages),
    )
    .await
    .expect("enrichment skipped");
    assert_eq!(result.matches.len(), 2);
    assert!(messages.any(ProgressLevel::Warning, "MusicBrainz enrichment skipped"));
}

#[tokio::test]
async fn enrichment_fills_missing_fields_of_the_best_matches_only() {
    let fakes = Fakes::start().await;
    let ids = [
        MBID_1,
        MBID_2,
        "d3c7e2fb-0000-4042-ae91-78d6a3267d69",
        "e4d6f3ac-0000-4042-ae91-78d6a3267d69",
    ];
    let results: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": format!("t{i}"), "score": 0.9 - 0.1 * i as f64,
                   "recordings": [{"id": id}]})
        })
        .collect();
    fakes
        .acoustid_answers(json!({"status": "ok", "results": results}), 1)
        .await;
    fakes.musicbrainz_answers(2).await;
    let audio = fakes.audio(&[]);
    let mut request = request(&audio);
    request.musicbrainz.max_matches = 2;
    request.cache_enabled = true;
    let cache = MemoryLookupCache::default();
    let quota = Quota::default();

    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default()
            .with_cache(&cache)
            .with_quota(&quota),
    )
    .await
    .expect("identified");
    assert_eq!(result.matches[0].title.as_deref(), Some("Other Song (MB)"));
    assert_eq!(result.matches[0].artist.as_deref(), Some("A & B"));
    assert_eq!(
        result.matches[1].release_group_title.as_deref(),
        Some("MB Album")
    );
    assert_eq!(result.matches[2].title, None, "beyond max_matches");
    assert!(
        quota
            .consumed
            .lock()
            .expect("lock")
            .contains(&(QuotaScope::MusicbrainzEnrich, 2)),
        "one unit per MusicBrainz request"
    );

    // The enriched result was cached: a second run sends no request at all.
    let again = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_cache(&cache),
    )
    .await
    .expect("from cache");
    assert_eq!(again.matches, result.matches);
    assert_eq!(again.match_source, Some(MatchSource::AcoustId));
}

#[tokio::test]
async fn a_cache_hit_skips_every_service_and_quota() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let mut request = with_audd(request(&audio), true);
    request.audd.enabled = false;
    request.cache_enabled = true;
    let cache = MemoryLookupCache::default();
    let first = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_cache(&cache),
    )
    .await
    .expect("first");
    assert_eq!(cache.len(), 1);

    request.audd.enabled = true; // a hit suppresses even a preferred AudD
    let quota = Quota::default();
    let second = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default()
            .with_cache(&cache)
            .with_quota(&quota),
    )
    .await
    .expect("second");
    assert_eq!(second.matches, first.matches);
    assert_eq!(second.match_source, Some(MatchSource::AcoustId));
    assert!(quota.scopes().is_empty());
}

#[tokio::test]
async fn refresh_skips_the_cache_read() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 2).await;
    let audio = fakes.audio(&[]);
    let mut request = request(&audio);
    request.cache_enabled = true;
    request.refresh_cache = true;
    let cache = MemoryLookupCache::default();
    let hooks = IdentifyHooks::default().with_cache(&cache);
    identify(&fakes.services, &request, &hooks)
        .await
        .expect("first");
    identify(&fakes.services, &request, &hooks)
        .await
        .expect("second");
    assert_eq!(cache.len(), 1, "results are still stored");
}

// Fix of an upstream bug: empty results are not cached (no sticky negatives, no "acoustid" source
// for them).
#[tokio::test]
async fn empty_results_are_not_cached() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 2).await;
    let audio = fakes.audio(&[]);
    let mut request = request(&audio);
    request.cache_enabled = true;
    let cache = MemoryLookupCache::default();
    let hooks = IdentifyHooks::default().with_cache(&cache);
    let first = identify(&fakes.services, &request, &hooks)
        .await
        .expect("first");
    let second = identify(&fakes.services, &request, &hooks)
        .await
        .expect("second");
    assert!(cache.is_empty());
    assert_eq!(first.match_source, None);
    assert_eq!(second.match_source, None);
}

// Fix of an upstream bug: AudD results are cached too, and a hit reports their source.
#[tokio::test]
async fn cached_audd_results_keep_their_source() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    let audio = fakes.audio(&[]);
    let mut request = with_audd(request(&audio), false);
    request.cache_enabled = true;
    let cache = MemoryLookupCache::default();
    let hooks = IdentifyHooks::default().with_cache(&cache);
    identify(&fakes.services, &request, &hooks)
        .await
        .expect("first");
    let second = identify(&fakes.services, &request, &hooks)
        .await
        .expect("second");
    assert_eq!(second.match_source, Some(MatchSource::AudD));
    assert_eq!(second.matches[0].title.as_deref(), Some("Warriors"));
}

// Fix of an upstream bug: audd_note is only set when AudD supplied the matches.
#[tokio::test]
async fn no_audd_note_when_audd_found_nothing() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes
        .audd_answers("/", json!({"status": "success", "result": null}), 1)
        .await;
    let audio = fakes.audio(&[]);
    let result = run(&fakes, &with_audd(request(&audio), false))
        .await
        .expect("no error");
    assert!(result.matches.is_empty());
    assert_eq!(result.audd_note, None);
    assert_eq!(result.audd_error, None);
}

#[tokio::test]
async fn the_enterprise_fallback_goes_both_ways() {
    // Standard finds nothing → enterprise.
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes
        .audd_answers("/", json!({"status": "success", "result": null}), 1)
        .await;
    fakes
        .audd_answers("/enterprise/", audd_enterprise_payload(), 1)
        .await;
    let audio = fakes.audio(&[]);
    let mut request = with_audd(request(&audio), false);
    request.audd.enterprise_fallback = true;
    let quota = Quota::default();
    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect("enterprise answered");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert_eq!(result.matches[0].offset.as_deref(), Some("00:00"));
    assert_eq!(
        quota.scopes(),
        vec![
            QuotaScope::AcoustidLookup,
            QuotaScope::AuddStandardLookup,
            QuotaScope::AuddEnterpriseLookup
        ]
    );

    // Forced enterprise fails → standard.
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    Mock::given(method("POST"))
        .and(path("/enterprise/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "error", "error": {"error_code": 902, "error_message": "limit reached"}
        })))
        .expect(1)
        .mount(&fakes.audd)
        .await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    let mut request = with_audd(self::request(&audio), false);
    request.audd.enterprise_fallback = true;
    request.audd.force_enterprise = true;
    let result = run(&fakes, &request).await.expect("standard answered");
    assert_eq!(result.match_source, Some(MatchSource::AudD));
    assert_eq!(result.audd_note.as_deref(), Some("Source: AudD."));
    assert_eq!(
        result.audd_error.as_deref(),
        Some("AudD error 902: limit reached")
    );
}

#[tokio::test]
async fn an_exhausted_acoustid_quota_is_a_typed_error() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let quota = Quota {
        exhausted: vec![QuotaScope::AcoustidLookup],
        ..Quota::default()
    };
    let error = identify(
        &fakes.services,
        &request(&audio),
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect_err("over quota");
    match error {
        IdentifyError::QuotaExceeded {
            scope,
            message,
            resets_at,
        } => {
            assert_eq!(scope, QuotaScope::AcoustidLookup);
            assert!(message.starts_with("Quota exceeded for acoustid_lookup"));
            assert!(resets_at.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_exhausted_audd_quota_is_recorded_not_fatal() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 0).await;
    let audio = fakes.audio(&[]);
    let quota = Quota {
        exhausted: vec![QuotaScope::AuddStandardLookup],
        ..Quota::default()
    };
    let result = identify(
        &fakes.services,
        &with_audd(request(&audio), false),
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect("no error");
    assert!(result.matches.is_empty());
    assert!(
        result
            .audd_error
            .as_deref()
            .is_some_and(|e| e.starts_with("Quota exceeded for audd_standard_lookup"))
    );
}

#[tokio::test]
async fn a_refused_audd_attempt_never_falls_back_to_the_other_endpoint() {
    // The standard quota is spent: the whole file must not go to the enterprise endpoint
    // instead, even with the fallback on.
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 0).await;
    fakes
        .audd_answers("/enterprise/", audd_enterprise_payload(), 0)
        .await;
    let audio = fakes.audio(&[]);
    let mut request = with_audd(request(&audio), false);
    request.audd.enterprise_fallback = true;
    let quota = Quota {
        exhausted: vec![QuotaScope::AuddStandardLookup],
        ..Quota::default()
    };
    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect("no error");
    assert!(result.matches.is_empty());
    assert_eq!(quota.scopes(), vec![QuotaScope::AcoustidLookup]);
    assert!(
        result
            .audd_error
            .as_deref()
            .is_some_and(|e| e.starts_with("Quota exceeded for audd_standard_lookup"))
    );

    // Forced enterprise over its quota does not turn into a standard call either.
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    fakes.audd_answers("/", audd_standard_payload(), 0).await;
    fakes
        .audd_answers("/enterprise/", audd_enterprise_payload(), 0)
        .await;
    let mut request = with_audd(self::request(&audio), false);
    request.audd.enterprise_fallback = true;
    request.audd.force_enterprise = true;
    let quota = Quota {
        exhausted: vec![QuotaScope::AuddEnterpriseLookup],
        ..Quota::default()
    };
    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_quota(&quota),
    )
    .await
    .expect("no error");
    assert!(result.matches.is_empty());
    assert_eq!(quota.scopes(), vec![QuotaScope::AcoustidLookup]);
}

#[tokio::test]
async fn bad_audio_is_a_typed_error() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    let bogus = fakes.dir.path().join("bogus.mp3");
    std::fs::write(&bogus, b"this is not audio").expect("write");
    let error = run(&fakes, &request(&bogus)).await.expect_err("not audio");
    assert!(matches!(error, IdentifyError::BadAudio(_)), "{error:?}");

    let missing = fakes.dir.path().join("missing.mp3");
    let error = run(&fakes, &request(&missing)).await.expect_err("missing");
    assert_eq!(error.code(), "file_not_found");
}

#[tokio::test]
async fn snippet_messages_and_low_level_warning() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(acoustid_payload(), 0).await;
    fakes.audd_answers("/", audd_standard_payload(), 1).await;
    let silence = fakes.dir.path().join("silence.wav");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("anullsrc=r=11025:cl=mono")
        .args(["-t", "10"])
        .arg(&silence)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let mut request = with_audd(request(&silence), true);
    request.audd.snippet_offset_seconds = 5.0;
    request.audd.snippet_min_rms = Some(0.01);
    let messages = Messages::default();
    run_with(&fakes, &request, &messages).await;
    assert!(messages.any(
        ProgressLevel::Info,
        "Preparing AudD snippet (~12s, mono 16 kHz) starting at ~5.00s before upload."
    ));
    assert!(messages.any(ProgressLevel::Warning, "AudD snippet RMS is low"));
}

async fn run_with(fakes: &Fakes, request: &IdentifyRequest, messages: &Messages) {
    identify(
        &fakes.services,
        request,
        &IdentifyHooks::default().with_progress(messages),
    )
    .await
    .expect("identified");
}

#[tokio::test]
async fn the_audd_token_never_reaches_results_or_messages() {
    let fakes = Fakes::start().await;
    fakes.acoustid_answers(empty_acoustid(), 1).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "error",
            "error": {"error_code": 900, "error_message": format!("bad token {AUDD_TOKEN}")},
            "request_params": {"api_token": AUDD_TOKEN}
        })))
        .mount(&fakes.audd)
        .await;
    let audio = fakes.audio(&[]);
    let messages = Messages::default();
    let request = with_audd(request(&audio), false);
    let result = identify(
        &fakes.services,
        &request,
        &IdentifyHooks::default().with_progress(&messages),
    )
    .await
    .expect("no error");
    let everything = format!(
        "{} {:?} {:?} {:?}",
        serde_json::to_string(&result).expect("json"),
        result,
        request,
        messages.0.lock().expect("lock")
    );
    assert!(result.audd_error.is_some());
    assert!(!everything.contains(AUDD_TOKEN), "{everything}");
}

// Fix of an upstream bug: real HTTPS endpoints, finite timeouts and retries by default.
#[test]
fn defaults_use_https_timeouts_and_retries() {
    let config = recozik_core::ServicesConfig::default();
    assert_eq!(
        config.acoustid.endpoint,
        "https://api.acoustid.org/v2/lookup"
    );
    assert_eq!(config.audd.standard_endpoint, "https://api.audd.io/");
    assert_eq!(
        config.audd.enterprise_endpoint,
        "https://enterprise.audd.io/"
    );
    assert_eq!(config.musicbrainz.base_url, "https://musicbrainz.org");
    assert!(config.acoustid.timeout_seconds > 0.0 && config.acoustid.timeout_seconds <= 20.0);
    assert!(config.audd.enterprise_timeout_seconds > config.audd.standard_timeout_seconds);
    assert!(config.acoustid.retry.max_retries > 0);
    assert!(config.musicbrainz.retry.max_retries > 0);
    Services::new(&config).expect("the defaults are valid");

    let mut broken = config;
    broken.acoustid.endpoint = "ftp://example.org".into();
    let error = Services::new(&broken).expect_err("not http");
    assert_eq!(error.setting, "acoustid.endpoint");
    broken.acoustid.endpoint = "https://api.acoustid.org/v2/lookup".into();
    broken.musicbrainz.requests_per_second = -1.0;
    assert!(Services::new(&broken).is_err());
}

/// A batch finishes files it has fingerprinted and looked up itself; the recordings of one
/// batch are fetched from MusicBrainz (and metered) once, whatever the number of files.
#[tokio::test]
async fn a_batch_fetches_each_recording_once_and_does_not_look_up_again() {
    use recozik_core::identify::{
        AcoustIdStep, RecordingMemo, fingerprint_blocking, identify_fingerprinted,
    };
    let fakes = Fakes::start().await;
    fakes.musicbrainz_answers(1).await;
    // A batch's AcoustID answer comes with the call: the service must not be asked again.
    fakes
        .acoustid_answers(json!({"status": "ok", "results": []}), 0)
        .await;
    let audio = fakes.audio(&[]);
    let request = request(&audio);
    let fingerprint = fingerprint_blocking(audio.clone(), request.fingerprint)
        .await
        .expect("fingerprint");
    let memo = RecordingMemo::default();
    let quota = Quota::default();
    for _ in 0..3 {
        let result = identify_fingerprinted(
            &fakes.services,
            &request,
            &IdentifyHooks::default()
                .with_quota(&quota)
                .with_recordings(&memo),
            fingerprint.clone(),
            AcoustIdStep::LookedUp(Ok(vec![Match::new(0.9, MBID_1)])),
        )
        .await
        .expect("identified");
        assert_eq!(result.matches[0].title.as_deref(), Some("Other Song (MB)"));
        assert_eq!(result.match_source, Some(MatchSource::AcoustId));
    }
    assert_eq!(
        quota.scopes(),
        vec![QuotaScope::MusicbrainzEnrich],
        "no AcoustID quota (the batch spent it) and one MusicBrainz unit"
    );
    let failed = identify_fingerprinted(
        &fakes.services,
        &request,
        &IdentifyHooks::default(),
        fingerprint,
        AcoustIdStep::LookedUp(Err(AcoustIdError::Timeout)),
    )
    .await;
    assert!(
        matches!(failed, Err(IdentifyError::Upstream(_))),
        "{failed:?}"
    );
}
