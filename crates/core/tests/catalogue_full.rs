//! Mode 2 (whole-track comparison, full-track identification, duplicate detection) on
//! synthetic items: the seeded random-walk generator of `catalogue_index.rs` (a few percent of
//! items from a pool shared by all tracks), with planted copies, noisy copies, trims,
//! compilations and shared sections.

// Fixtures and helpers unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod catalogue_support;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use catalogue_support::{Rng, noisy, pool, track, tracks};
use recozik_core::catalogue::ITEM_SECONDS;
use recozik_core::catalogue::full::{
    self, FullConfig, FullError, PairClass, Side, compare, find_duplicates, identify_full,
    items_hash,
};
use recozik_core::catalogue::index::{CatalogueIndex, IndexConfig, SILENCE_ITEM, TrackId};

fn log(line: &str) {
    writeln!(std::io::stderr().lock(), "{line}").unwrap();
}

#[test]
fn identical_copies_are_exact_and_same() {
    let t = tracks(1, 1).remove(0);
    let copy = t.clone();
    assert_eq!(items_hash(&t), items_hash(&copy));
    let c = compare(&t, &copy, &FullConfig::default());
    assert_eq!(c.class, Some(PairClass::Same));
    assert!((c.score - 1.0).abs() < 1e-12, "{}", c.score);
    assert_eq!(c.offset_items, 0);
    assert!(c.coverage_a > 0.99 && c.coverage_b > 0.99, "{c:?}");
}

#[test]
fn a_noisy_copy_is_same_with_a_high_score() {
    let t = tracks(2, 1).remove(0);
    let mut rng = Rng::new(7);
    let copy = noisy(&mut rng, &t, 0.05);
    assert_ne!(items_hash(&t), items_hash(&copy));
    let c = compare(&t, &copy, &FullConfig::default());
    log(&format!(
        "5 % flips: score {:.3}, bit errors {:.2}, coverage {:.3}/{:.3}",
        c.score, c.bit_errors, c.coverage_a, c.coverage_b
    ));
    assert_eq!(c.class, Some(PairClass::Same));
    assert!(c.score > 0.85, "{}", c.score);
    assert_eq!(c.offset_items, 0);
}

#[test]
fn a_trimmed_version_is_contained_at_its_offset() {
    let t = tracks(3, 1).remove(0);
    let cut = t.len() * 3 / 10;
    let trimmed = t[cut..].to_vec();
    let c = compare(&t, &trimmed, &FullConfig::default());
    assert_eq!(c.class, Some(PairClass::Contains));
    assert_eq!(c.container, Some(Side::A));
    assert_eq!(c.offset_items, cut as i64);
    assert!((c.offset_s - cut as f64 * ITEM_SECONDS).abs() < 1e-9);
    assert!(c.coverage_b > 0.99, "{c:?}");
    assert!((c.coverage_a - 0.7).abs() < 0.02, "{c:?}");
    assert_eq!(c.sections.len(), 1);
    assert_eq!(c.sections[0].a_start as usize, cut);
    assert_eq!(c.sections[0].b_start, 0);
    // The other way round: side B contains side A, offset negated.
    let back = compare(&trimmed, &t, &FullConfig::default());
    assert_eq!(back.class, Some(PairClass::Contains));
    assert_eq!(back.container, Some(Side::B));
    assert_eq!(back.offset_items, -(cut as i64));
}

#[test]
fn a_compilation_contains_both_tracks() {
    let ts = tracks(4, 2);
    let compilation = [ts[0].clone(), ts[1].clone()].concat();
    for (k, part) in ts.iter().enumerate() {
        let c = compare(&compilation, part, &FullConfig::default());
        let at = if k == 0 { 0 } else { ts[0].len() };
        assert_eq!(c.class, Some(PairClass::Contains), "{c:?}");
        assert_eq!(c.container, Some(Side::A));
        assert_eq!(c.offset_items, at as i64);
        assert!((c.score - 1.0).abs() < 1e-12);
        assert!(c.coverage_b > 0.99);
        assert!(c.coverage_a > 0.4 && c.coverage_a < 0.6, "{c:?}");
        let s = c.sections.iter().max_by_key(|s| s.items).unwrap();
        assert_eq!(s.a_start as usize, at);
    }
}

#[test]
fn a_shared_section_is_an_overlap_and_unrelated_tracks_are_not_paired() {
    let ts = tracks(5, 3);
    let (first, mut second) = (ts[0].clone(), ts[1].clone());
    let shared = first.len() / 5;
    second[600..600 + shared].copy_from_slice(&first[200..200 + shared]);
    let c = compare(&first, &second, &FullConfig::default());
    log(&format!(
        "shared {shared} items: class {:?}, score {:.3}, sections {:?}",
        c.class, c.score, c.sections
    ));
    assert_eq!(c.class, Some(PairClass::Overlap));
    assert_eq!(c.offset_items, 200 - 600);
    let section = c.sections.iter().max_by_key(|s| s.items).unwrap();
    assert!(
        section.a_start.abs_diff(200) <= 3 && section.b_start.abs_diff(600) <= 3,
        "{section:?}"
    );
    assert!(section.items.abs_diff(shared as u32) <= 6, "{section:?}");

    let unrelated = compare(&ts[0], &ts[2], &FullConfig::default());
    assert_eq!(unrelated.class, None, "{unrelated:?}");
    assert!(unrelated.sections.is_empty());
    assert!(unrelated.score < 0.1);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let t = tracks(6, 1).remove(0);
    let config = FullConfig::default();
    let silence = vec![SILENCE_ITEM; 500];
    let max = vec![u32::MAX; 500];
    let zeros = vec![0_u32; 500];
    let inputs: [&[u32]; 7] = [&[], &t[..1], &t[..5], &silence, &max, &zeros, &t];
    for a in inputs {
        for b in inputs {
            let c = compare(a, b, &config);
            assert!((0.0..=1.0).contains(&c.score), "{c:?}");
            assert!(c.coverage_a <= 1.0 && c.coverage_b <= 1.0);
        }
    }
    // Repetitive audio is not "the same" as a different repetitive track.
    assert_eq!(compare(&max, &t, &config).class, None);
    let odd = FullConfig {
        max_offset_items: u32::MAX,
        max_items: 3,
        max_alignments: 0,
        max_term_repeats: 0,
        min_section_items: 0,
        section_max_bit_errors: f64::NAN,
        gate_fraction: f64::NAN,
        ..config
    };
    let c = compare(&t, &t, &odd);
    assert_eq!(c.len_a, 3);
    let idx =
        CatalogueIndex::from_tracks(IndexConfig::default(), [&t[..], &silence, &max]).unwrap();
    for q in inputs {
        let found = identify_full(&idx, q, &config).unwrap();
        assert!(found.len() <= config.max_candidates);
    }
    assert!(matches!(
        identify_full(
            &idx,
            &t,
            &FullConfig {
                max_items: 10,
                ..config
            }
        ),
        Err(FullError::QueryTooLong { .. })
    ));
    assert!(matches!(
        identify_full(
            &idx,
            &t,
            &FullConfig {
                window_items: 0,
                ..config
            }
        ),
        Err(FullError::InvalidConfig(_))
    ));
    let empty = CatalogueIndex::empty(IndexConfig::default()).unwrap();
    assert!(
        find_duplicates(&empty, &config, &|_, _| true)
            .unwrap()
            .is_empty()
    );
}

/// Appends a track and returns its id.
fn add(all: &mut Vec<Vec<u32>>, items: Vec<u32>) -> u32 {
    all.push(items);
    (all.len() - 1) as u32
}

/// 90 tracks and 10 planted variants; returns the index and the expected pairs.
fn planted() -> (CatalogueIndex, BTreeSet<(u32, u32, PairClass)>) {
    let mut all = tracks(8, 90);
    let mut rng = Rng::new(99);
    let pool = pool();
    let mut expected = BTreeSet::new();
    for base in [0_u32, 1] {
        let items = all[base as usize].clone();
        let id = add(&mut all, items);
        expected.insert((base, id, PairClass::Same));
    }
    for base in [2_u32, 3] {
        let items = noisy(&mut rng, &all[base as usize], 0.05);
        let id = add(&mut all, items);
        expected.insert((base, id, PairClass::Same));
    }
    for base in [4_u32, 5] {
        let t = &all[base as usize];
        let items = t[t.len() * 3 / 10..].to_vec();
        let id = add(&mut all, items);
        expected.insert((base, id, PairClass::Contains));
    }
    for (x, y) in [(6_u32, 7_u32), (8, 9)] {
        let items = [all[x as usize].clone(), all[y as usize].clone()].concat();
        let id = add(&mut all, items);
        expected.insert((x, id, PairClass::Contains));
        expected.insert((y, id, PairClass::Contains));
    }
    for base in [10_u32, 11] {
        let mut items = track(&mut rng, &pool, 1900);
        let src = &all[base as usize];
        let n = src.len() / 5;
        items[1000..1000 + n].copy_from_slice(&src[300..300 + n]);
        let id = add(&mut all, items);
        expected.insert((base, id, PairClass::Overlap));
    }
    let mut index =
        CatalogueIndex::from_tracks(IndexConfig::default(), all.iter().map(Vec::as_slice)).unwrap();
    // A deleted copy of track 12 must not be paired.
    let gone = index.insert(&all[12]).unwrap();
    index.delete(gone).unwrap();
    (index, expected)
}

#[test]
fn find_duplicates_finds_every_planted_variant_and_nothing_else() {
    let (index, expected) = planted();
    assert_eq!(index.live_track_count(), 100);
    let started = Instant::now();
    let calls = Cell::new(0_u32);
    let pairs = find_duplicates(&index, &FullConfig::default(), &|done, total| {
        calls.set(calls.get() + 1);
        assert!(done <= total);
        true
    })
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(calls.get(), 101);
    let found: BTreeSet<(u32, u32, PairClass)> =
        pairs.iter().map(|p| (p.a.0, p.b.0, p.class)).collect();
    let hits = found.intersection(&expected).count();
    let precision = hits as f64 / found.len().max(1) as f64;
    let recall = hits as f64 / expected.len() as f64;
    log(&format!(
        "find_duplicates over 100 tracks: {} pairs, precision {precision:.3}, recall {recall:.3}, {elapsed:?}",
        found.len()
    ));
    for p in &pairs {
        log(&format!(
            "  {} {} {:?} exact {} score {:.3} offset {} cov {:.2}/{:.2}",
            p.a,
            p.b,
            p.class,
            p.exact,
            p.comparison.score,
            p.comparison.offset_items,
            p.comparison.coverage_a,
            p.comparison.coverage_b
        ));
    }
    assert_eq!(found, expected);
    assert!(pairs.iter().all(|p| p.a < p.b));
    assert_eq!(pairs.iter().filter(|p| p.exact).count(), 2);
    // The trimmed copies are found at their cut.
    for p in pairs.iter().filter(|p| p.a.0 == 4 || p.a.0 == 5) {
        let base = index.track_items(p.a).unwrap();
        assert_eq!(p.comparison.offset_items, (base.len() * 3 / 10) as i64);
        assert_eq!(p.comparison.container, Some(Side::A));
    }
}

#[test]
fn identify_full_names_the_original_of_a_noisy_copy() {
    let (index, _) = planted();
    let mut rng = Rng::new(5);
    let original = index.track_items(TrackId(20)).unwrap();
    let query = noisy(&mut rng, original, 0.05);
    let started = Instant::now();
    let found = identify_full(&index, &query, &FullConfig::default()).unwrap();
    log(&format!("identify_full: {:?}", started.elapsed()));
    assert_eq!(found[0].track, TrackId(20));
    assert_eq!(found[0].comparison.class, Some(PairClass::Same));
    assert!(!found[0].exact);
    assert_eq!(found.len(), 1);
    let exact = identify_full(&index, original, &FullConfig::default()).unwrap();
    assert!(exact[0].exact);
}

#[test]
fn cancellation_stops_between_tracks() {
    let (index, _) = planted();
    let calls = Cell::new(0_u32);
    let result = full::find_duplicates(&index, &FullConfig::default(), &|done, _| {
        calls.set(calls.get() + 1);
        done < 5
    });
    assert_eq!(
        result,
        Err(FullError::Cancelled {
            done: 5,
            total: 100
        })
    );
    assert_eq!(calls.get(), 6);
}

#[test]
fn an_edit_with_a_cut_middle_shows_both_sections() {
    let t = tracks(11, 1).remove(0);
    // Items 700..1100 cut out: two sections at two offsets.
    let edit = [&t[..700], &t[1100..]].concat();
    let c = compare(&t, &edit, &FullConfig::default());
    log(&format!("cut edit: {:?} {:?}", c.class, c.sections));
    assert_eq!(c.class, Some(PairClass::Contains));
    assert_eq!(c.container, Some(Side::A));
    assert!(c.coverage_b > 0.98, "{c:?}");
    let mut offsets: Vec<i64> = c.sections.iter().map(|s| s.offset_items).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, vec![0, 400]);
    for (s, a_start) in c.sections.iter().zip([0_u32, 1100]) {
        assert!(s.a_start.abs_diff(a_start) <= 3, "{s:?}");
    }
}

#[test]
fn padding_keeps_a_copy_the_same_at_a_shifted_offset() {
    let t = tracks(12, 1).remove(0);
    let mut rng = Rng::new(3);
    let padded = [vec![SILENCE_ITEM; 5], noisy(&mut rng, &t, 0.03)].concat();
    let c = compare(&t, &padded, &FullConfig::default());
    assert_eq!(c.class, Some(PairClass::Same));
    assert_eq!(c.offset_items, -5);
}

#[test]
fn identify_full_finds_both_parts_of_a_compilation() {
    let (index, _) = planted();
    let parts = [
        index.track_items(TrackId(30)).unwrap(),
        index.track_items(TrackId(31)).unwrap(),
    ];
    let query = parts.concat();
    let found = identify_full(&index, &query, &FullConfig::default()).unwrap();
    let mut tracks: Vec<u32> = found.iter().map(|m| m.track.0).collect();
    tracks.sort_unstable();
    assert_eq!(tracks, vec![30, 31]);
    for m in &found {
        assert_eq!(m.comparison.class, Some(PairClass::Contains));
        assert_eq!(m.comparison.container, Some(Side::A));
        let at = if m.track.0 == 30 { 0 } else { parts[0].len() };
        assert_eq!(m.comparison.offset_items, at as i64);
    }
}

/// A larger catalogue (400 tracks and 20 noisy copies): still exact, and the cost per track is
/// printed (the 100k-track figures belong to `cargo xtask bench catalogue`).
#[test]
fn find_duplicates_stays_exact_on_a_larger_catalogue() {
    let mut all = tracks(21, 400);
    let mut rng = Rng::new(4);
    let mut expected = BTreeSet::new();
    for base in 0..20_u32 {
        let items = noisy(&mut rng, &all[base as usize], 0.05);
        let id = add(&mut all, items);
        expected.insert((base, id));
    }
    let index =
        CatalogueIndex::from_tracks(IndexConfig::default(), all.iter().map(Vec::as_slice)).unwrap();
    let started = Instant::now();
    let pairs = find_duplicates(&index, &FullConfig::default(), &|_, _| true).unwrap();
    let elapsed = started.elapsed();
    let found: BTreeSet<(u32, u32)> = pairs.iter().map(|p| (p.a.0, p.b.0)).collect();
    let hits = found.intersection(&expected).count();
    log(&format!(
        "{} tracks: {elapsed:?}, {:.2} ms per track, {} pairs, precision {:.3}, recall {:.3}",
        all.len(),
        elapsed.as_secs_f64() * 1e3 / all.len() as f64,
        found.len(),
        hits as f64 / found.len().max(1) as f64,
        hits as f64 / expected.len() as f64
    ));
    assert_eq!(found, expected);
}

#[test]
fn a_random_hostile_sweep_never_panics() {
    let mut rng = Rng::new(77);
    let base = tracks(31, 1).remove(0);
    let config = FullConfig::default();
    for _ in 0..300 {
        let pick = |rng: &mut Rng| -> Vec<u32> {
            let len = rng.below(300);
            match rng.below(4) {
                0 => (0..len).map(|_| rng.next_u32()).collect(),
                1 => (0..len)
                    .map(|_| [0, u32::MAX, SILENCE_ITEM][rng.below(3)])
                    .collect(),
                2 => {
                    let from = rng.below(base.len());
                    base[from..(from + len).min(base.len())].to_vec()
                }
                _ => vec![rng.next_u32(); len],
            }
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let c = compare(&a, &b, &config);
        assert!((0.0..=1.0).contains(&c.score), "{c:?}");
        assert!(c.sections.iter().all(|s| {
            (s.a_start + s.items) as usize <= a.len() && (s.b_start + s.items) as usize <= b.len()
        }));
    }
    let mut index =
        CatalogueIndex::from_tracks(IndexConfig::default(), [&base[..], &base[..]]).unwrap();
    index.delete(TrackId(0)).unwrap();
    index.delete(TrackId(1)).unwrap();
    assert!(
        find_duplicates(&index, &config, &|_, _| true)
            .unwrap()
            .is_empty()
    );
}
