//! Library batches: a fake AcoustID that answers batched lookups and records what it saw
//! (fingerprints, durations, arrival times), media libraries of distinct sounds, the
//! `recozik-web` settings of a batch test, and the HTTP helpers of the batch endpoints.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{ADMIN_PASSWORD, ADMIN_TOKEN, MBID, answer, client, fixture};

/// One request the fake AcoustID received.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// When it arrived (before the fake's delay).
    pub at: Instant,
    /// Its fingerprints, in the request's order.
    pub fingerprints: Vec<String>,
    /// Their durations, as sent.
    pub durations: Vec<String>,
}

/// A fake AcoustID answering every fingerprint of a lookup (batched or not) with one
/// recording, after `delay`; records every request.
#[derive(Clone, Default)]
pub struct BatchAcoustId {
    seen: Arc<Mutex<Vec<Lookup>>>,
    delay: Duration,
}

impl BatchAcoustId {
    /// A fake that answers each request `delay` after it arrives.
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// A wiremock server answering every POST with this fake.
    pub async fn serve(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    pub fn lookups(&self) -> Vec<Lookup> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests received.
    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Fingerprints received, over all requests.
    pub fn fingerprints_sent(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.fingerprints.len())
            .sum()
    }

    /// How many times each fingerprint was received.
    pub fn fingerprint_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for lookup in self.seen.lock().unwrap().iter() {
            for fingerprint in &lookup.fingerprints {
                *counts.entry(fingerprint.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// The form of a request, gunzipped when it says so.
fn form_pairs(request: &Request) -> Vec<(String, String)> {
    let mut body = request.body.clone();
    if request
        .headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip")
    {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        body = plain;
    }
    url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Respond for BatchAcoustId {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let at = Instant::now();
        let pairs = form_pairs(request);
        let batch = pairs.iter().any(|(k, v)| k == "batch" && v == "1");
        let values = |prefix: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == prefix || k.starts_with(&format!("{prefix}.")))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let fingerprints = values("fingerprint");
        let count = fingerprints.len();
        self.seen.lock().unwrap().push(Lookup {
            at,
            fingerprints,
            durations: values("duration"),
        });
        let results = |index: usize| {
            json!([{"id": format!("track-{index}"), "score": 0.9, "recordings": [{
                "id": MBID, "title": "Chanson", "artists": [{"name": "Artiste"}],
                "releasegroups": [{"id": "rg-1", "title": "Album", "releases": [{"id": "rel-1"}]}]
            }]}])
        };
        let body = if batch {
            let entries: Vec<Value> = (0..count)
                .map(|index| json!({"index": index, "results": results(index)}))
                .collect();
            json!({"status": "ok", "fingerprints": entries})
        } else {
            json!({"status": "ok", "results": results(0)})
        };
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

/// The lookup URL of a fake AcoustID server.
pub fn lookup_endpoint(server: &MockServer) -> String {
    format!("{}/v2/lookup", server.uri())
}

/// The core fixtures a mixed library copies, one of each format (their sounds differ).
pub const FORMAT_FIXTURES: [&str; 5] = [
    "mp3_cbr_44k_stereo_tagged.mp3",
    "flac_44k_stereo_tagged.flac",
    "vorbis_96k_stereo_tagged.ogg",
    "wav_s16_8k_mono.wav",
    "mp3_vbr_22k_mono.mp3",
];

/// A 16-bit mono WAV at 8 kHz, `seconds` long: a melody of 250 ms notes whose pitches come
/// from `seed`, so that two seeds never sound (or fingerprint) alike.
pub fn melody_wav(seed: u64, seconds: u32) -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples = RATE * seconds;
    let note_len = RATE / 4;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut pitches = (0..samples.div_ceil(note_len))
        .map(|_| {
            let semitone = f64::from(u32::try_from(next() % 36).unwrap());
            220.0 * (semitone / 12.0).exp2()
        })
        .collect::<Vec<f64>>()
        .into_iter();
    let mut data = Vec::with_capacity(samples as usize * 2);
    let mut pitch = 0.0;
    for index in 0..samples {
        if index % note_len == 0 {
            pitch = pitches.next().unwrap();
        }
        let t = f64::from(index) / f64::from(RATE);
        let wave = (std::f64::consts::TAU * pitch * t).sin() * 0.6
            + (std::f64::consts::TAU * pitch * 1.5 * t).sin() * 0.25;
        #[allow(clippy::cast_possible_truncation)]
        let sample = (wave * f64::from(i16::MAX) * 0.9) as i16;
        data.extend_from_slice(&sample.to_le_bytes());
    }
    let mut wav = Vec::with_capacity(44 + data.len());
    let data_len = u32::try_from(data.len()).unwrap();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// Melodies `seeds` (each `seconds` long) as `{dir}/melody {seed}.wav` under `media`;
/// returns their paths relative to `media`.
pub fn melodies(media: &Path, dir: &str, seeds: std::ops::Range<u64>, seconds: u32) -> Vec<String> {
    std::fs::create_dir_all(media.join(dir)).unwrap();
    seeds
        .map(|seed| {
            let relative = format!("{dir}/melody {seed:03}.wav");
            std::fs::write(media.join(&relative), melody_wav(seed, seconds)).unwrap();
            relative
        })
        .collect()
}

/// `count` (at least 5) audio files that all sound different under `media/{dir}`: the
/// [`FORMAT_FIXTURES`] once each (mp3, flac, ogg, wav), then melodies. Returns their paths
/// relative to `media`, sorted.
pub fn mixed_library(media: &Path, dir: &str, count: usize) -> Vec<String> {
    assert!(count >= FORMAT_FIXTURES.len());
    std::fs::create_dir_all(media.join(dir)).unwrap();
    let mut paths: Vec<String> = FORMAT_FIXTURES
        .iter()
        .map(|name| {
            let relative = format!("{dir}/fixture {name}");
            std::fs::copy(fixture(name), media.join(&relative)).unwrap();
            relative
        })
        .collect();
    let more = (count - FORMAT_FIXTURES.len()) as u64;
    paths.extend(melodies(media, dir, 0..more, 6));
    paths.sort();
    paths
}

/// The library of `batch_jobs.rs`: six audio files (two in a sub-folder), a file that is not
/// audio, a text file, and a symbolic link, under `lib/` of `media`.
pub fn sample_library(media: &Path) {
    let lib = media.join("lib");
    std::fs::create_dir_all(lib.join("disc 2")).unwrap();
    for (fixture_name, target) in [
        ("mp3_cbr_44k_stereo_tagged.mp3", "lib/01 first.mp3"),
        ("flac_44k_stereo_tagged.flac", "lib/02 second.flac"),
        ("vorbis_96k_stereo_tagged.ogg", "lib/03 third.ogg"),
        ("wav_s16_8k_mono.wav", "lib/04 fourth.wav"),
        ("mp3_vbr_22k_mono.mp3", "lib/disc 2/05 fifth.mp3"),
        ("aac_44k_stereo_tagged.m4a", "lib/disc 2/06 sixth.m4a"),
    ] {
        std::fs::copy(fixture(fixture_name), media.join(target)).unwrap();
    }
    std::fs::write(lib.join("07 broken.mp3"), b"this is not audio at all").unwrap();
    std::fs::write(lib.join("notes.txt"), b"not selected").unwrap();
    std::os::unix::fs::symlink(media.join("lib/01 first.mp3"), lib.join("08 link.mp3")).unwrap();
}

/// Checks a rename dry run of [`sample_library`]'s `lib/`: the tagged files get the fake's
/// `Artiste - Chanson` names, the broken file is skipped with its reason, nothing moved.
pub fn check_sample_dry_run(plan: &Value, media: &Path) {
    assert_eq!(plan["applied"], false, "{plan}");
    let targets: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert!(targets.contains(&"lib/Artiste - Chanson.mp3"), "{plan}");
    assert!(targets.contains(&"lib/Artiste - Chanson.flac"), "{plan}");
    assert!(
        plan["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["message"]
                .as_str()
                .unwrap_or_default()
                .contains("07 broken.mp3")),
        "the failed file is skipped with its reason: {plan}"
    );
    assert!(
        media.join("lib/01 first.mp3").is_file(),
        "a dry run moves nothing"
    );
}

/// `RECOZIK_WEB_*` settings (without the prefix) of a `recozik-web` running batches on
/// `media` against the fake AcoustID at `acoustid_endpoint`: MusicBrainz, the cache and the
/// rate limits off, one worker, a 5 s lease; then `extra`.
pub fn batch_server_vars(
    media: &Path,
    acoustid_endpoint: &str,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = vec![
        ("base_media_root", media.display().to_string()),
        ("admin_token", ADMIN_TOKEN.to_owned()),
        ("admin_password", ADMIN_PASSWORD.to_owned()),
        ("acoustid_api_key", "api-key".to_owned()),
        ("acoustid_endpoint", acoustid_endpoint.to_owned()),
        ("musicbrainz_enabled", "false".to_owned()),
        ("rate_limit_enabled", "false".to_owned()),
        ("cache_enabled", "false".to_owned()),
        ("job_lease_seconds", "5".to_owned()),
        ("workers", "1".to_owned()),
        ("shutdown_grace_seconds", "1".to_owned()),
    ];
    vars.extend(extra.iter().cloned());
    vars
}

/// `POST {url}` with a JSON body and a token; returns status and JSON body.
pub async fn post_json(url: &str, token: &str, body: &Value) -> (u16, Value) {
    answer(client().post(url).json(body), token).await
}

/// `POST {base}/identify/batch`.
pub async fn post_batch(base: &str, token: &str, body: &Value) -> (u16, Value) {
    post_json(&format!("{base}/identify/batch"), token, body).await
}

/// [`post_batch`], expecting a queued batch of `files` files; returns the job id.
pub async fn submit_batch(base: &str, token: &str, body: &Value, files: usize) -> String {
    let (status, queued) = post_batch(base, token, body).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["status"], "queued", "{queued}");
    assert_eq!(queued["kind"], "batch", "{queued}");
    assert_eq!(queued["files"], files, "{queued}");
    queued["job_id"].as_str().unwrap().to_owned()
}

/// `DELETE {url}` with a token; returns status and JSON body.
pub async fn delete_json(url: &str, token: &str) -> (u16, Value) {
    answer(client().delete(url), token).await
}

/// `GET url` with a token; returns status, content type and text.
pub async fn get_text(url: &str, token: &str) -> (u16, String, String) {
    let response = client()
        .get(url)
        .header("X-API-Token", token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap_or_default())
}

/// The JSONL entries of `GET {base}/jobs/{job_id}/results`, one JSON value per line.
pub async fn result_entries(base: &str, token: &str, job_id: &str) -> Vec<Value> {
    let (status, kind, jsonl) = get_text(&format!("{base}/jobs/{job_id}/results"), token).await;
    assert_eq!(status, 200, "{jsonl}");
    assert!(kind.starts_with("application/x-ndjson"), "{kind}");
    jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A batch's `progress.done` (0 when absent).
pub fn done(job: &Value) -> u64 {
    job["progress"]["done"].as_u64().unwrap_or(0)
}
