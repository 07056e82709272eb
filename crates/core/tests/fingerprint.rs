//! Fingerprints of the committed fixtures must equal what `fpcalc` printed for them, and every
//! bad fixture must give its typed error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers report failures by panicking
use std::path::{Path, PathBuf};
use std::process::Command;

use recozik_core::{AudioError, FingerprintOptions, fingerprint_file, probe_file};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Reference {
    duration: f64,
    fingerprint: serde_json::Value,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every audio fixture that has an fpcalc reference beside it.
fn good_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext != "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 13,
        "expected the full fixture set, found {}",
        files.len()
    );
    files
}

fn reference(file: &Path, suffix: &str) -> Reference {
    let name = format!("{}.{suffix}", file.file_name().unwrap().to_string_lossy());
    let text = std::fs::read_to_string(file.with_file_name(name)).expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

fn assert_same_duration(file: &Path, ours: f64, fpcalc: f64) {
    // fpcalc -json prints the duration with two decimals.
    assert!(
        (ours - fpcalc).abs() < 0.0051,
        "{}: duration {ours} differs from fpcalc's {fpcalc}",
        file.display()
    );
}

#[test]
fn every_good_fixture_matches_the_recorded_fpcalc_output() {
    for file in good_fixtures() {
        let expected = reference(&file, "fpcalc.json");
        let ours = fingerprint_file(&file, &FingerprintOptions::default())
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert_eq!(
            expected.fingerprint.as_str(),
            Some(ours.fingerprint.as_str()),
            "{}: fingerprint differs from fpcalc's",
            file.display()
        );
        assert_same_duration(&file, ours.duration_seconds, expected.duration);
        assert!(ours.raw.is_none(), "raw fingerprint only on request");
    }
}

#[test]
fn raw_fingerprint_matches_fpcalc_raw() {
    let file = fixtures().join("flac_44k_stereo_tagged.flac");
    let expected = reference(&file, "fpcalc-raw.json");
    let options = FingerprintOptions {
        include_raw: true,
        ..FingerprintOptions::default()
    };
    let ours = fingerprint_file(&file, &options).unwrap();
    let expected: Vec<u32> = serde_json::from_value(expected.fingerprint).unwrap();
    assert!(!expected.is_empty());
    assert_eq!(ours.raw.as_deref(), Some(expected.as_slice()));
}

#[test]
fn length_zero_fingerprints_the_whole_file() {
    let file = fixtures().join("long_130s_16k_mono.mp3");
    let whole = fingerprint_file(
        &file,
        &FingerprintOptions {
            max_length_seconds: 0,
            include_raw: true,
            ..FingerprintOptions::default()
        },
    )
    .unwrap();
    let expected = reference(&file, "fpcalc-full.json");
    assert_eq!(
        expected.fingerprint.as_str(),
        Some(whole.fingerprint.as_str())
    );
    assert_same_duration(&file, whole.duration_seconds, expected.duration);

    // The default analyses 120 s only: a shorter fingerprint, the same declared duration.
    let first_120 = fingerprint_file(
        &file,
        &FingerprintOptions {
            include_raw: true,
            ..FingerprintOptions::default()
        },
    )
    .unwrap();
    let (whole_raw, first_raw) = (whole.raw.unwrap(), first_120.raw.unwrap());
    assert!(first_raw.len() < whole_raw.len());
    assert!((first_120.duration_seconds - whole.duration_seconds).abs() < f64::EPSILON);

    // A custom limit analyses less again.
    let first_30 = fingerprint_file(
        &file,
        &FingerprintOptions {
            max_length_seconds: 30,
            include_raw: true,
            ..FingerprintOptions::default()
        },
    )
    .unwrap();
    assert!(first_30.raw.unwrap().len() < first_raw.len());
}

fn bad(name: &str) -> PathBuf {
    fixtures().join("bad").join(name)
}

#[test]
fn bad_fixtures_give_their_typed_errors() {
    let options = FingerprintOptions::default();
    let check = |name: &str, expected_code: &str| {
        let error = fingerprint_file(&bad(name), &options).expect_err(name);
        assert_eq!(error.code(), expected_code, "{name}: {error}");
        assert!(error.is_bad_input(), "{name}");
        assert!(
            error.to_string().contains(name),
            "the message names the file: {error}"
        );
    };
    check("empty.mp3", "empty_file");
    check("text.mp3", "not_audio");
    check("truncated.mp3", "truncated_audio");
    check("random.flac", "corrupt_audio");
    check("video_only.mp4", "no_audio_stream");
    check("too_short_1.5s.wav", "audio_too_short");
}

#[test]
fn truncated_error_reports_both_durations() {
    match fingerprint_file(&bad("truncated.mp3"), &FingerprintOptions::default()) {
        Err(AudioError::Truncated {
            declared_seconds,
            decoded_seconds,
            ..
        }) => {
            assert!(
                (declared_seconds - 10.06).abs() < 0.01,
                "{declared_seconds}"
            );
            assert!(
                decoded_seconds > 2.0 && decoded_seconds < 6.0,
                "{decoded_seconds}"
            );
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn missing_files_and_folders_are_refused_before_decoding() {
    let options = FingerprintOptions::default();
    let missing = fixtures().join("no-such-file.mp3");
    assert!(matches!(
        fingerprint_file(&missing, &options),
        Err(AudioError::NotFound { .. })
    ));
    assert!(matches!(
        fingerprint_file(&fixtures(), &options),
        Err(AudioError::NotAFile { .. })
    ));
    assert!(matches!(
        probe_file(&missing),
        Err(AudioError::NotFound { .. })
    ));
}

#[test]
fn fingerprints_match_a_live_fpcalc_when_installed() {
    let Ok(version) = Command::new("fpcalc").arg("-version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "fpcalc must be installed in CI (cargo xtask setup --test)"
        );
        eprintln!(
            "fpcalc not installed: live comparison skipped (recorded references still checked)"
        );
        return;
    };
    eprintln!(
        "comparing with {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    for file in good_fixtures() {
        let out = Command::new("fpcalc")
            .args(["-json", "-length", "120"])
            .arg(&file)
            .output()
            .unwrap();
        let live: Reference = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|error| panic!("{}: fpcalc output: {error}", file.display()));
        let ours = fingerprint_file(&file, &FingerprintOptions::default()).unwrap();
        assert_eq!(
            live.fingerprint.as_str(),
            Some(ours.fingerprint.as_str()),
            "{}",
            file.display()
        );
        assert_same_duration(&file, ours.duration_seconds, live.duration);
    }
}

#[test]
fn probe_reads_tags_and_stream_facts() {
    let tagged = [
        "mp3_cbr_44k_stereo_tagged.mp3",
        "flac_44k_stereo_tagged.flac",
        "vorbis_96k_stereo_tagged.ogg",
        "aac_44k_stereo_tagged.m4a",
    ];
    for name in tagged {
        let info = probe_file(&fixtures().join(name)).unwrap();
        let tags = &info.tags;
        assert_eq!(tags.title.as_deref(), Some("Synthétique n°1"), "{name}");
        assert_eq!(
            tags.artist.as_deref(),
            Some("Recozik Test Ensemble"),
            "{name}"
        );
        assert_eq!(tags.album.as_deref(), Some("Fixtures & Friends"), "{name}");
        assert_eq!(
            tags.album_artist.as_deref(),
            Some("Various Artists"),
            "{name}"
        );
        assert_eq!(tags.date.as_deref(), Some("2021"), "{name}");
        assert_eq!(tags.genre.as_deref(), Some("Electronic"), "{name}");
        assert!(
            tags.track_number
                .as_deref()
                .is_some_and(|t| t.starts_with('3')),
            "{name}"
        );
        assert_eq!(info.channels, 2, "{name}");
    }

    let untagged = probe_file(&fixtures().join("mp3_vbr_22k_mono.mp3")).unwrap();
    assert!(untagged.tags.is_empty(), "{:?}", untagged.tags);
    assert_eq!(
        (
            untagged.codec.as_str(),
            untagged.sample_rate,
            untagged.channels
        ),
        ("mp3", 22_050, 1)
    );

    let surround = probe_file(&fixtures().join("vorbis_48k_5_1.ogg")).unwrap();
    assert_eq!(
        (
            surround.codec.as_str(),
            surround.channels,
            surround.sample_rate
        ),
        ("vorbis", 6, 48_000)
    );

    let hires = probe_file(&fixtures().join("vorbis_96k_stereo_tagged.ogg")).unwrap();
    assert_eq!(hires.sample_rate, 96_000);

    let movie = probe_file(&fixtures().join("mp4_video_and_aac.mp4")).unwrap();
    assert_eq!(movie.codec, "aac");
    assert!(movie.container.contains("mp4"));
    assert!((movie.duration_seconds.unwrap() - 6.0).abs() < 0.1);

    let wav = probe_file(&fixtures().join("wav_s24_24k_mono.wav")).unwrap();
    assert_eq!((wav.codec.as_str(), wav.sample_rate), ("pcm_s24le", 24_000));
    assert_eq!(wav.bit_rate, Some(24_000 * 24));

    for name in ["empty.mp3", "text.mp3", "video_only.mp4"] {
        assert!(probe_file(&bad(name)).is_err(), "{name}");
    }
}
