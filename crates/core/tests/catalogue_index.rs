//! The catalogue index and snippet search on synthetic items: a seeded generator of random-walk
//! items with a few percent drawn from a pool shared by all tracks (like the design's
//! micro-benchmark), 200 tracks of about 1900 items, and 80-item queries (≈ 10 s).

// Shared fixtures and helpers unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod catalogue_support;

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use catalogue_support::{Rng, noisy, tracks};
use recozik_core::catalogue::index::{
    CatalogueIndex, DecodeError, IndexConfig, IndexError, SILENCE_ITEM, TrackId,
};
use recozik_core::catalogue::snippet::{self, QueryPhase, SnippetConfig, SnippetMatch};

const TRACKS: usize = 200;
const QUERY_ITEMS: usize = 80;
const QUERIES_PER_CONDITION: usize = 300;

struct Fixture {
    tracks: Vec<Vec<u32>>,
    index: CatalogueIndex,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tracks = tracks(1, TRACKS);
        let started = Instant::now();
        let index =
            CatalogueIndex::from_tracks(IndexConfig::default(), tracks.iter().map(Vec::as_slice))
                .unwrap();
        let stats = index.stats();
        writeln!(
            std::io::stderr().lock(),
            "built {} tracks, {} items, {} postings, {} stop terms, 2^{} buckets, {:.1} MB in {:?}",
            stats.tracks,
            stats.items,
            stats.postings,
            stats.stop_terms,
            stats.bucket_bits,
            stats.memory_bytes as f64 / 1e6,
            started.elapsed()
        )
        .unwrap();
        Fixture { tracks, index }
    })
}

/// A query cut from a random catalogue track: (track, offset, items).
fn cut(rng: &mut Rng, tracks: &[Vec<u32>], flip: f64) -> (TrackId, i64, Vec<u32>) {
    let t = rng.below(tracks.len());
    let offset = rng.below(tracks[t].len() - QUERY_ITEMS);
    let items = noisy(rng, &tracks[t][offset..offset + QUERY_ITEMS], flip);
    (TrackId(t as u32), offset as i64, items)
}

fn best(index: &CatalogueIndex, query: &[u32]) -> Option<SnippetMatch> {
    snippet::search(index, query, &SnippetConfig::default())
        .unwrap()
        .into_iter()
        .next()
}

#[test]
fn slices_are_found_at_their_exact_offset() {
    let f = fixture();
    let without_probes = SnippetConfig {
        probe_bits: 0,
        ..SnippetConfig::default()
    };
    for (name, config) in [
        ("default", SnippetConfig::default()),
        ("no probes", without_probes),
    ] {
        for flip in [0.0, 0.05, 0.10] {
            let mut rng = Rng::new(2);
            let started = Instant::now();
            let (mut hits, mut missed, mut wrong) = (0, 0, 0);
            let mut scores = Vec::new();
            for _ in 0..QUERIES_PER_CONDITION {
                let (track, offset, query) = cut(&mut rng, &f.tracks, flip);
                match snippet::search(&f.index, &query, &config).unwrap().first() {
                    Some(m) if m.track == track && m.offset_items == offset => {
                        hits += 1;
                        scores.push(m.score);
                    }
                    Some(_) => wrong += 1,
                    None => missed += 1,
                }
            }
            let elapsed = started.elapsed();
            let rate = f64::from(hits) / QUERIES_PER_CONDITION as f64;
            scores.sort_by(f64::total_cmp);
            let p5 = scores.get(scores.len() / 20).copied().unwrap_or(0.0);
            writeln!(
                std::io::stderr().lock(),
                "{name:>9}, {:>2.0} % bits flipped: top-1 track and exact offset \
                 {hits}/{QUERIES_PER_CONDITION} ({:.1} %), {missed} without candidate, \
                 {wrong} wrong; true score p5 {p5:.3}; {:.0} µs per query ({} build)",
                flip * 100.0,
                rate * 100.0,
                elapsed.as_secs_f64() * 1e6 / QUERIES_PER_CONDITION as f64,
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            )
            .unwrap();
            assert_eq!(wrong, 0, "{name} {flip}");
            if name == "default" {
                assert!(rate >= 0.99, "{name} {flip}: {rate}");
            }
        }
    }
}

#[test]
fn impostors_get_no_candidate_or_a_low_score() {
    let f = fixture();
    // Other tracks from another seed, sharing the catalogue's pool items.
    let others = tracks(77, 50);
    let mut rng = Rng::new(3);
    let (mut none, mut worst) = (0, 0.0_f64);
    let n = 200;
    for _ in 0..n {
        let (_, _, query) = cut(&mut rng, &others, 0.0);
        match best(&f.index, &query) {
            None => none += 1,
            Some(m) => worst = worst.max(m.score),
        }
    }
    writeln!(
        std::io::stderr().lock(),
        "impostors: {none}/{n} without candidate, best impostor score {worst:.3}"
    )
    .unwrap();
    assert!(worst < 0.5, "{worst}");
}

#[test]
fn a_round_trip_gives_identical_results() {
    let f = fixture();
    let started = Instant::now();
    let bytes = f.index.to_bytes();
    let back = CatalogueIndex::from_bytes(&bytes).unwrap();
    writeln!(
        std::io::stderr().lock(),
        "serialised {:.2} MB, round trip {:?}",
        bytes.len() as f64 / 1e6,
        started.elapsed()
    )
    .unwrap();
    assert_eq!(back.stats().postings, f.index.stats().postings);
    let mut rng = Rng::new(4);
    let config = SnippetConfig::default();
    for _ in 0..50 {
        let (_, _, query) = cut(&mut rng, &f.tracks, 0.05);
        assert_eq!(
            snippet::search(&back, &query, &config).unwrap(),
            snippet::search(&f.index, &query, &config).unwrap()
        );
    }
}

#[test]
fn a_deleted_track_is_never_returned() {
    let f = fixture();
    let mut index = f.index.clone();
    let gone = [TrackId(5), TrackId(17), TrackId(199)];
    for t in gone {
        assert!(index.delete(t).unwrap());
    }
    let mut rng = Rng::new(5);
    for round in 0..2 {
        for t in gone {
            for _ in 0..5 {
                let offset = rng.below(f.tracks[t.index()].len() - QUERY_ITEMS);
                let query = &f.tracks[t.index()][offset..offset + QUERY_ITEMS];
                let found = snippet::search(&index, query, &SnippetConfig::default()).unwrap();
                assert!(
                    found.iter().all(|m| !gone.contains(&m.track)),
                    "round {round}"
                );
            }
        }
        index.merge();
    }
    // The shared fixture still finds them: the clone was a snapshot.
    let query = &f.tracks[5][100..100 + QUERY_ITEMS];
    assert_eq!(best(&f.index, query).unwrap().track, TrackId(5));
}

#[test]
fn inserts_are_found_before_and_after_merge() {
    let f = fixture();
    let mut index = f.index.clone();
    let new = tracks(99, 5);
    let ids: Vec<TrackId> = new.iter().map(|t| index.insert(t).unwrap()).collect();
    assert_eq!(ids[0], TrackId(TRACKS as u32));
    assert!(index.delta_items() > 0);
    let mut rng = Rng::new(6);
    let queries: Vec<(TrackId, i64, Vec<u32>)> =
        (0..20).map(|_| cut(&mut rng, &new, 0.05)).collect();
    let before: Vec<SnippetMatch> = queries
        .iter()
        .map(|q| best(&index, &q.2).unwrap())
        .collect();
    index.merge();
    assert_eq!(index.delta_items(), 0);
    for ((track, offset, query), was) in queries.iter().zip(&before) {
        let track = &ids[track.index()];
        let now = best(&index, query).unwrap();
        assert_eq!((now.track, now.offset_items), (*track, *offset));
        assert_eq!((was.track, was.offset_items), (*track, *offset));
        assert!((now.score - was.score).abs() < 1e-12);
    }
}

/// CRC-32 (IEEE), bit by bit: seals hand-made arrays so they pass the checksum.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = u32::MAX;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn hostile_byte_arrays_are_typed_errors() {
    let small = CatalogueIndex::from_tracks(
        IndexConfig::default(),
        tracks(8, 3).iter().map(|t| &t[..100]),
    )
    .unwrap();
    let bytes = small.to_bytes();
    let mut rng = Rng::new(7);

    // Random arrays, bare and behind a valid magic.
    for _ in 0..500 {
        let len = rng.below(300);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        assert!(CatalogueIndex::from_bytes(&b).is_err());
        if b.len() >= 8 {
            b[..8].copy_from_slice(&bytes[..8]);
            assert!(CatalogueIndex::from_bytes(&b).is_err());
        }
    }
    assert_eq!(
        CatalogueIndex::from_bytes(b"not an index at all, no").unwrap_err(),
        DecodeError::BadMagic
    );

    // Every truncation.
    for len in 0..bytes.len() {
        assert!(CatalogueIndex::from_bytes(&bytes[..len]).is_err());
    }

    // Huge declared track and item counts, correctly sealed: refused before any allocation.
    let body = &bytes[..bytes.len() - 4];
    for (n, m) in [
        (u32::MAX, u32::MAX),
        (u32::MAX, 0),
        (3, u32::MAX),
        (1 << 30, 7),
    ] {
        let mut b = body.to_vec();
        b[28..32].copy_from_slice(&n.to_le_bytes());
        b[32..36].copy_from_slice(&m.to_le_bytes());
        assert!(matches!(
            CatalogueIndex::from_bytes(&sealed(b)),
            Err(DecodeError::Truncated { .. } | DecodeError::TrailingBytes { .. })
        ));
    }

    // A future version, unknown flags.
    let mut b = body.to_vec();
    b[8] = 2;
    assert_eq!(
        CatalogueIndex::from_bytes(&sealed(b)).unwrap_err(),
        DecodeError::UnsupportedVersion(2)
    );
    let mut b = body.to_vec();
    b[10] = 1;
    assert_eq!(
        CatalogueIndex::from_bytes(&sealed(b)).unwrap_err(),
        DecodeError::UnsupportedFlags(1)
    );

    // A sealed array whose track count breaks its own limit.
    let mut b = body.to_vec();
    b[20..24].copy_from_slice(&1_u32.to_le_bytes());
    assert_eq!(
        CatalogueIndex::from_bytes(&sealed(b)).unwrap_err(),
        DecodeError::Index(IndexError::TooManyTracks { max: 1 })
    );

    // Intact bytes still load.
    assert_eq!(CatalogueIndex::from_bytes(&bytes).unwrap().track_count(), 3);
}

#[test]
fn phases_pick_the_cleanest_query() {
    let f = fixture();
    let mut rng = Rng::new(8);
    let (track, offset, clean) = cut(&mut rng, &f.tracks, 0.0);
    let rough = noisy(&mut rng, &clean, 0.08);
    let phases = [
        QueryPhase {
            phase_samples: 0,
            items: &rough,
        },
        QueryPhase {
            phase_samples: 341,
            items: &clean,
        },
    ];
    let found = snippet::best_over_phases(&f.index, &phases, &SnippetConfig::default()).unwrap();
    assert_eq!(found[0].track, track);
    assert_eq!(found[0].offset_items, offset);
    assert_eq!(found[0].phase_samples, 341);
    let expected = offset as f64 * snippet::ITEM_SECONDS - 341.0 / 11_025.0;
    assert!((found[0].position_s - expected).abs() < 1e-9);
}

#[test]
fn stop_terms_drop_common_items_without_losing_tracks() {
    // 40 tracks with a limit of 20 postings per term: the shared pool items (about 2 200 in
    // all, some 9 per pool value) are kept, but a drone item present in every track is not.
    let mut tracks = tracks(11, 40);
    for t in &mut tracks {
        for item in t.iter_mut().step_by(50) {
            *item = 0x1357_9BDF;
        }
    }
    let config = IndexConfig {
        max_postings: 20,
        ..IndexConfig::default()
    };
    let index = CatalogueIndex::from_tracks(config, tracks.iter().map(Vec::as_slice)).unwrap();
    assert!(index.stats().stop_terms >= 1);
    assert!(index.is_stop_item(0x1357_9BDF));
    let mut rng = Rng::new(12);
    for _ in 0..50 {
        let (track, offset, query) = cut(&mut rng, &tracks, 0.05);
        let m = best(&index, &query).unwrap();
        assert_eq!((m.track, m.offset_items), (track, offset));
    }
}

#[test]
fn odd_queries_never_panic() {
    let f = fixture();
    let mut rng = Rng::new(13);
    let specials = [0, u32::MAX, SILENCE_ITEM, 1, 0x8000_0000];
    for round in 0..200 {
        let len = rng.below(300);
        let query: Vec<u32> = (0..len)
            .map(|_| match rng.below(4) {
                0 => specials[rng.below(specials.len())],
                1 => f.tracks[rng.below(TRACKS)][rng.below(1800)],
                _ => rng.next_u32(),
            })
            .collect();
        let config = SnippetConfig {
            top_k: rng.below(20),
            min_votes: rng.below(4) as u32,
            min_overlap: [0.0, 0.5, 0.8, 1.0, -1.0, 2.0, f64::NAN][rng.below(7)],
            dedupe_radius: rng.below(5) as u32,
            refine_radius: rng.below(5) as u32,
            probe_bits: rng.next_u32(),
            max_results: rng.below(5),
            ..SnippetConfig::default()
        };
        let found = snippet::search(&f.index, &query, &config).unwrap();
        assert!(found.len() <= config.max_results, "round {round}");
        for m in &found {
            assert!((0.0..=1.0).contains(&m.score) && (0.0..=1.0).contains(&m.vote_frac));
            assert!(m.span.items <= m.overlap_items);
        }
    }
}
