//! `cargo xtask fixtures`: regenerates `crates/core/tests/fixtures/` with the `ffmpeg` CLI and
//! records what `fpcalc` says about every good file, so tests compare against it without needing
//! `fpcalc`. It also writes the hostile corpus (`hostile/`, see [`crate::hostile`]). The files are
//! committed; run this only to change the set.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::setup::{self, Purpose};
use crate::util;

/// One generated audio file.
struct Good {
    name: &'static str,
    sample_rate: u32,
    channels: u8,
    seconds: f64,
    codec: &'static [&'static str],
    tagged: bool,
    /// Adds a small video stream (MP4 with audio and video).
    with_video: bool,
}

const GOOD: &[Good] = &[
    Good {
        name: "mp3_cbr_44k_stereo_tagged.mp3",
        sample_rate: 44_100,
        channels: 2,
        seconds: 10.0,
        codec: &["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "3"],
        tagged: true,
        with_video: false,
    },
    Good {
        name: "mp3_vbr_22k_mono.mp3",
        sample_rate: 22_050,
        channels: 1,
        seconds: 10.0,
        codec: &["-c:a", "libmp3lame", "-q:a", "5"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "flac_44k_stereo_tagged.flac",
        sample_rate: 44_100,
        channels: 2,
        seconds: 4.0,
        codec: &["-c:a", "flac"],
        tagged: true,
        with_video: false,
    },
    Good {
        name: "wav_s16_8k_mono.wav",
        sample_rate: 8_000,
        channels: 1,
        seconds: 6.0,
        codec: &["-c:a", "pcm_s16le"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "wav_s24_24k_mono.wav",
        sample_rate: 24_000,
        channels: 1,
        seconds: 5.0,
        codec: &["-c:a", "pcm_s24le"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "wav_f32_16k_mono.wav",
        sample_rate: 16_000,
        channels: 1,
        seconds: 5.0,
        codec: &["-c:a", "pcm_f32le"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "vorbis_96k_stereo_tagged.ogg",
        sample_rate: 96_000,
        channels: 2,
        seconds: 8.0,
        codec: &["-c:a", "libvorbis", "-q:a", "2"],
        tagged: true,
        with_video: false,
    },
    Good {
        name: "opus_48k_stereo.opus",
        sample_rate: 48_000,
        channels: 2,
        seconds: 8.0,
        codec: &["-c:a", "libopus", "-b:a", "48k"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "aac_44k_stereo_tagged.m4a",
        sample_rate: 44_100,
        channels: 2,
        seconds: 8.0,
        codec: &["-c:a", "aac", "-b:a", "96k"],
        tagged: true,
        with_video: false,
    },
    Good {
        name: "mp4_video_and_aac.mp4",
        sample_rate: 22_050,
        channels: 1,
        seconds: 6.0,
        codec: &["-c:a", "aac", "-b:a", "32k", "-c:v", "mpeg4", "-q:v", "20"],
        tagged: false,
        with_video: true,
    },
    Good {
        name: "vorbis_48k_5_1.ogg",
        sample_rate: 48_000,
        channels: 6,
        seconds: 6.0,
        codec: &["-c:a", "libvorbis", "-q:a", "0"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "short_2.9s_11k_mono.wav",
        sample_rate: 11_025,
        channels: 1,
        seconds: 2.9,
        codec: &["-c:a", "pcm_s16le"],
        tagged: false,
        with_video: false,
    },
    Good {
        name: "long_130s_16k_mono.mp3",
        sample_rate: 16_000,
        channels: 1,
        seconds: 130.0,
        codec: &["-c:a", "libmp3lame", "-b:a", "24k"],
        tagged: false,
        with_video: false,
    },
];

/// The fixture whose raw (integer) fingerprint is also recorded.
const RAW_REFERENCE: &str = "flac_44k_stereo_tagged.flac";
/// The fixture also fingerprinted over its whole length (`fpcalc -length 0`).
const FULL_LENGTH_REFERENCE: &str = "long_130s_16k_mono.mp3";

/// Tags written into the `tagged` fixtures (tests read them back).
const TAGS: &[(&str, &str)] = &[
    ("title", "Synthétique n°1"),
    ("artist", "Recozik Test Ensemble"),
    ("album", "Fixtures & Friends"),
    ("album_artist", "Various Artists"),
    ("date", "2021"),
    ("track", "3"),
    ("genre", "Electronic"),
];

/// A melody of stepped sine tones, different per channel, so fingerprints are non-trivial.
fn signal(channel: u8, seed: u32) -> String {
    let c = f64::from(channel) + f64::from(seed % 7);
    format!(
        "0.25*sin(2*PI*({a}+{b}*floor(mod(t*{r}\\,5)))*t)+0.15*sin(2*PI*({d}+{e}*floor(mod(t*{s}\\,7)))*t)+0.05*sin(2*PI*{f}*t)*sin(2*PI*0.5*t)",
        a = 180.0 + 20.0 * c,
        b = 60.0 + 5.0 * c,
        r = 1.5 + 0.25 * c,
        d = 300.0 + 15.0 * c,
        e = 45.0,
        s = 2.0 + 0.5 * c,
        f = 900.0 + 40.0 * c,
    )
}

fn generate_good(dir: &Path, fixture: &Good, seed: u32) -> anyhow::Result<()> {
    let exprs: Vec<String> = (0..fixture.channels).map(|ch| signal(ch, seed)).collect();
    let source = format!(
        "aevalsrc=exprs='{}':s={}:d={}",
        exprs.join("|"),
        fixture.sample_rate,
        fixture.seconds
    );
    let mut command = Command::new("ffmpeg");
    command.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &source,
    ]);
    if fixture.with_video {
        command.args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc=size=64x48:rate=5:duration={}", fixture.seconds),
        ]);
    }
    command.args([
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-map_metadata",
        "-1",
    ]);
    if fixture.channels == 6 {
        command.args(["-channel_layout", "5.1"]);
    }
    command.args(fixture.codec);
    if fixture.tagged {
        for (key, value) in TAGS {
            command.arg("-metadata").arg(format!("{key}={value}"));
        }
    }
    command.arg(dir.join(fixture.name));
    util::run_status(&mut command)
}

/// fpcalc's JSON output for `file`. fpcalc 1.5 on FFmpeg 5 exits with 3 after printing a complete
/// result when the decoder reports the end of the file as an error, so 3 with output is a success.
fn fpcalc_json(file: &Path, extra: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("fpcalc")
        .args(["-json"])
        .args(extra)
        .arg(file)
        .output()
        .context("cannot run fpcalc (install libchromaprint-tools)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let code = out.status.code().unwrap_or(-1);
    if !(code == 0 || code == 3) || stdout.is_empty() {
        bail!("fpcalc failed on {} ({})", file.display(), out.status);
    }
    let value: serde_json::Value = serde_json::from_str(&stdout)
        .with_context(|| format!("fpcalc printed something that is not JSON: {stdout}"))?;
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

pub fn generate() -> anyhow::Result<()> {
    setup::ensure(Purpose::Test)?;
    let dir = util::workspace_root().join("crates/core/tests/fixtures");
    // Start from an empty folder so that renamed fixtures leave nothing behind.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    for (index, fixture) in GOOD.iter().enumerate() {
        generate_good(&dir, fixture, index as u32)?;
        let file = dir.join(fixture.name);
        std::fs::write(
            dir.join(format!("{}.fpcalc.json", fixture.name)),
            fpcalc_json(&file, &["-length", "120"])?,
        )?;
        if fixture.name == RAW_REFERENCE {
            std::fs::write(
                dir.join(format!("{}.fpcalc-raw.json", fixture.name)),
                fpcalc_json(&file, &["-length", "120", "-raw"])?,
            )?;
        }
        if fixture.name == FULL_LENGTH_REFERENCE {
            std::fs::write(
                dir.join(format!("{}.fpcalc-full.json", fixture.name)),
                fpcalc_json(&file, &["-length", "0"])?,
            )?;
        }
    }

    let bad = dir.join("bad");
    if bad.exists() {
        std::fs::remove_dir_all(&bad)?;
    }
    std::fs::create_dir_all(&bad)?;
    std::fs::write(bad.join("empty.mp3"), b"")?;
    std::fs::write(
        bad.join("text.mp3"),
        "This is a plain text file wearing an .mp3 extension.\nIt holds no audio at all.\n"
            .repeat(40),
    )?;
    let vbr = std::fs::read(dir.join("mp3_vbr_22k_mono.mp3"))?;
    std::fs::write(bad.join("truncated.mp3"), &vbr[..vbr.len() * 45 / 100])?;
    std::fs::write(
        bad.join("random.flac"),
        crate::hostile::pseudo_random(64 * 1024, 0),
    )?;
    util::run_status(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=32x24:rate=2:duration=2",
                "-fflags",
                "+bitexact",
                "-c:v",
                "mpeg4",
            ])
            .arg(bad.join("video_only.mp4")),
    )?;
    // Valid audio, but too little of it for Chromaprint to produce a fingerprint (fpcalc says
    // "Empty fingerprint" below about 2.7 s).
    util::run_status(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1.5",
                "-fflags",
                "+bitexact",
                "-flags:a",
                "+bitexact",
                "-c:a",
                "pcm_s16le",
            ])
            .arg(bad.join("too_short_1.5s.wav")),
    )?;

    crate::hostile::generate(&dir)?;

    let mut total = 0;
    for entry in walk(&dir)? {
        total += std::fs::metadata(&entry)?.len();
    }
    eprintln!(
        "xtask: fixtures written to {} ({:.2} MiB)",
        dir.display(),
        total as f64 / 1_048_576.0
    );
    if total > 3 * 1_048_576 {
        bail!("fixtures exceed 3 MiB");
    }
    Ok(())
}

fn walk(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}
