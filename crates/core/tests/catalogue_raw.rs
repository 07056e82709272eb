//! The catalogue's raw items: whole tracks equal `fpcalc -raw -length 0` on every committed
//! fixture, a query's four phases come from one decode and one of them lines up with the track
//! wherever a snippet was cut, long queries are refused, and hostile files end in typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers report failures by panicking

mod hostile_support;
mod memory_support;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hostile_support::{HostileCorpus, report};
use memory_support::{child_peak_kib, own_peak_kib};
use recozik_core::AudioError;
use recozik_core::FingerprintOptions;
use recozik_core::audio::{DecodeLimits, PcmFormat, decode_pcm};
use recozik_core::catalogue::raw::{
    ITEM_HOP_SAMPLES, ITEM_SECONDS, PhasedItems, QUERY_PHASES, RawItems, query_items, track_items,
};
use serde::Deserialize;

const RATE: u32 = 11_025;

#[derive(Debug, Deserialize)]
struct Reference {
    duration: f64,
    fingerprint: Vec<u32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Every audio fixture of the top folder (each has its recorded fpcalc outputs beside it).
fn good_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext != "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 13, "expected the full fixture set");
    files
}

/// What `fpcalc -raw -length 0 -json` printed for `file` (recorded once, committed beside it).
fn recorded_raw_full(file: &Path) -> Reference {
    let name = format!(
        "{}.fpcalc-raw-full.json",
        file.file_name().unwrap().to_string_lossy()
    );
    let text = std::fs::read_to_string(file.with_file_name(name)).expect("recorded fpcalc output");
    serde_json::from_str(&text).expect("reference JSON")
}

fn options() -> FingerprintOptions {
    FingerprintOptions {
        decode_timeout_seconds: 20,
        ..FingerprintOptions::default()
    }
}

fn track(path: &Path) -> RawItems {
    track_items(path, &options()).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn whole_tracks_equal_fpcalc_raw_length_0_on_every_fixture() {
    let mut total = 0;
    for file in good_fixtures() {
        let expected = recorded_raw_full(&file);
        let ours = track(&file);
        assert!(!expected.fingerprint.is_empty(), "{}", file.display());
        assert_eq!(
            ours.items,
            expected.fingerprint,
            "{}: items differ from fpcalc's",
            file.display()
        );
        // fpcalc -json prints the duration with two decimals.
        assert!(
            (ours.duration_seconds - expected.duration).abs() < 0.0051,
            "{}: duration {} vs fpcalc's {}",
            file.display(),
            ours.duration_seconds,
            expected.duration
        );
        assert!((ours.item_seconds - ITEM_SECONDS).abs() < f64::EPSILON);
        assert!(ours.decoded_seconds > 0.0);
        total += ours.items.len();
    }
    report(&format!("catalogue raw: {total} items equal to fpcalc's"));
}

#[test]
fn track_items_cover_the_whole_file_whatever_the_length_option() {
    let file = fixture("long_130s_16k_mono.mp3");
    // The default options analyse 120 s for AcoustID; a catalogue track is always whole.
    let ours = track_items(&file, &FingerprintOptions::default()).unwrap();
    let expected = recorded_raw_full(&file);
    assert_eq!(ours.items, expected.fingerprint);
    assert!(ours.items.len() > 1_000, "{}", ours.items.len());
    // Chromaprint's item count: floor((samples − 4096) / 1365) + 1 − 19.
    let samples = (ours.decoded_seconds * f64::from(RATE)).round();
    let predicted = ((samples - 4096.0) / f64::from(ITEM_HOP_SAMPLES)).floor() + 1.0 - 19.0;
    assert!(
        (ours.items.len() as f64 - predicted).abs() <= 1.0,
        "{} items, {predicted} predicted",
        ours.items.len()
    );
}

#[test]
fn a_query_gives_four_phases_from_one_decode_and_phase_0_is_the_track() {
    for name in ["mp3_cbr_44k_stereo_tagged.mp3", "opus_48k_stereo.opus"] {
        let file = fixture(name);
        let query = query_items(&file, &options(), 60).unwrap();
        let expected = recorded_raw_full(&file);
        assert_eq!(query.phases.len(), 4);
        let offsets: Vec<u32> = query.phases.iter().map(|p| p.offset_samples).collect();
        assert_eq!(offsets, QUERY_PHASES);
        assert_eq!(query.phases[0].items, expected.fingerprint, "{name}");
        for phase in &query.phases[1..] {
            let (len, first) = (phase.items.len(), query.phases[0].items.len());
            assert!(len == first || len + 1 == first, "{name}: {len} vs {first}");
            assert_ne!(
                phase.items, query.phases[0].items,
                "{name}: a distinct framing"
            );
        }
        assert!((query.phases[2].offset_seconds() - 683.0 / 11_025.0).abs() < 1e-12);
        assert!((query.duration_seconds - expected.duration).abs() < 0.0051);
    }
}

#[test]
fn queries_longer_than_the_limit_are_refused_with_a_typed_error() {
    let file = fixture("long_130s_16k_mono.mp3");
    let started = Instant::now();
    let error = query_items(&file, &options(), 30).expect_err("130 s is over 30 s");
    assert_eq!(error.code(), "audio_too_long", "{error}");
    assert!(matches!(
        error,
        AudioError::TooLong {
            max_seconds: 30,
            ..
        }
    ));
    assert!(error.is_bad_input());
    assert!(
        error.to_string().contains("long_130s_16k_mono.mp3"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let error = query_items(&fixture("wav_s16_8k_mono.wav"), &options(), 0).expect_err("0 s");
    assert_eq!(error.code(), "audio_too_long", "{error}");
    // The same file within its limit.
    let query = query_items(&file, &options(), 131).unwrap();
    assert_eq!(query.phases[0].items, recorded_raw_full(&file).fingerprint);
}

#[test]
fn bad_fixtures_give_the_same_typed_errors_as_fingerprinting() {
    for (name, code) in [
        ("empty.mp3", "empty_file"),
        ("text.mp3", "not_audio"),
        ("truncated.mp3", "truncated_audio"),
        ("random.flac", "corrupt_audio"),
        ("video_only.mp4", "no_audio_stream"),
        ("too_short_1.5s.wav", "audio_too_short"),
    ] {
        let path = fixtures().join("bad").join(name);
        let error = track_items(&path, &options()).expect_err(name);
        assert_eq!(error.code(), code, "track {name}: {error}");
        let error = query_items(&path, &options(), 60).expect_err(name);
        assert_eq!(error.code(), code, "query {name}: {error}");
    }
    let missing = fixtures().join("no_such_file.mp3");
    assert_eq!(
        track_items(&missing, &options()).unwrap_err().code(),
        "file_not_found"
    );
}

/// The fixture's audio as the catalogue sees it: mono 16-bit at 11 025 Hz.
fn decode_11k(path: &Path) -> Vec<i16> {
    let mut samples = Vec::new();
    decode_pcm(
        path,
        PcmFormat {
            sample_rate: RATE,
            channels: 1,
        },
        DecodeLimits::default(),
        |chunk| {
            samples.extend_from_slice(chunk);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    samples
}

/// Writes `samples` as a mono 16-bit PCM WAV file at `rate` Hz.
fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data_len = u32::try_from(samples.len() * 2).unwrap();
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// How one phase of a query lines up with the track at the item offset its framing implies.
#[derive(Debug, Clone, Copy)]
struct Alignment {
    phase: u32,
    identical: f64,
    mean_bit_errors: f64,
}

fn align(track: &[u32], query: &PhasedItems, snippet_start: usize) -> Vec<Alignment> {
    query
        .phases
        .iter()
        .map(|phase| {
            let start = snippet_start + phase.offset_samples as usize;
            // The track item whose frame starts nearest the phase's first frame.
            let offset = (start + ITEM_HOP_SAMPLES as usize / 2) / ITEM_HOP_SAMPLES as usize;
            let pairs: Vec<(u32, u32)> = phase
                .items
                .iter()
                .zip(&track[offset..])
                .map(|(&q, &t)| (q, t))
                .collect();
            assert!(
                pairs.len() + 1 >= phase.items.len(),
                "the snippet lies inside"
            );
            let identical = pairs.iter().filter(|(q, t)| q == t).count();
            let bits: u32 = pairs.iter().map(|(q, t)| (q ^ t).count_ones()).sum();
            Alignment {
                phase: phase.offset_samples,
                identical: identical as f64 / pairs.len() as f64,
                mean_bit_errors: f64::from(bits) / pairs.len() as f64,
            }
        })
        .collect()
}

#[test]
fn one_of_the_four_phases_lines_up_with_the_track_wherever_a_snippet_starts() {
    let file = fixture("long_130s_16k_mono.mp3");
    let pcm = decode_11k(&file);
    let whole = track(&file);
    let dir = tempfile::tempdir().unwrap();
    let hop = ITEM_HOP_SAMPLES as usize;
    let snippet_len = 10 * RATE as usize;
    // Snippet starts (in samples at 11 025 Hz), none a multiple of the hop: three that one
    // phase frames exactly like the track, and three in between the phases.
    let cases: [(usize, u32); 6] = [
        (100 * hop - 341, 341),
        (250 * hop - 683, 683),
        (400 * hop - 1024, 1024),
        (60 * hop + 700, 683),
        (333 * hop + 300, 1024),
        (500 * hop + 1100, 341),
    ];
    for (start, expected_phase) in cases {
        assert_ne!(start % hop, 0);
        let path = dir.path().join(format!("snippet_{start}.wav"));
        write_wav(&path, RATE, &pcm[start..start + snippet_len]);
        let query = query_items(&path, &options(), 15).unwrap();
        let alignments = align(&whole.items, &query, start);
        let best = alignments
            .iter()
            .copied()
            .max_by(|a, b| a.identical.total_cmp(&b.identical))
            .unwrap();
        let residual = (start + expected_phase as usize) % hop;
        let residual = residual.min(hop - residual);
        report(&format!(
            "catalogue raw: snippet at {start} samples ({:.3} s, {residual} samples from the \
             best phase's framing): {}",
            start as f64 / f64::from(RATE),
            alignments
                .iter()
                .map(|a| format!(
                    "phase {} {:.0} % identical, {:.2} bit errors",
                    a.phase,
                    a.identical * 100.0,
                    a.mean_bit_errors
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        assert_eq!(best.phase, expected_phase, "{start}: {alignments:?}");
        let phase_0 = alignments[0];
        assert!(
            best.mean_bit_errors < phase_0.mean_bit_errors,
            "{start}: {alignments:?}"
        );
        if residual == 0 {
            assert!(best.identical >= 0.9, "{start}: {alignments:?}");
        } else {
            assert!(
                best.identical > phase_0.identical,
                "{start}: {alignments:?}"
            );
        }
    }
}

/// Files that name other files, or are no audio container at all (as in `tests/hostile.rs`).
const REFUSED_CONTAINERS: &[&str] = &[
    "hls_parent_dir.mp3",
    "hls_absolute_path.m4a",
    "hls_live_no_end.mp3",
    "hls_file_url.flac",
    "ffconcat_sibling.wav",
    "ffconcat_parent.ogg",
    "dash_manifest.mp3",
    "rtp_session.sdp.mp3",
    "png_image.mp3",
];

type Outcomes = (
    Result<RawItems, AudioError>,
    Result<PhasedItems, AudioError>,
);

fn describe<T>(result: &Result<T, AudioError>, items: impl Fn(&T) -> usize) -> String {
    match result {
        Ok(value) => format!("ok {} items", items(value)),
        Err(error) => format!("error {}", error.code()),
    }
}

/// Items are bounded by the audio decoded (about 8.08 per second), durations are finite.
fn check_bounded(
    name: &str,
    items: usize,
    decoded: f64,
    duration: f64,
    failures: &mut Vec<String>,
) {
    let most = decoded * f64::from(RATE) / f64::from(ITEM_HOP_SAMPLES) + 1.0;
    if items as f64 > most || !duration.is_finite() || !(0.0..=864_000.0).contains(&duration) {
        failures.push(format!(
            "{name}: {items} items for {decoded} s decoded, duration {duration}"
        ));
    }
}

#[test]
fn every_hostile_file_ends_in_a_typed_error_or_bounded_items() {
    let corpus = HostileCorpus::prepare();
    let marker = track(&corpus.fixtures.join("marker/marker.mp3")).items;
    let mut failures = Vec::new();
    for name in corpus.names() {
        let path = corpus.root.join(&name);
        let (sender, receiver) = mpsc::channel::<Outcomes>();
        let started = Instant::now();
        std::thread::spawn(move || {
            // A panic drops the sender: reported below.
            let _ = sender.send((
                track_items(&path, &options()),
                query_items(&path, &options(), 60),
            ));
        });
        let (whole, query) = match receiver.recv_timeout(Duration::from_mins(1)) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                failures.push(format!("{name}: no outcome ({error:?})"));
                continue;
            }
        };
        let elapsed = started.elapsed();
        report(&format!(
            "catalogue raw hostile {name}: track {}; query {}; {:.2} s",
            describe(&whole, |t| t.items.len()),
            describe(&query, |q| q.phases[0].items.len()),
            elapsed.as_secs_f64()
        ));
        if elapsed > Duration::from_secs(45) {
            failures.push(format!("{name}: took {:.1} s", elapsed.as_secs_f64()));
        }
        if let Ok(whole) = &whole {
            check_bounded(
                &name,
                whole.items.len(),
                whole.decoded_seconds,
                whole.duration_seconds,
                &mut failures,
            );
            if whole.items == marker {
                failures.push(format!("{name}: produced the marker's items"));
            }
        }
        if let Ok(query) = &query {
            if query.phases.len() != 4 {
                failures.push(format!("{name}: {} phases", query.phases.len()));
            }
            for phase in &query.phases {
                check_bounded(
                    &name,
                    phase.items.len(),
                    query.decoded_seconds,
                    query.duration_seconds,
                    &mut failures,
                );
            }
        }
        for error in [whole.as_ref().err(), query.as_ref().err()]
            .into_iter()
            .flatten()
        {
            if !error.is_bad_input() {
                failures.push(format!("{name}: not blamed on the file: {error}"));
            }
            let refused = matches!(error, AudioError::ContainerNotAllowed { .. });
            if REFUSED_CONTAINERS.contains(&name.as_str()) && !refused {
                failures.push(format!("{name}: expected container_not_allowed: {error}"));
            }
        }
        if REFUSED_CONTAINERS.contains(&name.as_str()) && (whole.is_ok() || query.is_ok()) {
            failures.push(format!("{name}: a refused container gave items"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

const CHILD_FILE: &str = "RECOZIK_CATALOGUE_RAW_MEMORY_FILE";

/// A tune of eight notes, two per second, at 8 kHz (resampled on the way in, like most files).
fn write_tune(path: &Path, seconds: u32) {
    let rate = 8_000;
    let mut phase = 0.0_f64;
    let samples: Vec<i16> = (0..seconds * rate)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            let frequency = 220.0 + 55.0 * ((t * 2.0) % 8.0).floor();
            phase += std::f64::consts::TAU * frequency / f64::from(rate);
            (0.3 * f64::from(i16::MAX) * phase.sin()) as i16
        })
        .collect();
    write_wav(path, rate, &samples);
}

#[test]
fn whole_track_items_take_flat_memory() {
    if let Ok(file) = std::env::var(CHILD_FILE) {
        let items = track(Path::new(&file));
        let peak = own_peak_kib();
        println!("ITEMS={} PEAK_KIB={peak}", items.items.len());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("thirty-seconds.wav");
    let long = dir.path().join("twenty-minutes.wav");
    write_tune(&short, 30);
    write_tune(&long, 20 * 60);
    let (short_peak, long_peak) = (
        child_peak_kib("whole_track_items_take_flat_memory", CHILD_FILE, &short),
        child_peak_kib("whole_track_items_take_flat_memory", CHILD_FILE, &long),
    );
    report(&format!(
        "catalogue raw: peak memory of track_items: 30 s {short_peak} KiB, 20 min {long_peak} KiB"
    ));
    // Holding the 20 minutes of 11 025 Hz PCM would add 26 MB; the items are 39 kB.
    assert!(
        long_peak < short_peak + 8 * 1024,
        "peak memory grew from {short_peak} KiB to {long_peak} KiB"
    );
}
