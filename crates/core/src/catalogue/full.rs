//! Mode 2 of the catalogue: whole-track comparison, full-track identification and duplicate
//! detection over one catalogue index.
//!
//! This module owns:
//!
//! * [`compare`]: a compare2-style score of two tracks' raw items. Candidate offsets come from a
//!   histogram of matching masked terms (offset `= pos_a − pos_b`, bounded by
//!   `max_offset_items`); each is refined by bit errors, scored
//!   `coverage · (1 − BE/16)` (coverage = aligned overlap / shorter length, `BE` = mean
//!   differing bits per aligned item, i.e. `1 − 2·BER`), raised to `8 − 7·diversity` for
//!   repetitive audio and zeroed by the 2 % gate. Several offsets are kept so that
//!   [`Section`]s (runs whose smoothed bit errors stay below 10) can come from different
//!   alignments: a compilation, a trimmed version or an edit shows *where* it matches.
//! * The pair classes ([`PairClass`]) and their thresholds (see [`FullConfig`]).
//! * [`items_hash`]: a stable SHA-256 of the items, so identical fingerprints are paired
//!   without comparing.
//! * [`identify_full`] and [`find_duplicates`]: candidates come from the snippet search
//!   ([`snippet::search`]) run on evenly spread windows of the query (the common step's voting
//!   and verification, reused as is), the best few tracks are then compared whole.
//!
//! Not here: the union-find grouping of pairs, the durable job around the dedup run, and a
//! calibration of the class thresholds on real audio (they follow the design's AcoustID
//! constants, adapted as documented on [`FullConfig`]).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::ITEM_SECONDS;
use super::align::{box_smooth, diversity, penalise_repetition};
use super::index::{CatalogueIndex, DEFAULT_TERM_MASK, SILENCE_ITEM, TrackId};
use super::snippet::{self, Confidence, SnippetConfig, SnippetError};

/// Half-width of each of the three box passes that smooth a bit-error profile (σ ≈ 8 items,
/// Chromaprint's section matcher).
const SECTION_BOX_RADIUS: usize = 8;
/// Most sections kept per comparison (a bound on output size for pathological inputs).
const MAX_SECTIONS: usize = 32;
/// A section is dropped when more than this share of it lies inside a section already kept,
/// on either side (a repeated chorus aligned with its other occurrence).
const SECTION_MAX_SHARED: f64 = 0.25;

/// How to compare, classify and search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FullConfig {
    /// Bits of an item voted on when looking for offsets (the index's priv26 mask by default).
    pub term_mask: u32,
    /// Largest `|pos_a − pos_b|` the offset histogram considers. Default 32 768 items
    /// (≈ 67 min): a compilation up to that long still locates its parts. Offsets suggested by
    /// the index (in [`identify_full`] and [`find_duplicates`]) are evaluated regardless.
    pub max_offset_items: u32,
    /// Longest input compared; [`compare`] ignores items past it, [`identify_full`] refuses
    /// longer queries. Default 2²¹ items (≈ 72 h).
    pub max_items: usize,
    /// A term occurring more often than this on one side casts no offset votes (loops,
    /// drones): bounds the voting work to `len · max_term_repeats`.
    pub max_term_repeats: usize,
    /// Offsets (histogram peaks and index hints) evaluated per comparison.
    pub max_alignments: usize,
    /// Raw votes a histogram peak needs to be evaluated.
    pub min_offset_votes: u32,
    /// compare2's gate: an alignment whose equal terms number fewer than this share of the
    /// aligned overlap scores 0 and yields no section.
    pub gate_fraction: f64,
    /// Smoothed bit errors below this count as matching (Chromaprint's 10).
    pub section_max_bit_errors: f64,
    /// Shortest section reported, in items (default 40 ≈ 5 s).
    pub min_section_items: u32,
    /// `Same`: compare2 score at least this (AcoustID's `TRACK_MERGE_THRESHOLD`, 0.75) …
    pub same_min_score: f64,
    /// … sections cover at least this share of both tracks (0.9) …
    pub same_min_coverage: f64,
    /// … and the lengths differ by at most this many items (57 ≈ 7 s).
    pub same_max_length_diff_items: u32,
    /// `Contains`: the contained side is covered at least this much (0.8) and the container
    /// has more uncovered items than it. This departs from the design's "< 50 % of the
    /// longer": a version trimmed by 30 % is covered 70 % and is still contained.
    pub contains_min_coverage: f64,
    /// `Overlap`: a section at least this long (162 items ≈ 20 s) when neither class fits.
    pub overlap_min_items: u32,
    /// Query windows searched for candidates: this long …
    pub window_items: usize,
    /// … every this many items …
    pub window_hop: usize,
    /// … and at most this many per query (the hop grows for longer queries).
    pub max_windows: usize,
    /// A window's match counts as a candidate from this confidence up (§B.4 rule).
    pub min_window_confidence: Confidence,
    /// Tracks compared whole per query (the best by windows hit, then summed window scores).
    pub max_candidates: usize,
    /// The snippet search run on each window; `max_results` is raised by one in
    /// [`find_duplicates`] so the track itself does not crowd out a candidate.
    pub snippet: SnippetConfig,
}

impl Default for FullConfig {
    fn default() -> Self {
        Self {
            term_mask: DEFAULT_TERM_MASK,
            max_offset_items: 1 << 15,
            max_items: 1 << 21,
            max_term_repeats: 16,
            max_alignments: 6,
            min_offset_votes: 3,
            gate_fraction: 0.02,
            section_max_bit_errors: 10.0,
            min_section_items: 40,
            same_min_score: 0.75,
            same_min_coverage: 0.9,
            same_max_length_diff_items: 57,
            contains_min_coverage: 0.8,
            overlap_min_items: 162,
            window_items: 64,
            window_hop: 192,
            max_windows: 64,
            min_window_confidence: Confidence::Medium,
            max_candidates: 4,
            snippet: SnippetConfig {
                max_results: 4,
                ..SnippetConfig::default()
            },
        }
    }
}

impl FullConfig {
    /// Checks the settings [`identify_full`] and [`find_duplicates`] rely on.
    pub fn validate(&self) -> Result<(), FullError> {
        let bad = |what| Err(FullError::InvalidConfig(what));
        if self.term_mask == 0 {
            return bad("term_mask must keep at least one bit");
        }
        if self.window_items == 0 || self.window_items > self.snippet.max_query_items {
            return bad("window_items must be 1 to the snippet search's max_query_items");
        }
        if self.window_hop == 0 || self.max_windows == 0 {
            return bad("window_hop and max_windows must be at least 1");
        }
        let fractions = [
            self.gate_fraction,
            self.same_min_score,
            self.same_min_coverage,
            self.contains_min_coverage,
        ];
        if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return bad("fractions and scores must lie in 0..=1");
        }
        if self.section_max_bit_errors.is_nan() {
            return bad("section_max_bit_errors must be a number");
        }
        Ok(())
    }
}

/// Why a full-track search or a dedup run stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullError {
    #[error("invalid full-track settings: {0}")]
    InvalidConfig(&'static str),
    #[error("query of {len} items is longer than the {max} compared")]
    QueryTooLong { len: usize, max: usize },
    #[error("cancelled after {done} of {total} tracks")]
    Cancelled { done: u32, total: u32 },
    #[error(transparent)]
    Snippet(#[from] SnippetError),
}

/// How two tracks relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PairClass {
    /// The same recording: re-encodes, small trims, padding.
    Same,
    /// One side lies (nearly) whole inside the other: an edit in a compilation, a trimmed
    /// version inside the full one. [`Comparison::container`] names the larger side.
    Contains,
    /// A shared section of at least `overlap_min_items` that fits neither class.
    Overlap,
}

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    A,
    B,
}

/// An aligned range that matches: `a[a_start + k]` against `b[b_start + k]`, `k < items`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    pub a_start: u32,
    pub b_start: u32,
    pub items: u32,
    /// `a_start − b_start`.
    pub offset_items: i64,
    pub a_start_s: f64,
    pub b_start_s: f64,
    pub duration_s: f64,
    /// Mean differing bits per item inside the section (unsmoothed).
    pub bit_errors: f64,
}

/// The outcome of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// compare2-style score at the best offset (0 to 1).
    pub score: f64,
    /// The best offset: `a[i]` aligns with `b[i − offset_items]`.
    pub offset_items: i64,
    /// The same in seconds.
    pub offset_s: f64,
    /// Aligned items at the best offset, their mean bit errors, the equal terms among them
    /// and compare2's diversity (1 = no repetition penalty).
    pub overlap_items: u32,
    pub bit_errors: f64,
    pub votes: u32,
    pub diversity: f64,
    /// Items compared on each side.
    pub len_a: u32,
    pub len_b: u32,
    /// Share of each side covered by the sections (0 to 1).
    pub coverage_a: f64,
    pub coverage_b: f64,
    /// Matching ranges, by position in `a`.
    pub sections: Vec<Section>,
    pub class: Option<PairClass>,
    /// For [`PairClass::Contains`], the side that contains the other.
    pub container: Option<Side>,
}

/// A stable digest of a track's items (SHA-256 of their little-endian bytes): equal digests
/// mean identical fingerprints. Stable across builds and versions, so it may be stored.
pub fn items_hash(items: &[u32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for item in items {
        hasher.update(item.to_le_bytes());
    }
    hasher.finalize().into()
}

/// Compares two whole tracks (see the module docs). Never fails: empty, silent or unrelated
/// inputs give score 0 and no class; items past `max_items` are ignored.
pub fn compare(a: &[u32], b: &[u32], config: &FullConfig) -> Comparison {
    compare_with_hints(a, b, config, &[])
}

/// [`compare`], also evaluating the given offsets (`pos_a − pos_b`), e.g. from index votes.
fn compare_with_hints(a: &[u32], b: &[u32], config: &FullConfig, hints: &[i64]) -> Comparison {
    let a = a.get(..config.max_items.min(a.len())).unwrap_or(a);
    let b = b.get(..config.max_items.min(b.len())).unwrap_or(b);
    let mut offsets = histogram_peaks(a, b, config);
    let max_alignments = config.max_alignments.max(1);
    for &h in hints {
        if offsets.len() >= max_alignments + hints.len().min(max_alignments) {
            break;
        }
        if offsets.iter().all(|o: &i64| o.abs_diff(h) > 2) {
            offsets.push(h);
        }
    }
    let alignments: Vec<Alignment> = offsets
        .iter()
        .filter_map(|&o| best_near(a, b, o, config))
        .collect();
    let primary = alignments
        .iter()
        .max_by(|x, y| x.score.total_cmp(&y.score).then(y.offset.cmp(&x.offset)))
        .copied();
    let sections = pick_sections(a, b, &alignments, config);
    let covered = |side: fn(&Section) -> u32| -> u64 {
        let mut ranges: Vec<(u32, u32)> = sections
            .iter()
            .map(|s| (side(s), side(s).saturating_add(s.items)))
            .collect();
        union_length(&mut ranges)
    };
    let fraction = |n: u64, len: usize| {
        if len == 0 {
            0.0
        } else {
            (n as f64 / len as f64).min(1.0)
        }
    };
    let coverage_a = fraction(covered(|s| s.a_start), a.len());
    let coverage_b = fraction(covered(|s| s.b_start), b.len());
    let mut out = Comparison {
        score: primary.map_or(0.0, |p| p.score),
        offset_items: primary.map_or(0, |p| p.offset),
        offset_s: primary.map_or(0.0, |p| p.offset as f64 * ITEM_SECONDS),
        overlap_items: primary.map_or(0, |p| p.overlap as u32),
        bit_errors: primary.map_or(0.0, |p| p.bit_errors),
        votes: primary.map_or(0, |p| p.votes),
        diversity: primary.map_or(1.0, |p| p.diversity),
        len_a: a.len() as u32,
        len_b: b.len() as u32,
        coverage_a,
        coverage_b,
        sections,
        class: None,
        container: None,
    };
    (out.class, out.container) = classify(&out, config);
    out
}

/// The class of a comparison under the thresholds documented on [`FullConfig`].
fn classify(c: &Comparison, config: &FullConfig) -> (Option<PairClass>, Option<Side>) {
    if c.sections.is_empty() {
        return (None, None);
    }
    let length_diff = c.len_a.abs_diff(c.len_b);
    if c.score >= config.same_min_score
        && c.coverage_a >= config.same_min_coverage
        && c.coverage_b >= config.same_min_coverage
        && length_diff <= config.same_max_length_diff_items
    {
        return (Some(PairClass::Same), None);
    }
    let uncovered = |cov: f64, len: u32| (1.0 - cov) * f64::from(len);
    let (un_a, un_b) = (
        uncovered(c.coverage_a, c.len_a),
        uncovered(c.coverage_b, c.len_b),
    );
    // The contained side is the better-covered one (on a tie, the shorter).
    let (contained_cov, un_contained, un_container, container) = if c.coverage_b > c.coverage_a
        || ((c.coverage_b - c.coverage_a).abs() < 1e-12 && c.len_b < c.len_a)
    {
        (c.coverage_b, un_b, un_a, Side::A)
    } else {
        (c.coverage_a, un_a, un_b, Side::B)
    };
    if contained_cov >= config.contains_min_coverage && un_container > un_contained {
        return (Some(PairClass::Contains), Some(container));
    }
    if c.sections
        .iter()
        .any(|s| s.items >= config.overlap_min_items)
    {
        return (Some(PairClass::Overlap), None);
    }
    (None, None)
}

/// Whether an item carries information (silence and all-zero items match every quiet part).
fn informative(item: u32) -> bool {
    item != 0 && item != SILENCE_ITEM
}

/// Offsets with the most votes of equal masked terms, best first, at least 3 items apart.
fn histogram_peaks(a: &[u32], b: &[u32], config: &FullConfig) -> Vec<i64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let max_off = i64::from(config.max_offset_items);
    let lo = (1 - b.len() as i64).max(-max_off);
    let hi = (a.len() as i64 - 1).min(max_off);
    if lo > hi {
        return Vec::new();
    }
    let mask = config.term_mask;
    let mut terms_b: Vec<(u32, u32)> = b
        .iter()
        .enumerate()
        .filter(|&(_, &item)| informative(item))
        .map(|(j, &item)| (item & mask, j as u32))
        .collect();
    terms_b.sort_unstable();
    let mut histogram = vec![0_u32; (hi - lo + 1) as usize];
    for (i, &item) in a.iter().enumerate() {
        if !informative(item) {
            continue;
        }
        let term = item & mask;
        let from = terms_b.partition_point(|&(t, _)| t < term);
        let to = terms_b.partition_point(|&(t, _)| t <= term);
        if to - from > config.max_term_repeats {
            continue;
        }
        for &(_, j) in terms_b.get(from..to).unwrap_or(&[]) {
            let o = i as i64 - i64::from(j);
            if let Some(slot) = o
                .checked_sub(lo)
                .and_then(|k| usize::try_from(k).ok())
                .and_then(|k| histogram.get_mut(k))
            {
                *slot += 1;
            }
        }
    }
    let raw = |k: usize| histogram.get(k).copied().unwrap_or(0);
    let mut peaks: Vec<(u32, u32, usize)> = (0..histogram.len())
        .filter(|&k| raw(k) >= config.min_offset_votes.max(1))
        .map(|k| {
            let smoothed = raw(k) + raw(k + 1) + k.checked_sub(1).map_or(0, raw);
            (smoothed, raw(k), k)
        })
        .collect();
    peaks.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then(x.2.cmp(&y.2)));
    let mut kept: Vec<i64> = Vec::new();
    for (_, _, k) in peaks {
        if kept.len() >= config.max_alignments.max(1) {
            break;
        }
        let o = lo + k as i64;
        if kept.iter().all(|p| p.abs_diff(o) > 2) {
            kept.push(o);
        }
    }
    kept
}

/// One offset's alignment and score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Alignment {
    offset: i64,
    a_start: usize,
    b_start: usize,
    overlap: usize,
    bit_errors: f64,
    votes: u32,
    diversity: f64,
    score: f64,
}

/// The aligned ranges at offset `o` (`a[i]` with `b[i − o]`): `(a_start, b_start, n)`.
fn overlap_at(len_a: usize, len_b: usize, o: i64) -> (usize, usize, usize) {
    let (la, lb) = (len_a as i64, len_b as i64);
    let o = o.clamp(-lb, la);
    let b_start = (-o).max(0);
    let b_end = lb.min(la - o);
    let n = (b_end - b_start).max(0);
    ((b_start + o) as usize, b_start as usize, n as usize)
}

/// The alignment with the fewest bit errors at `o − 1`, `o` or `o + 1`.
fn best_near(a: &[u32], b: &[u32], o: i64, config: &FullConfig) -> Option<Alignment> {
    (-1..=1)
        .filter_map(|d| o.checked_add(d).and_then(|o| align(a, b, o, config)))
        .min_by(|x, y| {
            x.bit_errors
                .total_cmp(&y.bit_errors)
                .then(x.offset.abs_diff(o).cmp(&y.offset.abs_diff(o)))
        })
}

/// Scores `a` against `b` at offset `o`, compare2-style.
fn align(a: &[u32], b: &[u32], o: i64, config: &FullConfig) -> Option<Alignment> {
    let (a_start, b_start, n) = overlap_at(a.len(), b.len(), o);
    if n == 0 {
        return None;
    }
    let wa = a.get(a_start..a_start + n)?;
    let wb = b.get(b_start..b_start + n)?;
    let mut errors = 0_u64;
    let mut votes = 0_u32;
    for (&x, &y) in wa.iter().zip(wb) {
        errors += u64::from((x ^ y).count_ones());
        if informative(x) && (x ^ y) & config.term_mask == 0 {
            votes += 1;
        }
    }
    let bit_errors = errors as f64 / n as f64;
    let coverage = n as f64 / a.len().min(b.len()) as f64;
    let diversity = diversity(wa).min(diversity(wb));
    let mut score = penalise_repetition((coverage * (1.0 - bit_errors / 16.0)).max(0.0), diversity);
    let gate = (config.gate_fraction * n as f64).max(f64::from(config.min_offset_votes.min(3)));
    if f64::from(votes) < gate.min(n as f64) {
        score = 0.0;
    }
    Some(Alignment {
        offset: o,
        a_start,
        b_start,
        overlap: n,
        bit_errors,
        votes,
        diversity,
        score,
    })
}

/// Matching runs of every gated alignment, longest first, dropping those mostly inside a run
/// already kept; returned by position in `a`.
fn pick_sections(
    a: &[u32],
    b: &[u32],
    alignments: &[Alignment],
    config: &FullConfig,
) -> Vec<Section> {
    let mut all: Vec<Section> = Vec::new();
    for al in alignments.iter().filter(|al| al.score > 0.0) {
        let (Some(wa), Some(wb)) = (
            a.get(al.a_start..al.a_start + al.overlap),
            b.get(al.b_start..al.b_start + al.overlap),
        ) else {
            continue;
        };
        let raw: Vec<f64> = wa
            .iter()
            .zip(wb)
            .map(|(x, y)| f64::from((x ^ y).count_ones()))
            .collect();
        let mut smooth = raw.clone();
        for _ in 0..3 {
            smooth = box_smooth(&smooth, SECTION_BOX_RADIUS);
        }
        let mut start = None::<usize>;
        for (k, &e) in smooth.iter().chain([&f64::INFINITY]).enumerate() {
            match (e < config.section_max_bit_errors, start) {
                (true, None) => start = Some(k),
                (false, Some(run_start)) => {
                    start = None;
                    // Smoothing blurs a boundary by a few items: trim mismatching items off
                    // both ends of the run.
                    let (s, k) = trim_run(&raw, run_start, k, config.section_max_bit_errors);
                    if k - s < config.min_section_items.max(1) as usize {
                        continue;
                    }
                    let errors: f64 = raw.get(s..k).unwrap_or(&[]).iter().sum();
                    let (a_start, b_start) = (al.a_start + s, al.b_start + s);
                    all.push(Section {
                        a_start: a_start as u32,
                        b_start: b_start as u32,
                        items: (k - s) as u32,
                        offset_items: al.offset,
                        a_start_s: a_start as f64 * ITEM_SECONDS,
                        b_start_s: b_start as f64 * ITEM_SECONDS,
                        duration_s: (k - s) as f64 * ITEM_SECONDS,
                        bit_errors: errors / (k - s) as f64,
                    });
                }
                _ => {}
            }
        }
    }
    all.sort_by(|x, y| {
        y.items
            .cmp(&x.items)
            .then(x.bit_errors.total_cmp(&y.bit_errors))
            .then(x.a_start.cmp(&y.a_start))
    });
    let shared = |s0: u32, n0: u32, s1: u32, n1: u32| {
        let from = s0.max(s1);
        let to = (s0.saturating_add(n0)).min(s1.saturating_add(n1));
        to.saturating_sub(from)
    };
    let mut kept: Vec<Section> = Vec::new();
    for s in all {
        if kept.len() >= MAX_SECTIONS {
            break;
        }
        let limit = SECTION_MAX_SHARED * f64::from(s.items);
        let clashes = kept.iter().any(|k| {
            f64::from(shared(s.a_start, s.items, k.a_start, k.items)) > limit
                || f64::from(shared(s.b_start, s.items, k.b_start, k.items)) > limit
        });
        if !clashes {
            kept.push(s);
        }
    }
    kept.sort_by_key(|s| (s.a_start, s.b_start));
    kept
}

/// The run `s..k` without the leading and trailing items whose own bit errors reach `max`.
fn trim_run(raw: &[f64], mut s: usize, mut k: usize, max: f64) -> (usize, usize) {
    while s < k && raw.get(s).is_none_or(|&e| e >= max) {
        s += 1;
    }
    while k > s && raw.get(k - 1).is_none_or(|&e| e >= max) {
        k -= 1;
    }
    (s, k)
}

/// Total length of a union of half-open ranges.
fn union_length(ranges: &mut [(u32, u32)]) -> u64 {
    ranges.sort_unstable();
    let mut total = 0_u64;
    let mut current: Option<(u32, u32)> = None;
    for &(s, e) in ranges.iter() {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += u64::from(ce - cs);
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += u64::from(ce.saturating_sub(cs));
    }
    total
}

/// A catalogue track found for a whole-file query (`a` = the query, `b` = the track).
#[derive(Debug, Clone, PartialEq)]
pub struct FullMatch {
    pub track: TrackId,
    /// The track's items equal the query's.
    pub exact: bool,
    pub comparison: Comparison,
}

/// A pair of catalogue tracks that match, `a < b` (`comparison` has `a` as its side A).
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicatePair {
    pub a: TrackId,
    pub b: TrackId,
    /// Identical items (found by [`items_hash`], not compared).
    pub exact: bool,
    pub class: PairClass,
    pub comparison: Comparison,
}

/// What the windows of a query found for one track.
#[derive(Debug, Default)]
struct WindowHits {
    windows: u32,
    score: f64,
    /// Offsets `pos_query − pos_track` voted for, distinct within ±2.
    offsets: Vec<i64>,
}

/// Candidate tracks for a query: the best `max_candidates` by windows hit, then summed window
/// scores, each with the offsets (`pos_query − pos_track`) its windows voted for.
fn candidates(
    index: &CatalogueIndex,
    query: &[u32],
    config: &FullConfig,
    exclude: Option<TrackId>,
) -> Result<Vec<(TrackId, Vec<i64>)>, FullError> {
    let window = config.window_items.min(query.len());
    if window == 0 {
        return Ok(Vec::new());
    }
    let span = query.len() - window;
    let windows = (span / config.window_hop.max(1) + 1).clamp(1, config.max_windows.max(1));
    let snippet_config = SnippetConfig {
        max_results: config
            .snippet
            .max_results
            .saturating_add(usize::from(exclude.is_some())),
        ..config.snippet
    };
    let mut found: HashMap<TrackId, WindowHits> = HashMap::new();
    for w in 0..windows {
        // Spread evenly from the first to the last possible start.
        let start = if windows == 1 {
            span / 2
        } else {
            span * w / (windows - 1)
        };
        let Some(items) = query.get(start..start + window) else {
            continue;
        };
        for m in snippet::search(index, items, &snippet_config)? {
            if Some(m.track) == exclude || m.confidence < config.min_window_confidence {
                continue;
            }
            let entry = found.entry(m.track).or_default();
            entry.windows += 1;
            entry.score += m.score;
            let offset = start as i64 - m.offset_items;
            if entry.offsets.len() < config.max_alignments.max(1)
                && entry.offsets.iter().all(|o| o.abs_diff(offset) > 2)
            {
                entry.offsets.push(offset);
            }
        }
    }
    let mut ranked: Vec<(TrackId, WindowHits)> = found.into_iter().collect();
    ranked.sort_by(|x, y| {
        y.1.windows
            .cmp(&x.1.windows)
            .then(y.1.score.total_cmp(&x.1.score))
            .then(x.0.cmp(&y.0))
    });
    ranked.truncate(config.max_candidates);
    Ok(ranked.into_iter().map(|(t, h)| (t, h.offsets)).collect())
}

/// Identifies a whole file against the catalogue: candidates from the snippet search on
/// windows of the query, then [`compare`] (query as side A). Returns the tracks with a class,
/// best score first.
pub fn identify_full(
    index: &CatalogueIndex,
    query: &[u32],
    config: &FullConfig,
) -> Result<Vec<FullMatch>, FullError> {
    config.validate()?;
    if query.len() > config.max_items {
        return Err(FullError::QueryTooLong {
            len: query.len(),
            max: config.max_items,
        });
    }
    let mut out = Vec::new();
    for (track, hints) in candidates(index, query, config, None)? {
        let Some(items) = index.track_items(track) else {
            continue;
        };
        let comparison = compare_with_hints(query, items, config, &hints);
        if comparison.class.is_some() {
            out.push(FullMatch {
                track,
                exact: items == query,
                comparison,
            });
        }
    }
    out.sort_by(|x, y| {
        y.comparison
            .score
            .total_cmp(&x.comparison.score)
            .then(x.track.cmp(&y.track))
    });
    Ok(out)
}

/// Finds the pairs of live tracks that match, each once with `a < b`, sorted by `(a, b)`.
///
/// Identical items are paired by [`items_hash`] without comparing: each such track is paired
/// with the lowest id of its group (enough to group them, and `n − 1` pairs instead of
/// `n(n − 1)/2`). Every other track is searched like [`identify_full`] excluding itself, and
/// its `max_candidates` best candidates are compared, each pair at most once. Memory grows
/// with the live tracks (a digest each) and the pairs compared; work per track is bounded by
/// `max_windows` snippet searches and `max_candidates` comparisons.
///
/// `progress(done, total)` is called before each track and once at the end; returning `false`
/// cancels the run ([`FullError::Cancelled`]).
pub fn find_duplicates(
    index: &CatalogueIndex,
    config: &FullConfig,
    progress: &dyn Fn(u32, u32) -> bool,
) -> Result<Vec<DuplicatePair>, FullError> {
    config.validate()?;
    let live: Vec<(TrackId, &[u32])> = (0..index.track_count())
        .filter_map(|t| {
            index
                .track_items(TrackId(t))
                .map(|items| (TrackId(t), items))
        })
        .collect();
    let total = live.len() as u32;
    let mut first_of_digest: HashMap<[u8; 32], TrackId> = HashMap::new();
    let mut digest_of: HashMap<TrackId, [u8; 32]> = HashMap::with_capacity(live.len());
    let mut pairs: Vec<DuplicatePair> = Vec::new();
    for &(track, items) in &live {
        let digest = items_hash(items);
        digest_of.insert(track, digest);
        match first_of_digest.get(&digest) {
            Some(&first) => pairs.push(exact_pair(first, track, items.len())),
            None => {
                first_of_digest.insert(digest, track);
            }
        }
    }
    let mut compared: HashSet<(TrackId, TrackId)> = HashSet::new();
    for (done, &(track, items)) in live.iter().enumerate() {
        if !progress(done as u32, total) {
            return Err(FullError::Cancelled {
                done: done as u32,
                total,
            });
        }
        for (other, hints) in candidates(index, items, config, Some(track))? {
            if digest_of.get(&other) == digest_of.get(&track) {
                continue;
            }
            let key = (track.min(other), track.max(other));
            if !compared.insert(key) {
                continue;
            }
            let (Some(items_a), Some(items_b)) =
                (index.track_items(key.0), index.track_items(key.1))
            else {
                continue;
            };
            // Hints are `pos_track − pos_other`; side A is the lower id.
            let hints: Vec<i64> = if key.0 == track {
                hints
            } else {
                hints.iter().map(|o| o.saturating_neg()).collect()
            };
            let comparison = compare_with_hints(items_a, items_b, config, &hints);
            if let Some(class) = comparison.class {
                pairs.push(DuplicatePair {
                    a: key.0,
                    b: key.1,
                    exact: false,
                    class,
                    comparison,
                });
            }
        }
    }
    // The final call reports completion; cancelling now changes nothing.
    let _ = progress(total, total);
    pairs.sort_by_key(|p| (p.a, p.b));
    Ok(pairs)
}

/// The pair of two tracks with identical items.
fn exact_pair(a: TrackId, b: TrackId, len: usize) -> DuplicatePair {
    let n = len as u32;
    let section = Section {
        a_start: 0,
        b_start: 0,
        items: n,
        offset_items: 0,
        a_start_s: 0.0,
        b_start_s: 0.0,
        duration_s: f64::from(n) * ITEM_SECONDS,
        bit_errors: 0.0,
    };
    DuplicatePair {
        a,
        b,
        exact: true,
        class: PairClass::Same,
        comparison: Comparison {
            score: 1.0,
            offset_items: 0,
            offset_s: 0.0,
            overlap_items: n,
            bit_errors: 0.0,
            votes: n,
            diversity: 1.0,
            len_a: n,
            len_b: n,
            coverage_a: 1.0,
            coverage_b: 1.0,
            sections: vec![section],
            class: Some(PairClass::Same),
            container: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_clip_both_ends() {
        assert_eq!(overlap_at(10, 5, 0), (0, 0, 5));
        assert_eq!(overlap_at(10, 5, 7), (7, 0, 3));
        assert_eq!(overlap_at(10, 5, -2), (0, 2, 3));
        assert_eq!(overlap_at(10, 5, i64::MAX).2, 0);
        assert_eq!(overlap_at(10, 5, i64::MIN).2, 0);
        assert_eq!(overlap_at(0, 5, 0).2, 0);
    }

    #[test]
    fn unions_merge_overlapping_ranges() {
        assert_eq!(union_length(&mut [(0, 10), (5, 15), (20, 25)]), 20);
        assert_eq!(union_length(&mut []), 0);
    }

    #[test]
    fn the_hash_is_stable() {
        // SHA-256 of no bytes.
        assert_eq!(items_hash(&[])[..4], [0xe3, 0xb0, 0xc4, 0x42]);
        assert_ne!(items_hash(&[1]), items_hash(&[1 << 8]));
    }
}
