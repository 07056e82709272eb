//! `cargo xtask bench catalogue`: measures the private-catalogue engine and prints a table for
//! docs/benchmarks.md. Prints figures; fails only when a run is broken.
//!
//! Usage: `catalogue_bench [TRACKS[,TRACKS…]] [WORK_DIR]` (defaults `10000,100000` and
//! `target/bench-catalogue`). The work directory caches the generated MP3s.
//!
//! Synthetic items follow the generator of `tests/catalogue_support`: seeded random-walk items
//! flipping 2–5 bits each, ~3 % from a shared pool of 256 items, rare silence, 1800–2000
//! items per track.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::too_many_lines
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// The same synthetic items as the catalogue tests.
#[path = "../tests/catalogue_support/mod.rs"]
mod catalogue_support;

use catalogue_support::{Rng, noisy, pool, track, tracks};
use recozik_core::FingerprintOptions;
use recozik_core::catalogue::index::{CatalogueIndex, IndexBuilder, IndexConfig};
use recozik_core::catalogue::raw::{self, QUERY_PHASES};
use recozik_core::catalogue::scan::{self, ScanConfig};
use recozik_core::catalogue::snippet::{self, QueryPhase, SnippetConfig};
use recozik_core::catalogue::{ITEM_SECONDS, SAMPLE_RATE};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// 10 s of items.
const QUERY_ITEMS: usize = 81;
const QUERIES: usize = 2000;
const WARMUP: usize = 200;
const QUERY_NOISE: f64 = 0.05;
const E2E_RUNS: usize = 20;
const INDEXING_RUNS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ffmpeg(args: &[&str], out: &Path) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !status.success() {
        return Err(format!("ffmpeg failed ({status}) writing {}", out.display()).into());
    }
    Ok(())
}

/// A 4-minute MP3 (a tone sequence) and a 10 s MP3 cut from its 60th second, generated once.
fn mp3s(work: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(work)?;
    let long = work.join("track_4min.mp3");
    let short = work.join("query_10s.mp3");
    if !long.is_file() {
        let source = "aevalsrc=exprs='0.3*sin(2*PI*(220+55*floor(mod(t*2\\,8)))*t)+0.2*sin(2*PI*(330+40*floor(mod(t*3\\,5)))*t)|0.3*sin(2*PI*(260+50*floor(mod(t*2.5\\,6)))*t)+0.1*sin(2*PI*700*t)':s=44100:d=240";
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                source,
                "-c:a",
                "libmp3lame",
                "-b:a",
                "192k",
            ],
            &long,
        )?;
    }
    if !short.is_file() {
        let input = long.to_string_lossy().into_owned();
        ffmpeg(
            &[
                "-ss",
                "60",
                "-t",
                "10",
                "-i",
                &input,
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
            ],
            &short,
        )?;
    }
    Ok((long, short))
}

/// One size's figures.
struct Row {
    tracks: usize,
    items: u64,
    memory_per_track: f64,
    /// Arena plus postings by length.
    needed_per_track: f64,
    postings_mb: f64,
    arena_mb: f64,
    arena_time: Duration,
    build_time: Duration,
    serialised_mb: f64,
    startup: Duration,
    /// Default search settings (multi-probe on the six unreliable bits).
    timed: Timed,
    /// `probe_bits: 0`, one lookup per item like the design's micro-benchmark.
    single: Timed,
    e2e: Option<(Duration, bool)>,
    scan: Option<(f64, usize, usize)>,
}

/// Latency figures over the timed queries.
struct Timed {
    p50: Duration,
    p99: Duration,
    qps: f64,
    top1: f64,
}

/// Runs every query (the first `WARMUP` untimed), each over four phases.
fn time_queries(
    index: &CatalogueIndex,
    queries: &[(usize, [Vec<u32>; 4])],
    config: &SnippetConfig,
) -> Result<Timed> {
    let mut latencies = Vec::with_capacity(QUERIES);
    let mut correct = 0_usize;
    let mut total = Duration::ZERO;
    for (i, (truth, items)) in queries.iter().enumerate() {
        let phases: Vec<QueryPhase<'_>> = QUERY_PHASES
            .iter()
            .zip(items)
            .map(|(&phase_samples, items)| QueryPhase {
                phase_samples,
                items,
            })
            .collect();
        let started = Instant::now();
        let found = snippet::best_over_phases(index, &phases, config)?;
        let took = started.elapsed();
        if i >= WARMUP {
            latencies.push(took);
            total += took;
            if found.first().is_some_and(|m| m.track.index() == *truth) {
                correct += 1;
            }
        }
    }
    latencies.sort();
    let timed = latencies.len().max(1) as f64;
    Ok(Timed {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        qps: timed / total.as_secs_f64().max(1e-9),
        top1: correct as f64 / timed,
    })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "10000,100000".to_owned())
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("tracks must be a comma-separated list of numbers: {e}"))?;
    let work = args.next().map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-catalogue"),
        PathBuf::from,
    );
    if sizes.is_empty() || sizes.contains(&0) {
        return Err("at least one size of at least one track".into());
    }

    let options = FingerprintOptions::default();
    let (long, short) = mp3s(&work)?;

    // Indexing throughput: the 4-minute MP3's raw items, median of 5.
    let mut indexing = Vec::new();
    let mut real = None;
    for _ in 0..INDEXING_RUNS {
        let started = Instant::now();
        let items = raw::track_items(&long, &options)?;
        indexing.push(started.elapsed());
        real = Some(items);
    }
    let real = real.ok_or("no indexing run")?;
    let indexing = median(&mut indexing);
    eprintln!(
        "indexing: {} items of {:.1} s in {:.1} ms",
        real.items.len(),
        real.duration_seconds,
        ms(indexing)
    );

    let mut rows = Vec::new();
    for (n_index, &n) in sizes.iter().enumerate() {
        eprintln!("{n} tracks: generating…");
        let mut catalogue = tracks(0xBE_4C, n);
        // The real track last, so that the end-to-end query has a true match.
        catalogue.push(real.items.clone());
        let real_track = catalogue.len() - 1;

        let started = Instant::now();
        let mut builder = IndexBuilder::new(IndexConfig::default())?;
        for t in &catalogue {
            builder.add_track(t)?;
        }
        let arena_time = started.elapsed();
        let started = Instant::now();
        let index = builder.build();
        let build_time = started.elapsed();
        let stats = index.stats();
        let arena_bytes = 4 * (stats.items + u64::from(stats.tracks) + 1);
        // The structures by length (what they need), where `stats()` counts capacities.
        let postings_bytes = 6 * stats.postings
            + 4 * ((1_u64 << stats.bucket_bits) + 1)
            + 4 * u64::from(stats.stop_terms);
        eprintln!("{n} tracks: built in {:.2} s", build_time.as_secs_f64());

        let bytes = index.to_bytes();
        let started = Instant::now();
        let loaded = CatalogueIndex::from_bytes(&bytes)?;
        let startup = started.elapsed();
        if loaded.track_count() != index.track_count() {
            return Err("the index read back has another track count".into());
        }
        let serialised_mb = bytes.len() as f64 / 1e6;
        drop(bytes);
        drop(loaded);

        // Queries: 81 items cut from random synthetic tracks, four independently noisy copies
        // standing in for the four sub-hop phases.
        let config = SnippetConfig::default();
        let mut rng = Rng::new(0x005E_A2C4 ^ n as u64);
        let queries: Vec<(usize, [Vec<u32>; 4])> = (0..WARMUP + QUERIES)
            .map(|_| {
                let t = rng.below(n);
                let items = &catalogue[t];
                let start = rng.below(items.len() - QUERY_ITEMS);
                let cut = &items[start..start + QUERY_ITEMS];
                let phases = [
                    noisy(&mut rng, cut, QUERY_NOISE),
                    noisy(&mut rng, cut, QUERY_NOISE),
                    noisy(&mut rng, cut, QUERY_NOISE),
                    noisy(&mut rng, cut, QUERY_NOISE),
                ];
                (t, phases)
            })
            .collect();
        let timed = time_queries(&index, &queries, &config)?;
        let single = time_queries(
            &index,
            &queries,
            &SnippetConfig {
                probe_bits: 0,
                ..config
            },
        )?;

        // End-to-end and scan on the first size only.
        let (e2e, scan_figures) = if n_index == 0 {
            let mut runs = Vec::new();
            let mut hit = false;
            for _ in 0..E2E_RUNS {
                let started = Instant::now();
                let items = raw::query_items(&short, &options, 30)?;
                let phases: Vec<QueryPhase<'_>> = items
                    .phases
                    .iter()
                    .map(|p| QueryPhase {
                        phase_samples: p.offset_samples,
                        items: &p.items,
                    })
                    .collect();
                let found = snippet::best_over_phases(&index, &phases, &config)?;
                runs.push(started.elapsed());
                hit = found.first().is_some_and(|m| m.track.index() == real_track);
            }
            (
                Some((median(&mut runs), hit)),
                Some(scan_hour(&index, &catalogue[..n])?),
            )
        } else {
            (None, None)
        };

        rows.push(Row {
            tracks: n,
            items: stats.items,
            memory_per_track: stats.memory_bytes as f64 / f64::from(stats.tracks),
            needed_per_track: (arena_bytes + postings_bytes) as f64 / f64::from(stats.tracks),
            postings_mb: postings_bytes as f64 / 1e6,
            arena_mb: arena_bytes as f64 / 1e6,
            arena_time,
            build_time,
            serialised_mb,
            startup,
            timed,
            single,
            e2e,
            scan: scan_figures,
        });
    }

    println!(
        "| tracks | items | memory / track: `stats()` (capacities) | by length (arena + postings) | arena | postings + buckets | arena fill | build (arena → postings) | serialised | start-up (from_bytes) | search p50 / p99 | QPS (1 thread) | top-1 | without multi-probe: p50 / p99, QPS, top-1 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} M | {:.1} kB | {:.1} kB | {:.0} MB | {:.0} MB | {:.2} s | {:.2} s | {:.0} MB | {:.2} s | {:.0} / {:.0} µs | {:.0} | {:.1} % | {:.0} / {:.0} µs, {:.0}, {:.1} % |",
            r.tracks,
            r.items as f64 / 1e6,
            r.memory_per_track / 1e3,
            r.needed_per_track / 1e3,
            r.arena_mb,
            r.postings_mb,
            r.arena_time.as_secs_f64(),
            r.build_time.as_secs_f64(),
            r.serialised_mb,
            r.startup.as_secs_f64(),
            r.timed.p50.as_secs_f64() * 1e6,
            r.timed.p99.as_secs_f64() * 1e6,
            r.timed.qps,
            r.timed.top1 * 100.0,
            r.single.p50.as_secs_f64() * 1e6,
            r.single.p99.as_secs_f64() * 1e6,
            r.single.qps,
            r.single.top1 * 100.0,
        );
    }
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    for r in &rows {
        if let Some((e2e, hit)) = r.e2e {
            println!(
                "| 10 s MP3 query end to end (decode + 4 phases + search), {} tracks, median of {E2E_RUNS} | {:.1} ms (top-1 {}) |",
                r.tracks,
                ms(e2e),
                if hit { "correct" } else { "WRONG" }
            );
        }
        if let Some((speed, found, truth)) = r.scan {
            println!(
                "| scan of 1 h of items (4 phases), {} tracks | {speed:.0}× real time ({found} segments found, {truth} placed) |",
                r.tracks
            );
        }
    }
    println!(
        "| indexing (`track_items`, 4-min MP3, 1 core, median of {INDEXING_RUNS}) | {:.1} ms: {:.0}× real time |",
        ms(indexing),
        real.duration_seconds / indexing.as_secs_f64()
    );
    Ok(())
}

/// Scans one hour of items (slices of catalogue tracks between fillers), four noisy phases;
/// returns (× real time, segments found, slices placed).
fn scan_hour(index: &CatalogueIndex, catalogue: &[Vec<u32>]) -> Result<(f64, usize, usize)> {
    let hour = (3600.0 / ITEM_SECONDS).round() as usize;
    let mut rng = Rng::new(0x5CA7);
    let pool = pool();
    let mut items = Vec::with_capacity(hour + 2000);
    let mut placed = 0;
    while items.len() < hour {
        let filler_len = 240 + rng.below(480);
        items.extend(track(&mut rng, &pool, filler_len));
        let t = &catalogue[rng.below(catalogue.len())];
        let len = (600 + rng.below(900)).min(t.len());
        let start = rng.below(t.len() - len + 1);
        items.extend_from_slice(&t[start..start + len]);
        placed += 1;
    }
    items.truncate(hour);
    let phases_items: Vec<Vec<u32>> = (0..QUERY_PHASES.len())
        .map(|_| noisy(&mut rng, &items, 0.03))
        .collect();
    let phases: Vec<QueryPhase<'_>> = QUERY_PHASES
        .iter()
        .zip(&phases_items)
        .map(|(&phase_samples, items)| QueryPhase {
            phase_samples,
            items,
        })
        .collect();
    let started = Instant::now();
    let found = scan::scan(index, &phases, &ScanConfig::default(), &mut |_, _| true)?;
    let took = started.elapsed();
    let audio = hour as f64 * f64::from(raw::ITEM_HOP_SAMPLES) / f64::from(SAMPLE_RATE);
    Ok((audio / took.as_secs_f64(), found.len(), placed))
}
