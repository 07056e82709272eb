//! Mode 1 of the catalogue: identify a snippet (5–30 s) from the raw items of one query phase.
//!
//! Candidate generation votes on `(track, offset)` through the index postings, each pair
//! counted at most once per query item; votes are smoothed over ±1 item and the best `top_k`
//! pairs with at least `min_votes` raw votes (deduplicated within ±`dedupe_radius` items) are
//! verified. Verification aligns the query with the track, requires the overlap to cover
//! `min_overlap` of the query, and scores `1 − BE/16` from the mean bit errors per item (the
//! `1 − 2·BER` of AcoustID's compare2 without its coverage factor), raised to the power
//! `8 − 7·diversity` for repetitive audio. Each verified offset is refined within
//! ±`refine_radius` items. The result names the track, the offset, the matched span, the score,
//! the vote fraction and the other offsets of the same track that score nearly as well
//! (repeated passages).
//!
//! Queries are fingerprinted at several sub-hop phases; [`search`] handles one phase and
//! [`best_over_phases`] runs every phase and keeps the best match per track. Each match also
//! carries the design's confidence class ([`Confidence`], §B.4); filtering on it is the
//! caller's decision. Queries over `max_query_items` are refused: long files belong to the
//! scan mode, which this module does not do.

use super::align::{box_smooth, diversity, penalise_repetition};
use super::index::{CatalogueIndex, TrackId};

pub use super::{ITEM_HOP_SAMPLES as HOP_SAMPLES, ITEM_SECONDS, SAMPLE_RATE};
/// Most query phases [`best_over_phases`] takes.
pub const MAX_PHASES: usize = 16;
/// Most votes gathered for one query phase (16 bytes each, so 32 MB): a bound on memory
/// whatever the index and the query hold. A 10 s query typically casts a few hundred.
const MAX_VOTES: usize = 1 << 21;
/// Half-width of each box pass of the span smoother: 3 passes of width 17 ≈ a Gaussian of
/// σ ≈ 8.5 items, the design's σ = 8.
const SPAN_BOX_RADIUS: usize = 8;
/// Smoothed bit errors below this count as matching (Chromaprint's threshold).
const SPAN_MAX_BIT_ERRORS: f64 = 10.0;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnippetConfig {
    /// `(track, offset)` candidates verified.
    pub top_k: usize,
    /// Raw votes a candidate needs.
    pub min_votes: u32,
    /// Share of the query the aligned window must cover (0–1).
    pub min_overlap: f64,
    /// Candidates of one track closer than this many items are one candidate.
    pub dedupe_radius: u32,
    /// Each candidate is verified at its offset ± this many items and the best kept.
    pub refine_radius: u32,
    /// Other offsets of the matched track within this score of it are reported.
    pub alternative_margin: f64,
    /// Matches (tracks) returned.
    pub max_results: usize,
    /// Longer queries are refused (they belong to the long-file scan).
    pub max_query_items: usize,
    /// Item bits also flipped one at a time when looking up terms (multi-probe; 0 = off).
    /// Defaults to the design's six least reliable bits, [`UNRELIABLE_BITS`]: 7 lookups per
    /// item instead of 1, which keeps a noisy query's true offset above `min_votes` (on the
    /// synthetic test catalogue, 80-item queries with 10 % of bits flipped are found 99.9 % of
    /// the time with it, 96.7 % without: only 6.5 % of their terms survive intact).
    pub probe_bits: u32,
}

/// Bits 4, 5, 12, 13, 16 and 17: the least reliable in the design's measurements.
pub const UNRELIABLE_BITS: u32 =
    (1 << 4) | (1 << 5) | (1 << 12) | (1 << 13) | (1 << 16) | (1 << 17);

impl Default for SnippetConfig {
    fn default() -> Self {
        Self {
            top_k: 10,
            min_votes: 2,
            min_overlap: 0.8,
            dedupe_radius: 2,
            refine_radius: 1,
            alternative_margin: 0.05,
            max_results: 3,
            max_query_items: 2048,
            probe_bits: UNRELIABLE_BITS,
        }
    }
}

/// Why a search was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnippetError {
    #[error("query of {len} items is longer than the {max} a snippet search takes")]
    QueryTooLong { len: usize, max: usize },
    #[error("{len} query phases given, at most {max} are searched")]
    TooManyPhases { len: usize, max: usize },
}

/// The items of one query phase: the query fingerprinted after skipping `phase_samples`
/// samples at 11 025 Hz.
#[derive(Debug, Clone, Copy)]
pub struct QueryPhase<'a> {
    pub phase_samples: u32,
    pub items: &'a [u32],
}

/// How sure a match is, by the design's decision rule (§B.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// Below the threshold or the vote gate: not a match on its own.
    Low,
    /// Passes the score threshold `T(n)` and the vote gate.
    Medium,
    /// At least 0.08 above `T(n)`, with `vote_frac` ≥ 0.15.
    High,
}

/// The score threshold for a verified overlap of `n` items:
/// `clamp(0.42 + 1.75 / √n, 0.45, 0.85)`.
pub fn score_threshold(n: usize) -> f64 {
    if n == 0 {
        return 0.85;
    }
    (0.42 + 1.75 / (n as f64).sqrt()).clamp(0.45, 0.85)
}

impl Confidence {
    /// The design's rule: score ≥ `T(n)`, raw votes ≥ 3 and `vote_frac` ≥ 0.05; `High` also
    /// needs score ≥ `T(n)` + 0.08 and `vote_frac` ≥ 0.15.
    pub fn classify(score: f64, overlap: usize, raw_votes: u32, vote_frac: f64) -> Self {
        let t = score_threshold(overlap);
        if score < t || raw_votes < 3 || vote_frac < 0.05 {
            Self::Low
        } else if score >= t + 0.08 && vote_frac >= 0.15 {
            Self::High
        } else {
            Self::Medium
        }
    }
}

/// The longest run of the alignment whose smoothed bit errors stay below 10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchedSpan {
    /// First matched query item and its track position.
    pub query_item: u32,
    pub track_item: u32,
    /// Matched items (0 when no run qualifies).
    pub items: u32,
    /// The same in seconds; the query position includes the phase. Chromaprint's 2.6 s
    /// analysis window is not added to the duration.
    pub position_in_query_s: f64,
    pub position_s: f64,
    pub duration_s: f64,
}

/// Another offset of the matched track that scores nearly as well.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alternative {
    pub offset_items: i64,
    pub position_s: f64,
    pub score: f64,
}

/// A track found for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct SnippetMatch {
    pub track: TrackId,
    /// Track item aligned with query item 0 (negative if the query starts before the track).
    pub offset_items: i64,
    /// Where the query starts in the track, in seconds: `offset_items · ITEM_SECONDS − phase`.
    pub position_s: f64,
    /// The query phase this match came from, in samples at 11 025 Hz.
    pub phase_samples: u32,
    /// Aligned query items verified.
    pub overlap_items: u32,
    /// Mean differing bits per aligned item (of 32).
    pub bit_errors: f64,
    /// `1 − bit_errors/16`, clamped at 0, after the diversity penalty.
    pub score: f64,
    /// compare2's diversity of the aligned window (1 = no repetition penalty).
    pub diversity: f64,
    /// Votes at the offset itself, and smoothed over ±1 item.
    pub raw_votes: u32,
    pub votes: u32,
    /// Smoothed votes per query item (at most 1).
    pub vote_frac: f64,
    pub confidence: Confidence,
    pub span: MatchedSpan,
    /// Other offsets of this track within `alternative_margin` of `score`, best first.
    pub alternatives: Vec<Alternative>,
}

/// Searches one query phase (phase 0: positions are not shifted; see [`best_over_phases`]).
pub fn search(
    index: &CatalogueIndex,
    query: &[u32],
    config: &SnippetConfig,
) -> Result<Vec<SnippetMatch>, SnippetError> {
    search_phase(
        index,
        QueryPhase {
            phase_samples: 0,
            items: query,
        },
        config,
    )
}

/// Searches every phase and keeps, per track, the best-scoring match (its positions shifted
/// by its phase), best tracks first, at most `max_results`.
pub fn best_over_phases(
    index: &CatalogueIndex,
    phases: &[QueryPhase<'_>],
    config: &SnippetConfig,
) -> Result<Vec<SnippetMatch>, SnippetError> {
    if phases.len() > MAX_PHASES {
        return Err(SnippetError::TooManyPhases {
            len: phases.len(),
            max: MAX_PHASES,
        });
    }
    let mut all: Vec<SnippetMatch> = Vec::new();
    for &phase in phases {
        for m in search_phase(index, phase, config)? {
            match all.iter_mut().find(|a| a.track == m.track) {
                Some(best) if rank(&m, best) == std::cmp::Ordering::Less => *best = m,
                Some(_) => {}
                None => all.push(m),
            }
        }
    }
    all.sort_by(rank);
    all.truncate(config.max_results);
    Ok(all)
}

/// Better matches first: higher score, then more votes, then lower track id.
fn rank(a: &SnippetMatch, b: &SnippetMatch) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(b.votes.cmp(&a.votes))
        .then(a.track.cmp(&b.track))
        .then(a.phase_samples.cmp(&b.phase_samples))
}

/// Searches one phase.
pub fn search_phase(
    index: &CatalogueIndex,
    phase: QueryPhase<'_>,
    config: &SnippetConfig,
) -> Result<Vec<SnippetMatch>, SnippetError> {
    let query = phase.items;
    if query.len() > config.max_query_items {
        return Err(SnippetError::QueryTooLong {
            len: query.len(),
            max: config.max_query_items,
        });
    }
    if query.is_empty() || index.live_track_count() == 0 || config.top_k == 0 {
        return Ok(Vec::new());
    }
    let votes = tally(index, query, config.probe_bits);
    let candidates = pick_candidates(&votes, config);

    let need = required_overlap(query.len(), config.min_overlap);
    let mut verified: Vec<(Candidate, Verified)> = Vec::new();
    for c in candidates {
        let Some(items) = index.track_items(c.track) else {
            continue;
        };
        let radius = i64::from(config.refine_radius.min(8));
        let best = (-radius..=radius)
            .filter_map(|d| {
                let offset = c.offset.checked_add(d)?;
                verify(query, items, offset, need).map(|v| (d, offset, v))
            })
            // Highest score; on a tie the offset nearest the voted one.
            .min_by(|a, b| {
                b.2.score
                    .total_cmp(&a.2.score)
                    .then(a.0.abs().cmp(&b.0.abs()))
            });
        if let Some((_, offset, v)) = best {
            verified.push((Candidate { offset, ..c }, v));
        }
    }

    // One match per track: its best offset; the others close to it are alternatives.
    verified.sort_by(|a, b| {
        b.1.score
            .total_cmp(&a.1.score)
            .then(a.0.track.cmp(&b.0.track))
            .then(a.0.offset.cmp(&b.0.offset))
    });
    let shift = f64::from(phase.phase_samples) / f64::from(SAMPLE_RATE);
    let position = |offset: i64| offset as f64 * ITEM_SECONDS - shift;
    let mut matches: Vec<SnippetMatch> = Vec::new();
    for (c, v) in &verified {
        if let Some(m) = matches.iter_mut().find(|m| m.track == c.track) {
            let distinct = m
                .alternatives
                .iter()
                .map(|a| a.offset_items)
                .chain([m.offset_items])
                .all(|o| o.abs_diff(c.offset) > u64::from(config.dedupe_radius));
            if distinct && m.score - v.score <= config.alternative_margin {
                m.alternatives.push(Alternative {
                    offset_items: c.offset,
                    position_s: position(c.offset),
                    score: v.score,
                });
            }
            continue;
        }
        if matches.len() >= config.max_results {
            continue;
        }
        let (raw, smoothed) = votes_at(&votes, c.track, c.offset);
        let vote_frac = (f64::from(smoothed) / query.len() as f64).min(1.0);
        let Some(items) = index.track_items(c.track) else {
            continue;
        };
        let span = matched_span(query, items, c.offset, phase.phase_samples);
        matches.push(SnippetMatch {
            track: c.track,
            offset_items: c.offset,
            position_s: position(c.offset),
            phase_samples: phase.phase_samples,
            overlap_items: v.overlap as u32,
            bit_errors: v.bit_errors,
            score: v.score,
            diversity: v.diversity,
            raw_votes: raw,
            votes: smoothed,
            vote_frac,
            confidence: Confidence::classify(v.score, v.overlap, raw, vote_frac),
            span,
            alternatives: Vec::new(),
        });
    }
    Ok(matches)
}

/// A `(track, offset)` pair and its votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    track: TrackId,
    offset: i64,
    raw: u32,
    smoothed: u32,
}

/// Raw votes per `(track, offset)`, sorted by track then offset.
fn tally(index: &CatalogueIndex, query: &[u32], probe_bits: u32) -> Vec<Candidate> {
    let mut pairs: Vec<(TrackId, i64)> = Vec::new();
    let mut per_item: Vec<(TrackId, i64)> = Vec::new();
    for (j, &item) in query.iter().enumerate() {
        per_item.clear();
        index.for_each_hit(item, probe_bits, |track, pos| {
            per_item.push((track, i64::from(pos) - j as i64));
        });
        // Probes can reach the same posting twice: one vote per pair and query item.
        per_item.sort_unstable();
        per_item.dedup();
        let room = MAX_VOTES.saturating_sub(pairs.len());
        pairs.extend(per_item.iter().take(room));
        if pairs.len() >= MAX_VOTES {
            break;
        }
    }
    pairs.sort_unstable();
    let mut out: Vec<Candidate> = Vec::new();
    for (track, offset) in pairs {
        match out.last_mut() {
            Some(last) if last.track == track && last.offset == offset => last.raw += 1,
            _ => out.push(Candidate {
                track,
                offset,
                raw: 1,
                smoothed: 0,
            }),
        }
    }
    // Neighbours in offset are neighbours in the sorted list.
    for i in 0..out.len() {
        let Some(&Candidate {
            track, offset, raw, ..
        }) = out.get(i)
        else {
            continue;
        };
        let mut smoothed = raw;
        if let Some(p) = i.checked_sub(1).and_then(|k| out.get(k))
            && p.track == track
            && p.offset + 1 == offset
        {
            smoothed += p.raw;
        }
        if let Some(n) = out.get(i + 1)
            && n.track == track
            && n.offset == offset + 1
        {
            smoothed += n.raw;
        }
        if let Some(c) = out.get_mut(i) {
            c.smoothed = smoothed;
        }
    }
    out
}

/// Raw and smoothed votes of one pair (zero when it got none).
fn votes_at(votes: &[Candidate], track: TrackId, offset: i64) -> (u32, u32) {
    let raw = |o: i64| {
        votes
            .binary_search_by(|c| (c.track, c.offset).cmp(&(track, o)))
            .ok()
            .and_then(|i| votes.get(i))
            .map_or(0, |c| c.raw)
    };
    let r = raw(offset);
    (r, r + raw(offset - 1) + raw(offset + 1))
}

/// The best `top_k` pairs with enough raw votes, by smoothed votes, deduplicated per track.
fn pick_candidates(votes: &[Candidate], config: &SnippetConfig) -> Vec<Candidate> {
    let mut eligible: Vec<Candidate> = votes
        .iter()
        .copied()
        .filter(|c| c.raw >= config.min_votes.max(1))
        .collect();
    eligible.sort_unstable_by(|a, b| {
        b.smoothed
            .cmp(&a.smoothed)
            .then(b.raw.cmp(&a.raw))
            .then(a.track.cmp(&b.track))
            .then(a.offset.cmp(&b.offset))
    });
    let mut kept: Vec<Candidate> = Vec::with_capacity(config.top_k.min(eligible.len()));
    for c in eligible {
        if kept.len() >= config.top_k {
            break;
        }
        let near = kept.iter().any(|k| {
            k.track == c.track && k.offset.abs_diff(c.offset) <= u64::from(config.dedupe_radius)
        });
        if !near {
            kept.push(c);
        }
    }
    kept
}

/// Query items an alignment must cover.
fn required_overlap(query_len: usize, min_overlap: f64) -> usize {
    let share = if min_overlap.is_nan() {
        0.8
    } else {
        min_overlap.clamp(0.0, 1.0)
    };
    ((query_len as f64 * share).ceil() as usize).clamp(1, query_len.max(1))
}

/// The outcome of aligning the query with a track at one offset.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Verified {
    overlap: usize,
    bit_errors: f64,
    score: f64,
    diversity: f64,
}

/// The aligned query range `j0..j1` for track item `offset + j` (empty when disjoint).
fn overlap_range(query_len: usize, track_len: usize, offset: i64) -> (usize, usize) {
    let j0 = offset.min(0).unsigned_abs().min(query_len as u64) as usize;
    let end = (track_len as i64)
        .saturating_sub(offset)
        .clamp(0, query_len as i64) as usize;
    (j0, end.max(j0))
}

/// Scores the alignment of the query with track `items` at `offset`, if it covers `need`
/// query items.
fn verify(query: &[u32], items: &[u32], offset: i64, need: usize) -> Option<Verified> {
    let (j0, j1) = overlap_range(query.len(), items.len(), offset);
    let n = j1 - j0;
    if n < need || n == 0 {
        return None;
    }
    let q = query.get(j0..j1)?;
    let t0 = usize::try_from(offset + j0 as i64).ok()?;
    let t = items.get(t0..t0 + n)?;
    let errors: u64 = q
        .iter()
        .zip(t)
        .map(|(a, b)| u64::from((a ^ b).count_ones()))
        .sum();
    let bit_errors = errors as f64 / n as f64;
    let diversity = diversity(q).min(diversity(t));
    let score = penalise_repetition((1.0 - bit_errors / 16.0).max(0.0), diversity);
    Some(Verified {
        overlap: n,
        bit_errors,
        score,
        diversity,
    })
}

/// The longest run of the alignment at `offset` whose bit errors, smoothed by three box
/// passes, stay below [`SPAN_MAX_BIT_ERRORS`].
fn matched_span(query: &[u32], items: &[u32], offset: i64, phase_samples: u32) -> MatchedSpan {
    let (j0, j1) = overlap_range(query.len(), items.len(), offset);
    let t0 = usize::try_from(offset + j0 as i64).unwrap_or(0);
    let mut profile: Vec<f64> = query
        .get(j0..j1)
        .unwrap_or(&[])
        .iter()
        .zip(items.get(t0..).unwrap_or(&[]))
        .map(|(a, b)| f64::from((a ^ b).count_ones()))
        .collect();
    for _ in 0..3 {
        profile = box_smooth(&profile, SPAN_BOX_RADIUS);
    }
    let (mut best_start, mut best_len, mut run_start) = (0_usize, 0_usize, None::<usize>);
    for (k, &e) in profile.iter().chain([&f64::INFINITY]).enumerate() {
        match (e < SPAN_MAX_BIT_ERRORS, run_start) {
            (true, None) => run_start = Some(k),
            (false, Some(s)) => {
                if k - s > best_len {
                    best_start = s;
                    best_len = k - s;
                }
                run_start = None;
            }
            _ => {}
        }
    }
    let query_item = (j0 + best_start) as u32;
    let track_item = (t0 + best_start) as u32;
    MatchedSpan {
        query_item,
        track_item,
        items: best_len as u32,
        position_in_query_s: (f64::from(query_item) * f64::from(HOP_SAMPLES)
            + f64::from(phase_samples))
            / f64::from(SAMPLE_RATE),
        position_s: f64::from(track_item) * ITEM_SECONDS,
        duration_s: best_len as f64 * ITEM_SECONDS,
    }
}

#[cfg(test)]
// Exact matches score exactly 1.0 and thresholds clamp to exact constants.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::catalogue::index::{IndexConfig, SILENCE_ITEM};

    /// Distinct, well-spread items (xorshift), never zero.
    fn items(seed: u32, n: usize) -> Vec<u32> {
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect()
    }

    fn index_of(tracks: &[Vec<u32>]) -> CatalogueIndex {
        CatalogueIndex::from_tracks(IndexConfig::default(), tracks.iter().map(Vec::as_slice))
            .unwrap()
    }

    #[test]
    fn an_exact_slice_is_found_at_its_offset() {
        let tracks: Vec<Vec<u32>> = (1..=5).map(|s| items(s, 300)).collect();
        let idx = index_of(&tracks);
        let query = &tracks[3][120..200];
        let found = search(&idx, query, &SnippetConfig::default()).unwrap();
        let best = &found[0];
        assert_eq!(best.track, TrackId(3));
        assert_eq!(best.offset_items, 120);
        assert_eq!(best.score, 1.0);
        assert_eq!(best.bit_errors, 0.0);
        assert_eq!(best.raw_votes, 80);
        assert_eq!(best.vote_frac, 1.0);
        assert_eq!(best.confidence, Confidence::High);
        assert_eq!(best.span.items, 80);
        assert_eq!(best.span.track_item, 120);
        assert!((best.position_s - 120.0 * ITEM_SECONDS).abs() < 1e-9);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn hostile_queries_do_not_panic() {
        let tracks: Vec<Vec<u32>> = (1..=3).map(|s| items(s, 100)).collect();
        let idx = index_of(&tracks);
        let config = SnippetConfig::default();
        let long: Vec<u32> = tracks.concat();
        for query in [
            &[][..],
            &[SILENCE_ITEM; 50][..],
            &[0; 50][..],
            &[u32::MAX; 50][..],
            &long[..],
            &tracks[0][..1],
        ] {
            let found = search(&idx, query, &config).unwrap();
            assert!(found.len() <= config.max_results);
        }
        // A query longer than its track cannot reach 80 % overlap.
        assert!(search(&idx, &long, &config).unwrap().is_empty());
        let empty = CatalogueIndex::empty(IndexConfig::default()).unwrap();
        assert!(search(&empty, &tracks[0], &config).unwrap().is_empty());
        let too_long = vec![1_u32; config.max_query_items + 1];
        assert!(matches!(
            search(&idx, &too_long, &config),
            Err(SnippetError::QueryTooLong { .. })
        ));
        let odd = SnippetConfig {
            min_overlap: f64::NAN,
            alternative_margin: f64::NAN,
            top_k: 0,
            ..config
        };
        assert!(search(&idx, &tracks[0][10..50], &odd).unwrap().is_empty());
        let odd = SnippetConfig {
            min_overlap: 7.0,
            refine_radius: u32::MAX,
            dedupe_radius: u32::MAX,
            min_votes: 0,
            probe_bits: u32::MAX,
            ..config
        };
        let found = search(&idx, &tracks[0][10..50], &odd).unwrap();
        assert_eq!(found[0].track, TrackId(0));
    }

    #[test]
    fn a_query_overhanging_the_track_start_is_verified_on_its_overlap() {
        let tracks: Vec<Vec<u32>> = (1..=3).map(|s| items(s, 200)).collect();
        let idx = index_of(&tracks);
        // Five unknown items, then the first 45 items of track 1: offset −5, 90 % overlap.
        let mut query = items(99, 5);
        query.extend_from_slice(&tracks[1][..45]);
        let found = search(&idx, &query, &SnippetConfig::default()).unwrap();
        assert_eq!(found[0].track, TrackId(1));
        assert_eq!(found[0].offset_items, -5);
        assert_eq!(found[0].overlap_items, 45);
        assert_eq!(found[0].score, 1.0);
    }

    #[test]
    fn deleted_tracks_are_never_returned() {
        let tracks: Vec<Vec<u32>> = (1..=3).map(|s| items(s, 200)).collect();
        let mut idx = index_of(&tracks);
        idx.delete(TrackId(2)).unwrap();
        let found = search(&idx, &tracks[2][50..130], &SnippetConfig::default()).unwrap();
        assert!(found.iter().all(|m| m.track != TrackId(2)));
    }

    #[test]
    fn repeated_passages_are_alternatives() {
        // A track whose passage at 0..60 recurs at 200..260.
        let mut track = items(7, 400);
        let (head, tail) = track.split_at_mut(200);
        tail[..60].copy_from_slice(&head[..60]);
        let idx = index_of(&[track.clone(), items(8, 300)]);
        let found = search(&idx, &track[200..260], &SnippetConfig::default()).unwrap();
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!(m.track, TrackId(0));
        let mut offsets = vec![m.offset_items];
        offsets.extend(m.alternatives.iter().map(|a| a.offset_items));
        offsets.sort_unstable();
        assert_eq!(offsets, vec![0, 200]);
    }

    #[test]
    fn repetitive_audio_is_penalised() {
        // Only two distinct items: diversity (2 + 10) / 60 + 0.5 = 0.7.
        let query: Vec<u32> = (0..60)
            .map(|i| if i % 2 == 0 { 0x1234_5678 } else { 0x8765_4321 })
            .collect();
        let exact = verify(&query, &query, 0, 48).unwrap();
        assert!((exact.diversity - 0.7).abs() < 1e-9);
        assert_eq!(exact.score, 1.0);
        let mut noisy = query.clone();
        for item in &mut noisy {
            *item ^= 0b1111;
        }
        let v = verify(&noisy, &query, 0, 48).unwrap();
        // (1 − 4/16)^(8 − 4.9) = 0.75^3.1
        assert!((v.score - 0.75_f64.powf(3.1)).abs() < 1e-9);
    }

    #[test]
    fn overlap_ranges_clip_both_ends() {
        assert_eq!(overlap_range(10, 100, 0), (0, 10));
        assert_eq!(overlap_range(10, 100, 95), (0, 5));
        assert_eq!(overlap_range(10, 100, -3), (3, 10));
        assert_eq!(overlap_range(10, 100, -30), (10, 10));
        assert_eq!(overlap_range(10, 100, 300), (0, 0));
        assert_eq!(overlap_range(10, 5, i64::MIN), (10, 10));
        assert_eq!(overlap_range(10, 5, i64::MAX), (0, 0));
        assert_eq!(required_overlap(80, 0.8), 64);
        assert_eq!(required_overlap(0, 0.8), 1);
    }

    #[test]
    fn the_span_is_the_longest_low_error_run() {
        let track = items(3, 200);
        let mut query = track[..100].to_vec();
        // Items 60..100 replaced by unrelated ones (≈ 16 bit errors each).
        query[60..].copy_from_slice(&items(4, 40));
        let span = matched_span(&query, &track, 0, 341);
        assert_eq!(span.query_item, 0);
        assert!((55..=66).contains(&span.items), "{span:?}");
        assert!((span.position_in_query_s - 341.0 / 11_025.0).abs() < 1e-12);
        assert!(matched_span(&query, &track, 500, 0).items == 0);
    }

    #[test]
    fn the_best_phase_wins_and_shifts_positions() {
        let tracks: Vec<Vec<u32>> = (1..=3).map(|s| items(s, 300)).collect();
        let idx = index_of(&tracks);
        let mut noisy = tracks[1][100..180].to_vec();
        for item in &mut noisy {
            *item ^= 0b101;
        }
        let phases = [
            QueryPhase {
                phase_samples: 0,
                items: &noisy,
            },
            QueryPhase {
                phase_samples: 683,
                items: &tracks[1][100..180],
            },
        ];
        let found = best_over_phases(&idx, &phases, &SnippetConfig::default()).unwrap();
        assert_eq!(found[0].track, TrackId(1));
        assert_eq!(found[0].phase_samples, 683);
        assert_eq!(found[0].score, 1.0);
        assert!((found[0].position_s - (100.0 * ITEM_SECONDS - 683.0 / 11_025.0)).abs() < 1e-9);
        assert_eq!(found.len(), 1);
        let many = vec![phases[0]; MAX_PHASES + 1];
        assert!(best_over_phases(&idx, &many, &SnippetConfig::default()).is_err());
        assert!(
            best_over_phases(&idx, &[], &SnippetConfig::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn thresholds_follow_the_design() {
        assert!((score_threshold(19) - 0.82).abs() < 0.01);
        assert!((score_threshold(59) - 0.65).abs() < 0.01);
        assert!((score_threshold(221) - 0.54).abs() < 0.01);
        assert_eq!(score_threshold(100_000), 0.45);
        assert_eq!(score_threshold(1), 0.85);
        assert_eq!(Confidence::classify(0.9, 80, 2, 0.5), Confidence::Low);
        assert_eq!(Confidence::classify(0.65, 80, 10, 0.5), Confidence::Medium);
        assert_eq!(Confidence::classify(0.9, 80, 10, 0.1), Confidence::Medium);
        assert_eq!(Confidence::classify(0.9, 80, 10, 0.2), Confidence::High);
    }
}
