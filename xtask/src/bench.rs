//! `cargo xtask bench …`: measurements printed for docs/benchmarks.md. Benchmarks measure and
//! print; they never fail on a threshold.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::setup::{self, Purpose};
use crate::util;

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Our fingerprinting vs fpcalc on a 4-minute MP3 and a 4-minute FLAC.
    Fingerprint {
        /// Runs per tool and file.
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// Job queue throughput (enqueue → claim → complete) on SQLite and on a throwaway PostgreSQL.
    Queue,
    /// API token resolution with 1 and with 10,000 tokens stored (SQLite).
    Tokens,
    /// The HTTP server: /health and /whoami under load, upload → completed throughput, peak
    /// memory during 50 concurrent 10 MiB uploads.
    Api,
    /// A library batch (`POST /identify/batch`) of generated files against a fake AcoustID
    /// that enforces the real limits: wall time, requests, CPU and memory of the server.
    Batch {
        /// Files in the batch (generated once, cached under target/bench-batch/).
        #[arg(long, default_value_t = 1000)]
        files: usize,
        /// Length of each file, in seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u32,
    },
    /// The private-catalogue engine on synthetic tracks: index memory, build and start-up,
    /// search latency and QPS, a 10 s MP3 query end to end, scan and indexing speed.
    Catalogue {
        /// Catalogue sizes to measure, comma-separated (the 100,000-track index needs about 2 GB;
        /// the run peaks at about 5 GB).
        #[arg(long, default_value = "10000,100000")]
        tracks: String,
    },
}

pub fn run(which: &Which) -> anyhow::Result<()> {
    setup::ensure(Purpose::Test)?;
    match which {
        Which::Fingerprint { runs } => fingerprint(*runs),
        Which::Queue => {
            let cluster = crate::postgres::Throwaway::start()?;
            util::run_status(
                util::cargo()
                    .current_dir(util::workspace_root())
                    .env("RECOZIK_BENCH_POSTGRES_URL", &cluster.url)
                    .args([
                        "run",
                        "--release",
                        "--quiet",
                        "-p",
                        "recozik_storage",
                        "--example",
                        "queue_bench",
                        "--",
                        "2000",
                        "4",
                    ]),
            )
        }
        Which::Tokens => {
            util::run_status(util::cargo().current_dir(util::workspace_root()).args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "recozik_auth",
                "--example",
                "token_bench",
                "--",
                "20000",
            ]))
        }
        Which::Api => crate::bench_api::run(),
        Which::Batch { files, seconds } => crate::bench_batch::run(*files, *seconds),
        Which::Catalogue { tracks } => {
            let root = util::workspace_root();
            let work = target_dir(&root).join("bench-catalogue");
            util::run_status(util::cargo().current_dir(&root).args([
                "run".as_ref(),
                "--release".as_ref(),
                "--quiet".as_ref(),
                "-p".as_ref(),
                "recozik_core".as_ref(),
                "--example".as_ref(),
                "catalogue_bench".as_ref(),
                "--".as_ref(),
                std::ffi::OsStr::new(tracks),
                work.as_os_str(),
            ]))
        }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn time_command(command: &mut Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("cannot run {}", util::describe(command)))?;
    let elapsed = start.elapsed();
    // fpcalc exits with 3 after a complete result on FFmpeg 5 (see fixtures.rs).
    let code = out.status.code().unwrap_or(-1);
    if code != 0 && code != 3 {
        bail!(
            "{} failed: {}",
            util::describe(command),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(elapsed)
}

fn fingerprint(runs: usize) -> anyhow::Result<()> {
    let root = util::workspace_root();
    util::run_status(util::cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "recozik_core",
        "--example",
        "fingerprint",
    ]))?;
    let ours = target_dir(&root).join("release/examples/fingerprint");
    let work = std::env::temp_dir().join(format!("recozik-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let files = [
        make_four_minutes(
            &work,
            "bench_4min.mp3",
            &["-c:a", "libmp3lame", "-b:a", "192k"],
        )?,
        make_four_minutes(&work, "bench_4min.flac", &["-c:a", "flac"])?,
    ];
    println!(
        "| file | ours (median) | fpcalc (median) | ours/fpcalc | our decode + convert alone | `ffmpeg -t 120 -f null` |"
    );
    println!("|---|---|---|---|---|---|");
    for file in &files {
        let (mut mine, mut theirs, mut floor, mut cli) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            // Alternate the tools so that neither always runs with a warmer cache.
            mine.push(time_command(Command::new(&ours).arg(file))?);
            theirs.push(time_command(
                Command::new("fpcalc").args(["-length", "120"]).arg(file),
            )?);
            floor.push(time_command(
                Command::new(&ours).arg("--decode-only").arg(file),
            )?);
            cli.push(time_command(
                Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-t", "120", "-i"])
                    .arg(file)
                    .args(["-f", "null", "-"]),
            )?);
        }
        let (m, t, f, c) = (
            median(&mut mine),
            median(&mut theirs),
            median(&mut floor),
            median(&mut cli),
        );
        println!(
            "| {} | {:.1} ms | {:.1} ms | {:.2} | {:.1} ms | {:.1} ms |",
            file.file_name().unwrap_or_default().to_string_lossy(),
            m.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3,
            m.as_secs_f64() / t.as_secs_f64(),
            f.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
        );
    }
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn make_four_minutes(dir: &Path, name: &str, codec: &[&str]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let source = "aevalsrc=exprs='0.3*sin(2*PI*(220+55*floor(mod(t*2\\,8)))*t)+0.2*sin(2*PI*(330+40*floor(mod(t*3\\,5)))*t)|0.3*sin(2*PI*(260+50*floor(mod(t*2.5\\,6)))*t)+0.1*sin(2*PI*700*t)':s=44100:d=240";
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
                source,
            ])
            .args(codec)
            .arg(&path),
    )?;
    Ok(path)
}
