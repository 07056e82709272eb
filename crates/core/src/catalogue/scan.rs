//! Mode 3 of the catalogue: scan a long recording (a DJ mix, a radio recording) for the
//! catalogue tracks it plays, from its raw items at one or more sub-hop phases.
//!
//! This module owns the scan itself: cutting the recording into overlapping windows, searching
//! each with the snippet machinery ([`best_over_phases`]), chaining window hits into segments,
//! refining segment boundaries item by item, resolving overlaps between segments, and the
//! progress / cancellation hook. It does not decode or fingerprint: the caller hands it the
//! items already computed ([`scan`] takes [`QueryPhase`]s, [`scan_phased`] a [`PhasedItems`]).
//!
//! # Algorithm
//!
//! 1. **Windows** of `window_items` items every `hop_items` items (plus one final window
//!    ending at the last item, so the tail is searched too). A window hit is accepted when
//!    its [`Confidence`] reaches `min_window_confidence` (the §B.4 rule by default).
//! 2. **Chaining.** A hit is a point `(x, y)`: the window's start in the mix and the matching
//!    position in the track, in seconds. A hit joins an open chain of the same track when `y`
//!    is within `offset_tolerance_s` of the chain's prediction (its last point extrapolated
//!    with the chain's slope), so a constant offset `x − y` is followed even when it drifts
//!    slowly with a tempo change. A chain closes when no hit joined it for more than
//!    `max_gap_s` of windows. Only the least-squares sums of the chain's points are kept, not
//!    the points: memory does not grow with the recording.
//! 3. **Tempo.** The least-squares slope of `y` on `x` is the tempo ratio (track seconds per
//!    mix second), measured once the chain spans `min_tempo_span_s` and clamped to
//!    `1 ± max_tempo_change` (the design's §3.4: Chromaprint matching does not survive more
//!    than a few per cent of tempo change, so a steeper slope is not credible).
//! 4. **Boundaries.** A chain's windows only place its ends to within a hop. Each end is moved
//!    item by item: every mix item near the end is compared with the track item the chain's
//!    line predicts (± 1 item, for tempo), and the end goes where the running sum of
//!    `MATCH_BITS − bit errors` peaks (a change point: matching items add, unrelated ones
//!    subtract).
//! 5. **Overlaps** between segments of different tracks are split at the item where the
//!    summed per-item gains of both sides are highest; a segment lying inside another is
//!    dropped if the other's items match better there, and splits the other otherwise.
//! 6. **Output.** Segments with at least `min_windows` windows, `min_segment_s` seconds and
//!    `min_score`, in mix order.
//!
//! Positions are in seconds from the start of the recording (phase-0 framing). Chromaprint's
//! 2.6 s analysis window is not added to segment ends: item `j` is reported as starting at
//! `j × ITEM_SECONDS`.
//!
//! Not here yet: computing the items of a long file in a streaming way (the scan itself
//! already handles windows in order and keeps only open chains, but the boundary step reads
//! items up to `boundary_search_items` back), and the design's `atempo` sweep for low-scoring
//! drifted segments (it needs PCM).

use super::index::{CatalogueIndex, TrackId};
use super::raw::PhasedItems;
use super::snippet::{
    Confidence, MAX_PHASES, QueryPhase, SnippetConfig, SnippetError, SnippetMatch, best_over_phases,
};
use super::{ITEM_SECONDS, SAMPLE_RATE};

/// Bit errors (of 32) below which an item counts as matching in the boundary step: above a
/// matching item's few differing bits (≈ 1–3, a few more off by one item under tempo drift),
/// well below an unrelated item's 16 (≈ 14 for the best of 3 alignments). Lower than
/// Chromaprint's section threshold of 10 because slowly changing unrelated audio can stay
/// near 10 bits from a track for several items, which would drag a boundary outward.
const MATCH_BITS: i64 = 8;
/// Open chains at once. Several tracks only overlap in crossfades, so a handful suffice; when
/// full, the chain idle longest is closed first.
const MAX_OPEN_CHAINS: usize = 32;
/// Most resolution steps of the overlap pass: a guard, each step removes one overlap.
const MAX_RESOLUTION_STEPS: usize = 100_000;

/// How to scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanConfig {
    /// Items per window (80 ≈ 10 s). 8 to `snippet.max_query_items`.
    pub window_items: usize,
    /// Items between window starts (40 ≈ 5 s). 1 to `window_items`.
    pub hop_items: usize,
    /// How each window is searched.
    pub snippet: SnippetConfig,
    /// Least confidence for a window hit to count (`Medium`: the design's decision rule).
    pub min_window_confidence: Confidence,
    /// Largest distance between a hit's track position and the chain's prediction (seconds).
    pub offset_tolerance_s: f64,
    /// Largest stretch of windows without a hit inside one segment (seconds of hops).
    pub max_gap_s: f64,
    /// Largest tempo change measured (0.06 = ±6 %); slopes beyond are clamped.
    pub max_tempo_change: f64,
    /// A chain's tempo is measured (and used for prediction) once it spans this many seconds;
    /// before, it is taken as 1.
    pub min_tempo_span_s: f64,
    /// How far (items) each boundary may move outward from the chain's windows.
    pub boundary_search_items: usize,
    /// Segments with fewer accepted windows are dropped (the design's "≥ 2 windows").
    pub min_windows: u32,
    /// Segments shorter than this (seconds, after refinement) are dropped.
    pub min_segment_s: f64,
    /// Segments whose mean window score is below this are dropped.
    pub min_score: f64,
    /// The progress hook is called at least every this many windows (0 counts as 1).
    pub progress_every: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            window_items: 80,
            hop_items: 40,
            snippet: SnippetConfig::default(),
            min_window_confidence: Confidence::Medium,
            offset_tolerance_s: 1.5,
            max_gap_s: 10.0,
            max_tempo_change: 0.06,
            min_tempo_span_s: 20.0,
            boundary_search_items: 120,
            min_windows: 2,
            min_segment_s: 15.0,
            min_score: 0.0,
            progress_every: 8,
        }
    }
}

impl ScanConfig {
    /// Checks the settings make sense.
    pub fn validate(&self) -> Result<(), ScanError> {
        if self.window_items < 8 {
            return Err(ScanError::InvalidConfig("window_items must be at least 8"));
        }
        if self.window_items > self.snippet.max_query_items {
            return Err(ScanError::InvalidConfig(
                "window_items must not exceed snippet.max_query_items",
            ));
        }
        if self.hop_items == 0 || self.hop_items > self.window_items {
            return Err(ScanError::InvalidConfig(
                "hop_items must be between 1 and window_items",
            ));
        }
        let finite_non_negative = [
            self.offset_tolerance_s,
            self.max_gap_s,
            self.min_tempo_span_s,
            self.min_segment_s,
        ];
        if finite_non_negative
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(ScanError::InvalidConfig(
                "tolerances, gaps and lengths must be finite and not negative",
            ));
        }
        if !(0.0..0.5).contains(&self.max_tempo_change) {
            return Err(ScanError::InvalidConfig(
                "max_tempo_change must be in 0..0.5",
            ));
        }
        if self.min_score.is_nan() {
            return Err(ScanError::InvalidConfig("min_score must be a number"));
        }
        Ok(())
    }
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the scan was cancelled")]
    Cancelled,
    #[error("invalid scan settings: {0}")]
    InvalidConfig(&'static str),
    #[error(transparent)]
    Snippet(#[from] SnippetError),
}

/// A catalogue track found in the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanSegment {
    pub track: TrackId,
    /// Where the track plays in the recording, in seconds (end exclusive).
    pub start_s: f64,
    pub end_s: f64,
    /// The track position playing at `start_s`, in seconds.
    pub track_position_s: f64,
    /// Mean score of the accepted windows.
    pub score: f64,
    /// `High` when most accepted windows were `High`, `Medium` otherwise; `Low` for a segment
    /// of a single window (only kept when `min_windows` ≤ 1: the design's "weak" hit).
    pub confidence: Confidence,
    /// Track seconds per recording second (1 = original tempo; 1.02 = played 2 % faster).
    pub tempo_ratio: f64,
    /// Accepted windows (shared proportionally when an overlap split the segment).
    pub windows: u32,
}

/// Scans the phases of a long recording (each phase's items, see [`QueryPhase`]). Windows
/// are searched in every phase and the best phase wins per window.
///
/// `progress(done, total)` is called before the first window, at least every
/// `progress_every` windows and after the last; returning `false` cancels the scan
/// ([`ScanError::Cancelled`]).
pub fn scan(
    index: &CatalogueIndex,
    phases: &[QueryPhase<'_>],
    config: &ScanConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<ScanSegment>, ScanError> {
    config.validate()?;
    if phases.len() > MAX_PHASES {
        return Err(SnippetError::TooManyPhases {
            len: phases.len(),
            max: MAX_PHASES,
        }
        .into());
    }
    let len = phases.iter().map(|p| p.items.len()).max().unwrap_or(0);
    let starts = WindowStarts::new(len, config.window_items, config.hop_items);
    let total = starts.clone().count();
    if !progress(0, total) {
        return Err(ScanError::Cancelled);
    }
    let mut chainer = Chainer::new(config);
    let mut pending: Vec<Pending> = Vec::new();
    let mut window: Vec<QueryPhase<'_>> = Vec::with_capacity(phases.len());
    let every = config.progress_every.max(1);
    for (done, start) in starts.enumerate() {
        window.clear();
        window.extend(phases.iter().filter_map(|p| {
            let end = (start + config.window_items).min(p.items.len());
            let items = p.items.get(start..end).filter(|items| !items.is_empty())?;
            Some(QueryPhase {
                phase_samples: p.phase_samples,
                items,
            })
        }));
        if index.live_track_count() > 0 && !window.is_empty() {
            let hits = best_over_phases(index, &window, &config.snippet)?;
            chainer.close_stale(start, &mut pending);
            for hit in hits
                .iter()
                .filter(|h| h.confidence >= config.min_window_confidence)
            {
                chainer.add(start, hit, phases, &mut pending);
            }
        }
        let done = done + 1;
        if (done % every == 0 || done == total) && !progress(done, total) {
            return Err(ScanError::Cancelled);
        }
    }
    chainer.close_all(&mut pending);
    let refined: Vec<Segment> = pending
        .into_iter()
        .filter_map(|p| refine(index, phases, config, p))
        .collect();
    let resolved = resolve_overlaps(index, phases, config, refined);
    Ok(resolved
        .into_iter()
        .filter_map(|s| output(config, phases, &s))
        .collect())
}

/// [`scan`] over the items of [`crate::catalogue::raw::query_items`] (or any [`PhasedItems`]).
pub fn scan_phased(
    index: &CatalogueIndex,
    items: &PhasedItems,
    config: &ScanConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<ScanSegment>, ScanError> {
    let phases: Vec<QueryPhase<'_>> = items
        .phases
        .iter()
        .map(|p| QueryPhase {
            phase_samples: p.offset_samples,
            items: &p.items,
        })
        .collect();
    scan(index, &phases, config, progress)
}

/// Window starts: every hop while a whole window fits, then one window ending at the last
/// item if the regular ones leave a tail unsearched. None when the recording is shorter than
/// a window.
#[derive(Debug, Clone)]
struct WindowStarts {
    next: usize,
    last_regular: usize,
    tail: Option<usize>,
    hop: usize,
    done: bool,
}

impl WindowStarts {
    fn new(len: usize, window: usize, hop: usize) -> Self {
        if len < window || hop == 0 {
            return Self {
                next: 0,
                last_regular: 0,
                tail: None,
                hop: 1,
                done: true,
            };
        }
        let last_regular = (len - window) / hop * hop;
        let tail = (last_regular + window < len).then_some(len - window);
        Self {
            next: 0,
            last_regular,
            tail,
            hop,
            done: false,
        }
    }
}

impl Iterator for WindowStarts {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.done {
            return None;
        }
        if self.next <= self.last_regular {
            let start = self.next;
            self.next += self.hop;
            return Some(start);
        }
        self.done = true;
        self.tail
    }
}

/// Seconds of phase `samples` at 11 025 Hz.
fn phase_seconds(samples: u32) -> f64 {
    f64::from(samples) / f64::from(SAMPLE_RATE)
}

/// The line `y = y0 + slope · (x − x0)`: track seconds for recording seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Line {
    x0: f64,
    y0: f64,
    slope: f64,
}

impl Line {
    fn at(&self, x: f64) -> f64 {
        self.y0 + self.slope * (x - self.x0)
    }
}

/// Window hits of one track at a consistent, slowly drifting offset. Sums are centred on the
/// first point so they stay precise over hours.
#[derive(Debug, Clone)]
struct Chain {
    track: TrackId,
    first: (f64, f64),
    last: (f64, f64),
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
    /// Start items of the first and last accepted windows.
    first_window: usize,
    last_window: usize,
    score_sum: f64,
    high: u32,
    windows: u32,
    /// Accepted windows per phase (index into the scan's phases): the boundary step uses the
    /// phase chosen most.
    phase_votes: [u32; MAX_PHASES],
}

impl Chain {
    fn new(track: TrackId, start: usize, x: f64, y: f64) -> Self {
        Self {
            track,
            first: (x, y),
            last: (x, y),
            n: 0.0,
            sx: 0.0,
            sy: 0.0,
            sxx: 0.0,
            sxy: 0.0,
            first_window: start,
            last_window: start,
            score_sum: 0.0,
            high: 0,
            windows: 0,
            phase_votes: [0; MAX_PHASES],
        }
    }

    fn push(&mut self, start: usize, x: f64, y: f64, hit: &SnippetMatch, phase: usize) {
        let (dx, dy) = (x - self.first.0, y - self.first.1);
        self.n += 1.0;
        self.sx += dx;
        self.sy += dy;
        self.sxx += dx * dx;
        self.sxy += dx * dy;
        self.last = (x, y);
        self.last_window = start;
        self.score_sum += hit.score;
        self.windows += 1;
        if hit.confidence == Confidence::High {
            self.high += 1;
        }
        if let Some(v) = self.phase_votes.get_mut(phase) {
            *v += 1;
        }
    }

    /// The tempo ratio: the least-squares slope once the chain spans `min_span` seconds, else 1.
    fn slope(&self, min_span: f64, max_change: f64) -> f64 {
        let span = self.last.0 - self.first.0;
        let var = self.sxx - self.sx * self.sx / self.n.max(1.0);
        if self.n < 2.0 || span < min_span || span <= 0.0 || var <= f64::EPSILON {
            return 1.0;
        }
        let slope = (self.sxy - self.sx * self.sy / self.n) / var;
        if slope.is_finite() {
            slope.clamp(1.0 - max_change, 1.0 + max_change)
        } else {
            1.0
        }
    }

    /// The fitted line through the points' centroid.
    fn line(&self, min_span: f64, max_change: f64) -> Line {
        let n = self.n.max(1.0);
        Line {
            x0: self.first.0 + self.sx / n,
            y0: self.first.1 + self.sy / n,
            slope: self.slope(min_span, max_change),
        }
    }

    fn dominant_phase(&self) -> usize {
        let mut best = 0;
        for (i, &v) in self.phase_votes.iter().enumerate() {
            if v > self.phase_votes.get(best).copied().unwrap_or(0) {
                best = i;
            }
        }
        best
    }
}

/// A closed chain, before its boundaries are refined.
#[derive(Debug, Clone, Copy)]
struct Pending {
    track: TrackId,
    line: Line,
    phase: usize,
    /// Items covered by the chain's windows (end exclusive).
    core: (usize, usize),
    score: f64,
    high: u32,
    windows: u32,
}

/// Follows the open chains window by window.
struct Chainer<'c> {
    config: &'c ScanConfig,
    open: Vec<Chain>,
}

impl<'c> Chainer<'c> {
    fn new(config: &'c ScanConfig) -> Self {
        Self {
            config,
            open: Vec::new(),
        }
    }

    /// Closes the chains that no window joined for more than `max_gap_s` before `start`.
    fn close_stale(&mut self, start: usize, out: &mut Vec<Pending>) {
        let hop = self.config.hop_items;
        let gap = self.config.max_gap_s;
        let mut i = 0;
        while i < self.open.len() {
            let stale = self.open.get(i).is_some_and(|c| {
                let missed = start.saturating_sub(c.last_window + hop);
                missed as f64 * ITEM_SECONDS > gap + 1e-9
            });
            if stale {
                let chain = self.open.swap_remove(i);
                self.close(&chain, out);
            } else {
                i += 1;
            }
        }
    }

    fn close_all(&mut self, out: &mut Vec<Pending>) {
        for chain in std::mem::take(&mut self.open) {
            self.close(&chain, out);
        }
    }

    fn close(&self, chain: &Chain, out: &mut Vec<Pending>) {
        if chain.windows < self.config.min_windows.max(1) {
            return;
        }
        out.push(Pending {
            track: chain.track,
            line: chain.line(self.config.min_tempo_span_s, self.config.max_tempo_change),
            phase: chain.dominant_phase(),
            core: (
                chain.first_window,
                chain.last_window + self.config.window_items,
            ),
            score: chain.score_sum / f64::from(chain.windows.max(1)),
            high: chain.high,
            windows: chain.windows,
        });
    }

    /// Adds a window hit to the chain it continues, or opens one.
    fn add(
        &mut self,
        start: usize,
        hit: &SnippetMatch,
        phases: &[QueryPhase<'_>],
        out: &mut Vec<Pending>,
    ) {
        let x = start as f64 * ITEM_SECONDS;
        let y = hit.position_s;
        if !y.is_finite() {
            return;
        }
        let phase = phases
            .iter()
            .position(|p| p.phase_samples == hit.phase_samples)
            .unwrap_or(0);
        let (span, change) = (self.config.min_tempo_span_s, self.config.max_tempo_change);
        let tolerance = self.config.offset_tolerance_s;
        let best = self
            .open
            .iter()
            .enumerate()
            .filter(|(_, c)| c.track == hit.track && c.last_window < start)
            .map(|(i, c)| {
                let predicted = c.last.1 + c.slope(span, change) * (x - c.last.0);
                (i, (y - predicted).abs())
            })
            .filter(|&(_, miss)| miss <= tolerance)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        if let Some(chain) = best.and_then(|i| self.open.get_mut(i)) {
            chain.push(start, x, y, hit, phase);
            return;
        }
        if self.open.len() >= MAX_OPEN_CHAINS
            && let Some(oldest) = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_window)
                .map(|(i, _)| i)
        {
            let chain = self.open.swap_remove(oldest);
            self.close(&chain, out);
        }
        let mut chain = Chain::new(hit.track, start, x, y);
        chain.push(start, x, y, hit, phase);
        self.open.push(chain);
    }
}

/// A segment with item boundaries (in its phase's items, end exclusive).
#[derive(Debug, Clone, Copy)]
struct Segment {
    track: TrackId,
    line: Line,
    phase: usize,
    start: usize,
    end: usize,
    score: f64,
    high: u32,
    windows: u32,
}

/// What one mix item gains a segment: `MATCH_BITS` minus its bit errors against the track
/// item the segment's line predicts. Under a tempo change the best of that item and its two
/// neighbours counts, which absorbs the rounding of a drifting line; at the original tempo
/// the predicted item is exact and neighbours would only help unrelated items. Items the line
/// maps outside the track lose the most.
fn gain(mix: &[u32], j: usize, track: &[u32], line: &Line, phase_s: f64) -> i64 {
    let Some(&item) = mix.get(j) else {
        return MATCH_BITS - 32;
    };
    let y = line.at(j as f64 * ITEM_SECONDS + phase_s) / ITEM_SECONDS;
    if !y.is_finite() || y < -1.5 || y > track.len() as f64 + 0.5 {
        return MATCH_BITS - 32;
    }
    let t = y.round() as i64;
    let reach = i64::from((line.slope - 1.0).abs() > 1e-9);
    let errors = (t - reach..=t + reach)
        .filter_map(|k| usize::try_from(k).ok().and_then(|k| track.get(k)))
        .map(|&other| i64::from((item ^ other).count_ones()))
        .min()
        .unwrap_or(32);
    MATCH_BITS - errors
}

/// The items and phase shift a segment's boundary step reads.
fn phase_of<'p>(phases: &'p [QueryPhase<'_>], phase: usize) -> (&'p [u32], f64) {
    phases.get(phase).map_or((&[][..], 0.0), |p| {
        (p.items, phase_seconds(p.phase_samples))
    })
}

/// Moves a closed chain's boundaries to the item where the running gain peaks.
fn refine(
    index: &CatalogueIndex,
    phases: &[QueryPhase<'_>],
    config: &ScanConfig,
    p: Pending,
) -> Option<Segment> {
    let track = index.track_items(p.track)?;
    let (mix, phase_s) = phase_of(phases, p.phase);
    let (core_start, core_end) = (p.core.0, p.core.1.min(mix.len()));
    if core_start >= core_end {
        return None;
    }
    // Items within half a window of a core end may be outside the track (a window only needs
    // most of its items to match); the middle is trusted.
    let half = config.window_items / 2;
    let mid = core_start + (core_end - core_start) / 2;
    let pivot_start = (core_start + half).min(mid);
    let pivot_end = core_end.saturating_sub(half).max(mid);
    let g = |j: usize| gain(mix, j, track, &p.line, phase_s);

    let lowest = core_start.saturating_sub(config.boundary_search_items);
    let (mut start, mut best, mut sum) = (pivot_start, 0_i64, 0_i64);
    for j in (lowest..pivot_start).rev() {
        sum += g(j);
        if sum > best {
            best = sum;
            start = j;
        }
    }
    let highest = core_end
        .saturating_add(config.boundary_search_items)
        .min(mix.len());
    let (mut end, mut best, mut sum) = (pivot_end, 0_i64, 0_i64);
    for j in pivot_end..highest {
        sum += g(j);
        if sum > best {
            best = sum;
            end = j + 1;
        }
    }
    (start < end).then_some(Segment {
        track: p.track,
        line: p.line,
        phase: p.phase,
        start,
        end,
        score: p.score,
        high: p.high,
        windows: p.windows,
    })
}

/// The summed gains of `s` over items `from..to`.
fn gains(
    index: &CatalogueIndex,
    phases: &[QueryPhase<'_>],
    s: &Segment,
    from: usize,
    to: usize,
) -> i64 {
    let track = index.track_items(s.track).unwrap_or(&[]);
    let (mix, phase_s) = phase_of(phases, s.phase);
    (from..to)
        .map(|j| gain(mix, j, track, &s.line, phase_s))
        .sum()
}

/// Two segments of one track that continue each other (the same line where they meet).
fn continues(config: &ScanConfig, a: &Segment, b: &Segment) -> bool {
    let x = b.start as f64 * ITEM_SECONDS;
    a.track == b.track && (a.line.at(x) - b.line.at(x)).abs() <= config.offset_tolerance_s
}

/// `s` cut to `from..to`, its windows shared in proportion.
fn piece(s: &Segment, from: usize, to: usize) -> Segment {
    let share = (to.saturating_sub(from)) as f64 / (s.end.saturating_sub(s.start)).max(1) as f64;
    let windows = ((f64::from(s.windows) * share).round() as u32).clamp(1, s.windows.max(1));
    let high = ((f64::from(s.high) * share).round() as u32).min(windows);
    Segment {
        start: from,
        end: to,
        windows,
        high,
        ..*s
    }
}

/// Mix order: by start, then end, then track.
fn by_start(a: &Segment, b: &Segment) -> std::cmp::Ordering {
    (a.start, a.end, a.track)
        .cmp(&(b.start, b.end, b.track))
        .then(b.score.total_cmp(&a.score))
}

/// Puts `s` back in mix order among `segments[from..]`, which are sorted.
fn insert_sorted(segments: &mut Vec<Segment>, from: usize, s: Segment) {
    if s.start >= s.end {
        return;
    }
    let tail = segments.get(from..).unwrap_or(&[]);
    let at = from + tail.partition_point(|x| by_start(x, &s) == std::cmp::Ordering::Less);
    segments.insert(at.min(segments.len()), s);
}

/// Removes every overlap: same-track continuations are merged, other overlaps go to the side
/// whose items match better (see the module docs).
///
/// One sweep in mix order: when segment `i` overlaps nothing after it, nothing before `i`
/// changes any more, so the cursor only moves forward (linear in segments, plus the re-insertion
/// of the pieces a resolution moves).
fn resolve_overlaps(
    index: &CatalogueIndex,
    phases: &[QueryPhase<'_>],
    config: &ScanConfig,
    mut segments: Vec<Segment>,
) -> Vec<Segment> {
    segments.retain(|s| s.start < s.end);
    segments.sort_by(by_start);
    let mut i = 0;
    for _ in 0..MAX_RESOLUTION_STEPS {
        let (Some(&a), Some(&b)) = (segments.get(i), segments.get(i + 1)) else {
            break;
        };
        // Sorted by start: if the next segment starts after `a` ends, so do all later ones.
        if b.start >= a.end {
            i += 1;
            continue;
        }
        // `b` leaves its place; what remains of it is re-inserted in order.
        segments.remove(i + 1);
        if continues(config, &a, &b) {
            let windows = a.windows + b.windows;
            let score = (a.score * f64::from(a.windows) + b.score * f64::from(b.windows))
                / f64::from(windows.max(1));
            let keep = if a.windows >= b.windows { &a } else { &b };
            if let Some(slot) = segments.get_mut(i) {
                *slot = Segment {
                    start: a.start,
                    end: a.end.max(b.end),
                    score,
                    windows,
                    high: a.high + b.high,
                    ..*keep
                };
            }
            continue;
        }
        if b.end <= a.end {
            // `b` lies inside `a`: the better-matching side takes b's span.
            let ga = gains(index, phases, &a, b.start, b.end);
            let gb = gains(index, phases, &b, b.start, b.end);
            if ga < gb {
                let left = piece(&a, a.start, b.start);
                let right = piece(&a, b.end, a.end);
                segments.remove(i);
                insert_sorted(&mut segments, i, left);
                insert_sorted(&mut segments, i, b);
                insert_sorted(&mut segments, i, right);
            }
            continue;
        }
        // Partial overlap: `a` keeps items before the cut, `b` from it on; the cut maximises
        // the summed gains of both.
        let (from, to) = (b.start, a.end);
        let mut value = gains(index, phases, &b, from, to);
        let (mut cut, mut best) = (from, value);
        let track_a = index.track_items(a.track).unwrap_or(&[]);
        let track_b = index.track_items(b.track).unwrap_or(&[]);
        let (mix_a, phase_a) = phase_of(phases, a.phase);
        let (mix_b, phase_b) = phase_of(phases, b.phase);
        for c in from..to {
            value += gain(mix_a, c, track_a, &a.line, phase_a)
                - gain(mix_b, c, track_b, &b.line, phase_b);
            if value > best {
                best = value;
                cut = c + 1;
            }
        }
        segments.remove(i);
        insert_sorted(&mut segments, i, Segment { end: cut, ..a });
        insert_sorted(&mut segments, i, Segment { start: cut, ..b });
    }
    segments
}

/// The reported form of a segment, if it passes the length, window and score limits.
fn output(config: &ScanConfig, phases: &[QueryPhase<'_>], s: &Segment) -> Option<ScanSegment> {
    let (_, phase_s) = phase_of(phases, s.phase);
    let start_s = s.start as f64 * ITEM_SECONDS + phase_s;
    let end_s = s.end as f64 * ITEM_SECONDS + phase_s;
    let long_enough = end_s - start_s + 1e-9 >= config.min_segment_s;
    if !long_enough || s.windows < config.min_windows || s.score < config.min_score {
        return None;
    }
    let confidence = if s.windows < 2 {
        Confidence::Low
    } else if 2 * s.high >= s.windows {
        Confidence::High
    } else {
        Confidence::Medium
    };
    Some(ScanSegment {
        track: s.track,
        start_s,
        end_s,
        track_position_s: s.line.at(start_s),
        score: s.score,
        confidence,
        tempo_ratio: s.line.slope,
        windows: s.windows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_tail() {
        let starts: Vec<usize> = WindowStarts::new(200, 80, 40).collect();
        assert_eq!(starts, vec![0, 40, 80, 120]);
        let starts: Vec<usize> = WindowStarts::new(210, 80, 40).collect();
        assert_eq!(starts, vec![0, 40, 80, 120, 130]);
        assert_eq!(WindowStarts::new(79, 80, 40).count(), 0);
        assert_eq!(WindowStarts::new(80, 80, 40).count(), 1);
        assert_eq!(WindowStarts::new(0, 80, 40).count(), 0);
    }

    #[test]
    fn a_chain_measures_its_slope() {
        let hit = |score| SnippetMatch {
            track: TrackId(0),
            offset_items: 0,
            position_s: 0.0,
            phase_samples: 0,
            overlap_items: 80,
            bit_errors: 0.0,
            score,
            diversity: 1.0,
            raw_votes: 80,
            votes: 80,
            vote_frac: 1.0,
            confidence: Confidence::High,
            span: super::super::snippet::MatchedSpan {
                query_item: 0,
                track_item: 0,
                items: 80,
                position_in_query_s: 0.0,
                position_s: 0.0,
                duration_s: 0.0,
            },
            alternatives: Vec::new(),
        };
        let mut chain = Chain::new(TrackId(0), 0, 100.0, 10.0);
        for k in 0..10 {
            let x = 100.0 + 5.0 * f64::from(k);
            chain.push(k as usize * 40, x, 10.0 + 1.02 * (x - 100.0), &hit(0.9), 0);
        }
        assert!((chain.slope(20.0, 0.06) - 1.02).abs() < 1e-9);
        assert!((chain.slope(100.0, 0.06) - 1.0).abs() < f64::EPSILON);
        assert!((chain.slope(20.0, 0.01) - 1.01).abs() < 1e-9);
        let line = chain.line(20.0, 0.06);
        assert!((line.at(100.0) - 10.0).abs() < 1e-9);
    }

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

    fn segment(track: u32, start: usize, end: usize, track_start: usize) -> Segment {
        let x0 = start as f64 * ITEM_SECONDS;
        Segment {
            track: TrackId(track),
            line: Line {
                x0,
                y0: track_start as f64 * ITEM_SECONDS,
                slope: 1.0,
            },
            phase: 0,
            start,
            end,
            score: 0.9,
            high: 4,
            windows: 8,
        }
    }

    #[test]
    fn overlaps_go_to_the_better_matching_side() {
        use crate::catalogue::index::IndexConfig;
        let (a, b) = (items(1, 400), items(2, 400));
        let index =
            CatalogueIndex::from_tracks(IndexConfig::default(), [a.as_slice(), b.as_slice()])
                .unwrap();
        // Track 0 plays 0..400 except 150..250, where track 1 (from its item 0) plays.
        let mut mix = a.clone();
        mix[150..250].copy_from_slice(&b[..100]);
        let phases = [QueryPhase {
            phase_samples: 0,
            items: &mix,
        }];
        let config = ScanConfig::default();
        let spans = |v: &[Segment]| -> Vec<(u32, usize, usize)> {
            v.iter().map(|s| (s.track.0, s.start, s.end)).collect()
        };
        // A segment inside another that matches better there splits it.
        let out = resolve_overlaps(
            &index,
            &phases,
            &config,
            vec![segment(0, 0, 400, 0), segment(1, 150, 250, 0)],
        );
        assert_eq!(spans(&out), vec![(0, 0, 150), (1, 150, 250), (0, 250, 400)]);
        // A segment inside another that matches worse there is dropped.
        let out = resolve_overlaps(
            &index,
            &phases,
            &config,
            vec![segment(0, 0, 150, 0), segment(1, 20, 120, 0)],
        );
        assert_eq!(spans(&out), vec![(0, 0, 150)]);
        // A partial overlap is cut where the items change track.
        let out = resolve_overlaps(
            &index,
            &phases,
            &config,
            vec![
                segment(0, 0, 200, 0),
                Segment {
                    start: 120,
                    ..segment(1, 150, 250, 0)
                },
            ],
        );
        assert_eq!(spans(&out), vec![(0, 0, 150), (1, 150, 250)]);
        // Two pieces of one track on the same line are merged.
        let out = resolve_overlaps(
            &index,
            &phases,
            &config,
            vec![segment(0, 0, 100, 0), segment(0, 80, 150, 80)],
        );
        assert_eq!(spans(&out), vec![(0, 0, 150)]);
        assert_eq!(out[0].windows, 16);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let ok = ScanConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            ScanConfig {
                window_items: 0,
                ..ok
            },
            ScanConfig { hop_items: 0, ..ok },
            ScanConfig {
                hop_items: 81,
                ..ok
            },
            ScanConfig {
                window_items: 5000,
                ..ok
            },
            ScanConfig {
                max_gap_s: f64::NAN,
                ..ok
            },
            ScanConfig {
                offset_tolerance_s: -1.0,
                ..ok
            },
            ScanConfig {
                max_tempo_change: f64::INFINITY,
                ..ok
            },
            ScanConfig {
                min_score: f64::NAN,
                ..ok
            },
        ] {
            assert!(matches!(bad.validate(), Err(ScanError::InvalidConfig(_))));
        }
    }
}
