//! The long-file scan (Mode 3) on synthetic items: 50 tracks from the seeded random-walk
//! generator of `catalogue_support` (a few percent of items from a shared pool), "mixes" made
//! of slices of catalogue tracks, non-catalogue fillers and bit flips, a tempo-drifted slice,
//! cancellation and hostile inputs.

// Fixtures and helpers unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod catalogue_support;

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use catalogue_support::{Rng, noisy, pool, track};
use recozik_core::catalogue::ITEM_SECONDS;
use recozik_core::catalogue::index::{CatalogueIndex, IndexConfig, SILENCE_ITEM, TrackId};
use recozik_core::catalogue::raw::{PhaseItems, PhasedItems};
use recozik_core::catalogue::scan::{self, ScanConfig, ScanError, ScanSegment};
use recozik_core::catalogue::snippet::{Confidence, QueryPhase};

const TRACKS: usize = 50;

struct Fixture {
    tracks: Vec<Vec<u32>>,
    index: CatalogueIndex,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = Rng::new(11);
        let pool = pool();
        let tracks: Vec<Vec<u32>> = (0..TRACKS)
            .map(|_| {
                let len = 1800 + rng.below(200);
                track(&mut rng, &pool, len)
            })
            .collect();
        let index =
            CatalogueIndex::from_tracks(IndexConfig::default(), tracks.iter().map(Vec::as_slice))
                .unwrap();
        Fixture { tracks, index }
    })
}

/// Items of audio that is not in the catalogue (same generator, other seeds and pool use).
fn filler(seed: u64, len: usize) -> Vec<u32> {
    track(&mut Rng::new(seed ^ 0xF111_E400), &pool(), len)
}

/// A catalogue slice placed in a mix: where, which track, from which track item.
#[derive(Debug, Clone, Copy)]
struct Truth {
    track: TrackId,
    mix_start: usize,
    mix_end: usize,
    track_start: usize,
}

fn one_phase(items: &[u32]) -> [QueryPhase<'_>; 1] {
    [QueryPhase {
        phase_samples: 0,
        items,
    }]
}

fn run(items: &[u32], config: &ScanConfig) -> (Vec<ScanSegment>, std::time::Duration) {
    let started = Instant::now();
    let found = scan::scan(&fixture().index, &one_phase(items), config, &mut |_, _| {
        true
    })
    .unwrap();
    (found, started.elapsed())
}

/// Checks the found segments against the truth; returns the largest boundary and position
/// errors (seconds).
fn check(name: &str, found: &[ScanSegment], truth: &[Truth]) -> (f64, f64) {
    let mut log = std::io::stderr().lock();
    for s in found {
        writeln!(
            log,
            "{name}: found {} {:.2}–{:.2} s at track {:.2} s, score {:.3}, {:?}, tempo {:.4}, \
             {} windows",
            s.track,
            s.start_s,
            s.end_s,
            s.track_position_s,
            s.score,
            s.confidence,
            s.tempo_ratio,
            s.windows
        )
        .unwrap();
    }
    assert_eq!(found.len(), truth.len(), "{name}: {found:#?}");
    let (mut worst_boundary, mut worst_position) = (0.0_f64, 0.0_f64);
    for (s, t) in found.iter().zip(truth) {
        assert_eq!(s.track, t.track, "{name}");
        let start_error = s.start_s - t.mix_start as f64 * ITEM_SECONDS;
        let end_error = s.end_s - t.mix_end as f64 * ITEM_SECONDS;
        let position_error = s.track_position_s - t.track_start as f64 * ITEM_SECONDS;
        writeln!(
            log,
            "{name}: track {} start error {start_error:+.3} s, end error {end_error:+.3} s, \
             track position error {position_error:+.3} s",
            t.track
        )
        .unwrap();
        assert!(start_error.abs() <= 2.0, "{name}: {s:?} vs {t:?}");
        assert!(end_error.abs() <= 2.0, "{name}: {s:?} vs {t:?}");
        assert!(position_error.abs() <= 0.5, "{name}: {s:?} vs {t:?}");
        assert!(s.confidence >= Confidence::Medium);
        worst_boundary = worst_boundary.max(start_error.abs()).max(end_error.abs());
        worst_position = worst_position.max(position_error.abs());
    }
    (worst_boundary, worst_position)
}

/// A mix of 6 distinct catalogue tracks (40–120 s slices, 3–8 % bit flips) with short
/// non-catalogue fillers before some of them.
fn mix(seed: u64) -> (Vec<u32>, Vec<Truth>) {
    let f = fixture();
    let mut rng = Rng::new(seed);
    let mut items = Vec::new();
    let mut truth = Vec::new();
    let mut used = Vec::new();
    for k in 0..6 {
        if k == 0 || rng.chance(0.5) {
            let len = rng.between(25, 100);
            items.extend(filler(seed * 100 + k, len));
        }
        let mut t = rng.below(TRACKS);
        while used.contains(&t) {
            t = rng.below(TRACKS);
        }
        used.push(t);
        let len = rng.between(323, 969);
        let from = rng.below(f.tracks[t].len() - len);
        let flip = 0.03 + 0.05 * rng.below(1000) as f64 / 1000.0;
        let mix_start = items.len();
        items.extend(noisy(&mut rng, &f.tracks[t][from..from + len], flip));
        truth.push(Truth {
            track: TrackId(t as u32),
            mix_start,
            mix_end: items.len(),
            track_start: from,
        });
    }
    let len = rng.between(25, 100);
    items.extend(filler(seed * 100 + 99, len));
    (items, truth)
}

#[test]
fn a_mix_of_six_tracks_gives_six_segments_in_order() {
    let config = ScanConfig::default();
    let (mut worst_boundary, mut worst_position) = (0.0_f64, 0.0_f64);
    for seed in 1..=4 {
        let (items, truth) = mix(seed);
        let (found, elapsed) = run(&items, &config);
        let (b, p) = check(&format!("mix {seed}"), &found, &truth);
        worst_boundary = worst_boundary.max(b);
        worst_position = worst_position.max(p);
        writeln!(
            std::io::stderr().lock(),
            "mix {seed}: {} items ({:.0} s) scanned in {elapsed:?} ({} build)",
            items.len(),
            items.len() as f64 * ITEM_SECONDS,
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        )
        .unwrap();
    }
    writeln!(
        std::io::stderr().lock(),
        "worst boundary error {worst_boundary:.3} s, worst track position error \
         {worst_position:.3} s"
    )
    .unwrap();
}

#[test]
fn a_mix_without_catalogue_audio_gives_no_segment() {
    let items: Vec<u32> = (0..8).flat_map(|k| filler(1000 + k, 400)).collect();
    let (found, _) = run(&items, &ScanConfig::default());
    assert!(found.is_empty(), "{found:#?}");
}

/// A slice whose items are resampled: one item in `every` dropped (`drop`) or duplicated.
fn drifted(items: &[u32], every: usize, drop: bool) -> Vec<u32> {
    let mut out = Vec::with_capacity(items.len() + items.len() / every + 1);
    for (i, &item) in items.iter().enumerate() {
        let marked = i % every == every - 1;
        if !(drop && marked) {
            out.push(item);
        }
        if !drop && marked {
            out.push(item);
        }
    }
    out
}

#[test]
fn a_tempo_drifted_slice_is_one_segment_with_its_tempo() {
    let f = fixture();
    for (drop, expected) in [(true, 50.0 / 49.0), (false, 50.0 / 51.0)] {
        let mut rng = Rng::new(77);
        let t = 17;
        let (from, len) = (300, 969);
        let slice = drifted(&f.tracks[t][from..from + len], 50, drop);
        let mut items = filler(5, 60);
        let mix_start = items.len();
        items.extend(noisy(&mut rng, &slice, 0.04));
        let mix_end = items.len();
        items.extend(filler(6, 60));
        let (found, _) = run(&items, &ScanConfig::default());
        let truth = [Truth {
            track: TrackId(t as u32),
            mix_start,
            mix_end,
            track_start: from,
        }];
        let name = if drop { "tempo +2 %" } else { "tempo −2 %" };
        check(name, &found, &truth);
        let ratio = found[0].tempo_ratio;
        writeln!(
            std::io::stderr().lock(),
            "{name}: tempo ratio {ratio:.4} (expected {expected:.4})"
        )
        .unwrap();
        assert!((ratio - expected).abs() < 0.005, "{name}: {ratio}");
    }
}

#[test]
fn phased_items_are_scanned_and_the_best_phase_wins() {
    let (items, truth) = mix(9);
    let mut rng = Rng::new(3);
    // Later phases are much noisier copies: the scan must keep phase 0's matches.
    let phases: Vec<PhaseItems> = [0_u32, 341, 683, 1024]
        .iter()
        .enumerate()
        .map(|(k, &offset_samples)| PhaseItems {
            offset_samples,
            items: if k == 0 {
                items.clone()
            } else {
                noisy(&mut rng, &items, 0.2)
            },
        })
        .collect();
    let phased = PhasedItems {
        phases,
        item_seconds: ITEM_SECONDS,
        duration_seconds: items.len() as f64 * ITEM_SECONDS,
        decoded_seconds: items.len() as f64 * ITEM_SECONDS,
    };
    let started = Instant::now();
    let found = scan::scan_phased(
        &fixture().index,
        &phased,
        &ScanConfig::default(),
        &mut |_, _| true,
    )
    .unwrap();
    writeln!(
        std::io::stderr().lock(),
        "4 phases, {} items: {:?}",
        items.len(),
        started.elapsed()
    )
    .unwrap();
    check("4 phases", &found, &truth);
}

#[test]
fn cancellation_stops_the_scan_quickly() {
    let (items, _) = mix(2);
    let index = &fixture().index;
    let config = ScanConfig {
        progress_every: 3,
        ..ScanConfig::default()
    };
    let mut calls = Vec::new();
    let found = scan::scan(index, &one_phase(&items), &config, &mut |done, total| {
        calls.push((done, total));
        true
    })
    .unwrap();
    assert!(!found.is_empty());
    let total = calls[0].1;
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(total, total)));
    assert!(
        calls
            .windows(2)
            .all(|w| w[1].0 > w[0].0 && w[1].0 - w[0].0 <= 3)
    );

    let mut seen = 0;
    let result = scan::scan(index, &one_phase(&items), &config, &mut |done, _| {
        seen = done;
        done < 6
    });
    assert_eq!(result, Err(ScanError::Cancelled));
    assert_eq!(seen, 6);
    // Refused at the first call: asked once, before any window was searched (a count, not a
    // wall-clock bound, which a busy machine would stretch).
    let mut asked = Vec::new();
    let result = scan::scan(index, &one_phase(&items), &config, &mut |done, _| {
        asked.push(done);
        false
    });
    assert_eq!(result, Err(ScanError::Cancelled));
    assert_eq!(asked, [0]);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let f = fixture();
    let config = ScanConfig::default();
    let mut rng = Rng::new(5);
    let random: Vec<u32> = (0..3000).map(|_| rng.next_u32()).collect();
    let short = f.tracks[3][..79].to_vec();
    let inputs: Vec<Vec<u32>> = vec![
        Vec::new(),
        vec![1],
        short,
        vec![SILENCE_ITEM; 3000],
        vec![0; 3000],
        vec![u32::MAX; 3000],
        random,
        (0..3000)
            .map(|i| if i % 2 == 0 { 0x1234_5678 } else { 0 })
            .collect(),
    ];
    for items in &inputs {
        let found = scan::scan(&f.index, &one_phase(items), &config, &mut |_, _| true).unwrap();
        assert!(found.is_empty(), "{found:?}");
    }
    // A catalogue slice repeated back to back: one track at several offsets, no panic.
    let looped: Vec<u32> = (0..10)
        .flat_map(|_| f.tracks[4][100..300].iter().copied())
        .collect();
    let found = scan::scan(&f.index, &one_phase(&looped), &config, &mut |_, _| true).unwrap();
    assert!(found.iter().all(|s| s.track == TrackId(4)));
    assert!(found.windows(2).all(|w| w[0].end_s <= w[1].start_s));
    // Hostile phases: huge shifts, unequal lengths, no phase at all, too many phases.
    let whole = &f.tracks[7];
    let phases = [
        QueryPhase {
            phase_samples: u32::MAX,
            items: whole,
        },
        QueryPhase {
            phase_samples: 0,
            items: &whole[..10],
        },
        QueryPhase {
            phase_samples: 7,
            items: &[],
        },
    ];
    let found = scan::scan(&f.index, &phases, &config, &mut |_, _| true).unwrap();
    assert!(
        found
            .iter()
            .all(|s| s.start_s.is_finite() && s.end_s.is_finite())
    );
    assert!(
        scan::scan(&f.index, &[], &config, &mut |_, _| true)
            .unwrap()
            .is_empty()
    );
    let many = vec![phases[1]; 17];
    assert!(matches!(
        scan::scan(&f.index, &many, &config, &mut |_, _| true),
        Err(ScanError::Snippet(_))
    ));
    // Empty and fully deleted indexes.
    let empty = CatalogueIndex::empty(IndexConfig::default()).unwrap();
    assert!(
        scan::scan(&empty, &one_phase(whole), &config, &mut |_, _| true)
            .unwrap()
            .is_empty()
    );
    let mut deleted =
        CatalogueIndex::from_tracks(IndexConfig::default(), [whole.as_slice()]).unwrap();
    deleted.delete(TrackId(0)).unwrap();
    assert!(
        scan::scan(&deleted, &one_phase(whole), &config, &mut |_, _| true)
            .unwrap()
            .is_empty()
    );
    // Odd but valid settings, and invalid ones.
    let odd = ScanConfig {
        window_items: 8,
        hop_items: 1,
        min_windows: 0,
        min_segment_s: 0.0,
        boundary_search_items: usize::MAX,
        progress_every: 0,
        min_score: f64::NEG_INFINITY,
        ..config
    };
    let found = scan::scan(&f.index, &one_phase(&whole[..400]), &odd, &mut |_, _| true).unwrap();
    assert!(found.iter().all(|s| s.start_s <= s.end_s));
    let bad = ScanConfig {
        hop_items: 0,
        ..config
    };
    assert!(matches!(
        scan::scan(&f.index, &one_phase(whole), &bad, &mut |_, _| true),
        Err(ScanError::InvalidConfig(_))
    ));
}

#[test]
fn a_whole_catalogue_track_is_one_segment() {
    let f = fixture();
    let t = 21;
    let (found, _) = run(&f.tracks[t], &ScanConfig::default());
    let truth = [Truth {
        track: TrackId(t as u32),
        mix_start: 0,
        mix_end: f.tracks[t].len(),
        track_start: 0,
    }];
    check("whole track", &found, &truth);
    assert!((found[0].tempo_ratio - 1.0).abs() < 0.002);
}

#[test]
fn a_crossfade_is_split_inside_the_fade() {
    let f = fixture();
    let mut rng = Rng::new(31);
    let (a, b) = (&f.tracks[2][100..700], &f.tracks[40][200..800]);
    // 40 items (5 s) where each item comes from either track: both play at once.
    let fade = 40;
    let mut items = filler(8, 50);
    let a_start = items.len();
    items.extend_from_slice(&a[..a.len() - fade]);
    let fade_start = items.len();
    for k in 0..fade {
        let from_a = rng.chance(1.0 - k as f64 / fade as f64);
        items.push(if from_a { a[a.len() - fade + k] } else { b[k] });
    }
    let fade_end = items.len();
    items.extend_from_slice(&b[fade..]);
    let b_end = items.len();
    items.extend(filler(9, 50));
    let items = noisy(&mut rng, &items, 0.04);
    let (found, _) = run(&items, &ScanConfig::default());
    assert_eq!(found.len(), 2, "{found:#?}");
    let cut = found[0].end_s / ITEM_SECONDS;
    writeln!(
        std::io::stderr().lock(),
        "crossfade over items {fade_start}..{fade_end}: first ends at item {cut:.1}, second starts at item {:.1}", found[1].start_s / ITEM_SECONDS
    )
    .unwrap();
    assert_eq!((found[0].track, found[1].track), (TrackId(2), TrackId(40)));
    // Inside a fade items of both tracks alternate: each side ends where its own items stop
    // winning, so the two may leave a short gap but never overlap.
    assert!(found[0].end_s <= found[1].start_s + 1e-9);
    let next = found[1].start_s / ITEM_SECONDS;
    for at in [cut, next] {
        assert!(
            at >= fade_start as f64 - 16.0 && at <= fade_end as f64 + 16.0,
            "{at}"
        );
    }
    assert!((found[0].start_s - a_start as f64 * ITEM_SECONDS).abs() <= 2.0);
    assert!((found[1].end_s - b_end as f64 * ITEM_SECONDS).abs() <= 2.0);
    let b_position = found[1].track_position_s / ITEM_SECONDS - 200.0;
    let b_offset = found[1].start_s / ITEM_SECONDS - fade_start as f64;
    assert!((b_position - b_offset).abs() <= 4.0);
}

#[test]
fn tempo_changes_up_to_the_design_limits_are_measured() {
    let f = fixture();
    let mut log = std::io::stderr().lock();
    for every in [100, 50, 33, 20] {
        let mut rng = Rng::new(every as u64);
        let slice = drifted(&f.tracks[29][200..1169], every, true);
        let mut items = filler(10, 60);
        let start = items.len();
        items.extend(noisy(&mut rng, &slice, 0.04));
        let end = items.len();
        items.extend(filler(11, 60));
        let (found, _) = run(&items, &ScanConfig::default());
        let expected = every as f64 / (every - 1) as f64;
        let summary: Vec<String> = found
            .iter()
            .map(|s| {
                format!(
                    "{} {:.1}–{:.1} s (truth {:.1}–{:.1}), tempo {:.4}, score {:.3}, {} windows",
                    s.track,
                    s.start_s,
                    s.end_s,
                    start as f64 * ITEM_SECONDS,
                    end as f64 * ITEM_SECONDS,
                    s.tempo_ratio,
                    s.score,
                    s.windows
                )
            })
            .collect();
        writeln!(
            log,
            "one item in {every} dropped (tempo {expected:.4}): {summary:?}"
        )
        .unwrap();
        // Up to ≈ 3 % (the design's limit for Chromaprint within a 10 s window) the slice is
        // one segment with its tempo.
        if every >= 33 {
            assert_eq!(found.len(), 1, "{every}: {found:#?}");
            assert_eq!(found[0].track, TrackId(29));
            assert!((found[0].tempo_ratio - expected).abs() < 0.005, "{every}");
        }
    }
}

#[test]
fn an_hour_long_recording_is_scanned_in_bounded_time() {
    let f = fixture();
    let mut rng = Rng::new(60);
    let mut items = Vec::new();
    let mut truth = Vec::new();
    while items.len() < 29_000 {
        let t = rng.below(TRACKS);
        let len = rng.between(323, 969);
        let from = rng.below(f.tracks[t].len() - len);
        let mix_start = items.len();
        items.extend(noisy(&mut rng, &f.tracks[t][from..from + len], 0.05));
        // Skip a track repeated back to back: it would (rightly) be one segment.
        if truth.last().is_some_and(|p: &Truth| p.track.0 == t as u32) {
            items.truncate(mix_start);
            continue;
        }
        truth.push(Truth {
            track: TrackId(t as u32),
            mix_start,
            mix_end: items.len(),
            track_start: from,
        });
        let gap = rng.between(0, 80);
        items.extend(filler(7_000 + items.len() as u64, gap));
    }
    // Four phases like a real query: phase 0 carries the slices, the others are noisier.
    let noisier: Vec<Vec<u32>> = (0..3).map(|_| noisy(&mut rng, &items, 0.15)).collect();
    let phases: Vec<QueryPhase<'_>> = [0_u32, 341, 683, 1024]
        .iter()
        .enumerate()
        .map(|(k, &phase_samples)| QueryPhase {
            phase_samples,
            items: if k == 0 { &items } else { &noisier[k - 1] },
        })
        .collect();
    let mut calls = 0;
    let started = Instant::now();
    let found = scan::scan(&f.index, &phases, &ScanConfig::default(), &mut |_, _| {
        calls += 1;
        true
    })
    .unwrap();
    let elapsed = started.elapsed();
    writeln!(
        std::io::stderr().lock(),
        "4 phases of {} items ({:.0} min), {} slices: {} segments in {elapsed:?}, {calls} progress \
         calls",
        items.len(),
        items.len() as f64 * ITEM_SECONDS / 60.0,
        truth.len(),
        found.len()
    )
    .unwrap();
    let (boundary, position) = check("hour", &found, &truth);
    writeln!(
        std::io::stderr().lock(),
        "hour: worst boundary error {boundary:.3} s, worst track position error {position:.3} s"
    )
    .unwrap();
}
