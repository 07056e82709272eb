//! Decoding is streaming: fingerprinting a whole long file takes no more memory than a short one.
//!
//! Each measurement runs in a child process (this test binary re-running this same test with
//! the file to measure in an environment variable), whose peak resident size (`VmHWM`) is
//! compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod memory_support;

use std::path::Path;
use std::process::Command;

use memory_support::{child_peak_kib, own_peak_kib};
use recozik_core::{FingerprintOptions, fingerprint_file};

const CHILD_FILE: &str = "RECOZIK_MEMORY_TEST_FILE";
const TEST_NAME: &str = "whole_file_fingerprinting_has_flat_memory";

/// The child's part: fingerprints the whole file and prints the peak memory.
fn fingerprint_and_report(file: &str) {
    let options = FingerprintOptions {
        max_length_seconds: 0,
        ..FingerprintOptions::default()
    };
    fingerprint_file(Path::new(file), &options).unwrap();
    println!("PEAK_KIB={}", own_peak_kib());
}

fn generate_wav(path: &Path, seconds: u32) {
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "aevalsrc=exprs='0.3*sin(2*PI*(220+55*floor(mod(t*2\\,8)))*t)':s=16000:d={seconds}"
        ))
        .arg(path)
        .status()
        .expect("the ffmpeg CLI (cargo xtask setup --test installs it)");
    assert!(status.success());
}

#[test]
fn whole_file_fingerprinting_has_flat_memory() {
    if let Ok(file) = std::env::var(CHILD_FILE) {
        fingerprint_and_report(&file);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("one-minute.wav");
    let long = dir.path().join("twenty-minutes.wav");
    generate_wav(&short, 60);
    generate_wav(&long, 20 * 60); // 38 MB of audio data
    let (short_peak, long_peak) = (
        child_peak_kib(TEST_NAME, CHILD_FILE, &short),
        child_peak_kib(TEST_NAME, CHILD_FILE, &long),
    );
    eprintln!("peak memory: 1 min {short_peak} KiB, 20 min {long_peak} KiB");
    // Keeping every packet alive would add the file's 38 MB; allow a little allocator noise.
    assert!(
        long_peak < short_peak + 8 * 1024,
        "peak memory grew from {short_peak} KiB to {long_peak} KiB"
    );
}
