//! Seeded byte mutations of the good fixtures through the decoder and the tag reader: each one
//! ends in a typed error or a result, in bounded time, and never panics.
//!
//! `RECOZIK_MUTATIONS` sets how many mutated files are tried (default 3,000, which takes well
//! under a minute); `RECOZIK_MUTATION_SEED` picks another sequence.

mod hostile_support;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use hostile_support::{peak_memory_mib, report};
use recozik_core::audio::{DecodeLimits, PcmFormat, decode_pcm};
use recozik_core::probe_file;

/// Small fixtures covering the common containers and codecs.
const SOURCES: &[&str] = &[
    "mp3_vbr_22k_mono.mp3",
    "mp3_cbr_44k_stereo_tagged.mp3",
    "flac_44k_stereo_tagged.flac",
    "wav_s16_8k_mono.wav",
    "vorbis_96k_stereo_tagged.ogg",
    "opus_48k_stereo.opus",
    "aac_44k_stereo_tagged.m4a",
    "mp4_video_and_aac.mp4",
];

/// Seconds of audio decoded per mutated file (enough to cross many packets).
const DECODED_SECONDS: u64 = 6;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// One mutation of `original`, chosen by `rng`; returns its kind for the report.
fn mutate(original: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut bytes = original.to_vec();
    let len = bytes.len().max(1);
    let kind = match rng.below(7) {
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(len);
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
            "bit flips"
        }
        1 => {
            // Headers hold the sizes and rates: aim at the first kilobyte.
            for _ in 0..=rng.below(4) {
                let at = rng.below(len.min(1024));
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = rng.next() as u8;
                }
            }
            "header bytes"
        }
        2 => {
            let at = rng.below(len.saturating_sub(4));
            let value: [u8; 4] = match rng.below(3) {
                0 => [0xFF; 4],
                1 => [0; 4],
                _ => [0x7F, 0xFF, 0xFF, 0xFF],
            };
            for (offset, byte) in value.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + offset) {
                    *slot = *byte;
                }
            }
            "size field"
        }
        3 => {
            bytes.truncate(rng.below(len));
            "truncation"
        }
        4 => {
            let start = rng.below(len);
            let end = (start + rng.below(4096)).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            let at = rng.below(len);
            bytes.splice(at..at, copy);
            "duplicated run"
        }
        5 => {
            let start = rng.below(len);
            let end = (start + rng.below(2048)).min(bytes.len());
            for byte in &mut bytes[start..end] {
                *byte = rng.next() as u8;
            }
            "random run"
        }
        _ => {
            let start = rng.below(len);
            let end = (start + rng.below(2048)).min(bytes.len());
            bytes.drain(start..end);
            "removed run"
        }
    };
    (bytes, kind)
}

fn decode(path: &Path) -> Result<f64, recozik_core::AudioError> {
    let format = PcmFormat {
        sample_rate: 11_025,
        channels: 1,
    };
    let limit = DECODED_SECONDS * 11_025;
    let mut seen = 0u64;
    let limits = DecodeLimits {
        deadline: Duration::from_secs(20),
    };
    let summary = decode_pcm(path, format, limits, |samples| {
        seen += samples.len() as u64;
        if seen >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(summary.decoded_seconds)
}

#[test]
fn mutated_fixtures_never_panic_and_end_in_bounded_time() {
    let count: usize = std::env::var("RECOZIK_MUTATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3_000);
    let seed: u64 = std::env::var("RECOZIK_MUTATION_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x005E_ED0F_2026);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let originals: Vec<(&str, Vec<u8>)> = SOURCES
        .iter()
        .map(|name| (*name, std::fs::read(fixtures.join(name)).expect("fixture")))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(seed | 1);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut panics = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let started = Instant::now();

    for index in 0..count {
        let (name, original) = &originals[index % originals.len()];
        let (bytes, kind) = mutate(original, &mut rng);
        let extension = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("bin");
        let path = dir.path().join(format!("m{}.{extension}", index % 4));
        std::fs::write(&path, &bytes).expect("write");
        let one = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (decode(&path), probe_file(&path))));
        let elapsed = one.elapsed();
        let label = format!("#{index} {kind} of {name}");
        if elapsed > slowest.0 {
            slowest = (elapsed, label.clone());
        }
        match result {
            Ok((decoded, probed)) => {
                let decoded = decoded.map_or_else(|e| e.code().to_owned(), |_| "decoded".into());
                let probed = probed.map_or_else(|e| e.code().to_owned(), |_| "probed".into());
                *outcomes.entry(format!("{decoded} / {probed}")).or_default() += 1;
            }
            Err(_) => panics.push(label),
        }
    }

    report(&format!(
        "mutations: {count} files (seed {seed}) in {:.1} s; slowest {:.2} s ({}); peak memory {} MiB",
        started.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64(),
        slowest.1,
        peak_memory_mib()
    ));
    for (outcome, seen) in &outcomes {
        report(&format!("mutations: {seen:>5} × {outcome}"));
    }
    assert!(panics.is_empty(), "panicked on: {panics:#?}");
    assert!(
        slowest.0 < Duration::from_secs(30),
        "{} took {:.1} s",
        slowest.1,
        slowest.0.as_secs_f64()
    );
    assert!(
        peak_memory_mib() < 1024,
        "peak memory {} MiB",
        peak_memory_mib()
    );
}
