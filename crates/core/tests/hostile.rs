//! The hostile corpus (`fixtures/hostile/`, written by `cargo xtask fixtures`) through
//! fingerprinting and tag reading: every file ends in a typed error or a result, in bounded time
//! and memory, never opens a file other than itself and never panics.
//!
//! Proof that no other file is opened: the marker audio file is copied outside the media root
//! (beside it, at the absolute path the playlists name) and next to the hostile files; its
//! fingerprint must never come out of a hostile file. Each file's outcome is written to the test
//! output.

mod hostile_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use hostile_support::{HostileCorpus, peak_memory_mib, report};
use recozik_core::{AudioError, FingerprintOptions, fingerprint_file, probe_file};

/// What one hostile file gave.
#[derive(Debug)]
struct Outcome {
    fingerprint: Result<String, AudioError>,
    whole_file: Result<String, AudioError>,
    title: Result<Option<String>, AudioError>,
    elapsed: Duration,
}

fn describe<T: std::fmt::Debug>(result: &Result<T, AudioError>) -> String {
    match result {
        Ok(value) => {
            let text = format!("{value:?}");
            format!("ok {}", text.chars().take(40).collect::<String>())
        }
        Err(error) => format!("error {}", error.code()),
    }
}

fn run(path: &std::path::Path) -> Outcome {
    let started = Instant::now();
    let options = FingerprintOptions {
        decode_timeout_seconds: 20,
        ..FingerprintOptions::default()
    };
    let fingerprint = fingerprint_file(path, &options).map(|f| f.fingerprint);
    let whole_file = fingerprint_file(
        path,
        &FingerprintOptions {
            max_length_seconds: 0,
            ..options
        },
    )
    .map(|f| f.fingerprint);
    let title = probe_file(path).map(|info| info.tags.title);
    Outcome {
        fingerprint,
        whole_file,
        title,
        elapsed: started.elapsed(),
    }
}

/// Files that name other files, or are not audio containers at all: refused by the demuxer
/// allowlist before anything else is read.
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

#[test]
fn every_hostile_file_ends_in_a_typed_outcome_without_reading_other_files() {
    let corpus = HostileCorpus::prepare();
    let marker = &corpus.marker_fingerprint;
    let mut failures = Vec::new();
    for name in corpus.names() {
        let path = corpus.root.join(&name);
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // A panic drops the sender: reported below as a failure of this file.
            let _ = sender.send(run(&path));
        });
        let outcome = match receiver.recv_timeout(Duration::from_secs(90)) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failures.push(format!("{name}: no outcome within 90 s"));
                report(&format!("hostile {name}: NO OUTCOME WITHIN 90 s"));
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failures.push(format!("{name}: panicked"));
                report(&format!("hostile {name}: PANICKED"));
                continue;
            }
        };
        report(&format!(
            "hostile {name}: 120 s {}; whole file {}; title {}; {:.2} s",
            describe(&outcome.fingerprint),
            describe(&outcome.whole_file),
            describe(&outcome.title),
            outcome.elapsed.as_secs_f64()
        ));
        for result in [&outcome.fingerprint, &outcome.whole_file] {
            if let Ok(fingerprint) = result
                && fingerprint == marker
            {
                failures.push(format!("{name}: produced the marker's fingerprint"));
            }
        }
        if outcome.elapsed > Duration::from_secs(45) {
            failures.push(format!(
                "{name}: took {:.1} s",
                outcome.elapsed.as_secs_f64()
            ));
        }
        if REFUSED_CONTAINERS.contains(&name.as_str()) {
            for result in [&outcome.fingerprint, &outcome.whole_file] {
                match result {
                    Err(AudioError::ContainerNotAllowed { .. }) => {}
                    other => failures.push(format!(
                        "{name}: expected container_not_allowed, got {}",
                        describe(other)
                    )),
                }
            }
        }
    }
    let peak = peak_memory_mib();
    report(&format!("hostile corpus: peak memory {peak} MiB"));
    assert!(peak < 1024, "peak memory {peak} MiB");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn implausible_streams_are_refused_with_a_typed_error() {
    let corpus = HostileCorpus::prepare();
    let error = fingerprint_file(
        &corpus.root.join("wav_1hz_huge_block_align.wav"),
        &FingerprintOptions::default(),
    )
    .expect_err("1 Hz");
    assert_eq!(error.code(), "implausible_audio", "{error}");
    assert!(error.to_string().contains("1 Hz"), "{error}");
    for name in ["wav_65535_channels.wav", "wav_4ghz_rate.wav"] {
        let error = fingerprint_file(&corpus.root.join(name), &FingerprintOptions::default())
            .expect_err(name);
        assert!(error.is_bad_input(), "{name}: {error}");
    }
}

#[test]
fn tags_that_are_not_utf8_are_read_lossily() {
    let corpus = HostileCorpus::prepare();
    let riff = probe_file(&corpus.root.join("riff_info_non_utf8.wav")).expect("riff info");
    let title = riff.tags.title.expect("INAM read");
    assert!(title.starts_with("Titre "), "{title}");
    assert!(title.contains('\u{FFFD}'), "{title}");
    assert!(riff.tags.artist.expect("IART read").contains('\u{FFFD}'));

    let id3 = probe_file(&corpus.root.join("id3v2_non_utf8.mp3")).expect("id3");
    let title = id3.tags.title.clone().expect("TIT2 read");
    assert!(title.starts_with("Chanson"), "{title}");
    assert!(title.contains('\u{FFFD}'), "{title}");
    // Everything serialises to valid JSON text (what reaches responses, job rows and frames).
    let json = serde_json::to_string(&id3.tags).expect("json");
    assert!(std::str::from_utf8(json.as_bytes()).is_ok());
    // The audio itself is fine.
    fingerprint_file(
        &corpus.root.join("riff_info_non_utf8.wav"),
        &FingerprintOptions::default(),
    )
    .expect("fingerprint");
}

#[test]
fn absurd_declared_durations_do_not_overflow() {
    let corpus = HostileCorpus::prepare();
    for name in ["rf64_absurd_duration.wav", "wav_data_size_4gib.wav"] {
        let path = corpus.root.join(name);
        if let Ok(info) = probe_file(&path) {
            assert!(
                info.duration_seconds
                    .is_none_or(|s| s.is_finite() && s <= 864_000.0),
                "{name}: {:?}",
                info.duration_seconds
            );
        }
        match fingerprint_file(&path, &FingerprintOptions::default()) {
            Ok(fingerprint) => assert!(
                fingerprint.duration_seconds.is_finite()
                    && fingerprint.duration_seconds <= 864_000.0,
                "{name}: {}",
                fingerprint.duration_seconds
            ),
            Err(error) => assert!(error.is_bad_input(), "{name}: {error}"),
        }
    }
}

#[test]
fn a_deadline_stops_a_decode_with_a_typed_error() {
    let corpus = HostileCorpus::prepare();
    let good = corpus.fixtures.join("long_130s_16k_mono.mp3");
    let limits = recozik_core::audio::DecodeLimits {
        deadline: Duration::ZERO,
    };
    let started = Instant::now();
    let error = recozik_core::audio::decode_pcm(
        &good,
        recozik_core::audio::PcmFormat {
            sample_rate: 11_025,
            channels: 1,
        },
        limits,
        |_| std::ops::ControlFlow::Continue(()),
    )
    .expect_err("no time at all");
    assert_eq!(error.code(), "decode_timeout", "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
