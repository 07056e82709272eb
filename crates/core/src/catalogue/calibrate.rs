//! Per-catalogue calibration of the snippet score threshold: impostor queries are drawn from
//! the catalogue itself (windows of its tracks, searched with their own track left out) and
//! from distractor recordings that are not in it, and the threshold of each query length is
//! set so that the share of impostor queries whose best candidate would pass stays at or
//! under a target false-positive rate.
//!
//! The impostor maximum grows with the catalogue (more tracks, more offsets to be lucky at),
//! which is why the design's default `T(n)` is only a starting point. A calibration never
//! lowers a threshold below that default: it only raises it where the catalogue needs it.

use serde::{Deserialize, Serialize};

use super::index::{CatalogueIndex, TrackId};
use super::snippet::{SnippetConfig, SnippetError, score_threshold, search};

/// The query lengths calibrated, in items (about 5, 10, 20, 30 and 60 seconds).
pub const BUCKETS: [usize; 5] = [40, 81, 162, 242, 485];
/// Added to the highest impostor score kept, so that a threshold is strictly above it.
const MARGIN: f64 = 0.02;
/// The most impostor queries per bucket (bounds the work of one calibration).
pub const MAX_QUERIES_PER_BUCKET: usize = 5_000;

/// How to calibrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationConfig {
    /// Largest share of impostor queries allowed to pass (0.001 = 0.1 %).
    pub target_false_positive_rate: f64,
    /// Impostor queries per length bucket (at most [`MAX_QUERIES_PER_BUCKET`]).
    pub queries_per_bucket: usize,
    /// Seed of the window choice: the same catalogue and seed give the same calibration.
    pub seed: u64,
    /// The search the thresholds are for.
    pub search: SnippetConfig,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            target_false_positive_rate: 0.001,
            queries_per_bucket: 1_000,
            seed: 0x5eed_ca11_b4a7_e000,
            search: SnippetConfig::default(),
        }
    }
}

/// One length bucket of a calibration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BucketThreshold {
    /// Query length, in items.
    pub items: usize,
    /// The threshold for queries of about this length.
    pub threshold: f64,
    /// Impostor queries searched.
    pub queries: usize,
    /// The best impostor score seen (0 when none had a candidate).
    pub max_impostor_score: f64,
    /// Share of impostor queries that would pass the threshold.
    pub false_positive_rate: f64,
}

/// The thresholds of a catalogue, by query length (stored with the catalogue's settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub buckets: Vec<BucketThreshold>,
}

impl Calibration {
    /// The threshold for a verified overlap of `n` items: the calibrated value of the nearest
    /// bucket not longer than `n` (the first bucket below it), never below the default `T(n)`.
    pub fn threshold(&self, n: usize) -> f64 {
        let calibrated = self
            .buckets
            .iter()
            .rev()
            .find(|bucket| bucket.items <= n)
            .or_else(|| self.buckets.first())
            .map_or(0.0, |bucket| bucket.threshold);
        calibrated.max(score_threshold(n))
    }
}

/// Why a calibration could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error("the target false-positive rate must be between 0 and 1, got {0}")]
    InvalidTarget(f64),
    #[error("the catalogue has no track long enough to draw impostor queries from")]
    NothingToDraw,
    #[error(transparent)]
    Search(#[from] SnippetError),
}

/// SplitMix64: a small, fast, seedable generator (the calibration must be reproducible, and
/// its quality needs are modest).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % (bound.max(1) as u64)).unwrap_or(0)
    }
}

/// The best score of a candidate of `query` other than `own` (the query's own track, when it
/// was cut from the catalogue).
fn best_impostor(
    index: &CatalogueIndex,
    query: &[u32],
    own: Option<TrackId>,
    config: &SnippetConfig,
) -> Result<f64, SnippetError> {
    // Leave room for the own track among the verified candidates.
    let config = SnippetConfig {
        max_results: config.max_results.saturating_add(1),
        ..*config
    };
    Ok(search(index, query, &config)?
        .iter()
        .filter(|found| Some(found.track) != own)
        .map(|found| found.score)
        .fold(0.0, f64::max))
}

/// The threshold that lets at most `target` of `scores` (sorted, ascending) pass: strictly
/// above the score at that quantile. With fewer queries than `1 / target`, that is above the
/// highest score seen.
fn fit(scores: &[f64], target: f64) -> f64 {
    let allowed = (scores.len() as f64 * target).floor() as usize;
    let keep = scores.len().saturating_sub(allowed + 1);
    scores.get(keep).map_or(0.0, |score| score + MARGIN)
}

/// Calibrates the snippet threshold of `index` with impostor windows of its own tracks and of
/// `distractors` (items of recordings that are not in the catalogue). Blocking; the work is
/// `queries_per_bucket × 5` searches.
pub fn calibrate(
    index: &CatalogueIndex,
    distractors: &[Vec<u32>],
    config: &CalibrationConfig,
) -> Result<Calibration, CalibrationError> {
    let target = config.target_false_positive_rate;
    if !(target > 0.0 && target < 1.0) {
        return Err(CalibrationError::InvalidTarget(target));
    }
    let queries = config.queries_per_bucket.clamp(1, MAX_QUERIES_PER_BUCKET);
    let mut random = SplitMix(config.seed);
    let mut buckets = Vec::with_capacity(BUCKETS.len());
    for length in BUCKETS {
        let sources: Vec<(Option<TrackId>, &[u32])> = (0..index.track_count())
            .map(TrackId)
            .filter(|track| !index.is_deleted(*track))
            .filter_map(|track| index.track_items(track).map(|items| (Some(track), items)))
            .chain(distractors.iter().map(|items| (None, items.as_slice())))
            .filter(|(_, items)| items.len() >= length)
            .collect();
        if sources.is_empty() {
            continue;
        }
        let mut scores = Vec::with_capacity(queries);
        for _ in 0..queries {
            let (own, items) = sources[random.below(sources.len())];
            let start = random.below(items.len() - length + 1);
            let window = &items[start..start + length];
            scores.push(best_impostor(index, window, own, &config.search)?);
        }
        scores.sort_by(f64::total_cmp);
        let threshold = fit(&scores, target).max(score_threshold(length));
        let passing = scores.iter().filter(|score| **score >= threshold).count();
        buckets.push(BucketThreshold {
            items: length,
            threshold,
            queries: scores.len(),
            max_impostor_score: scores.last().copied().unwrap_or(0.0),
            false_positive_rate: passing as f64 / scores.len() as f64,
        });
    }
    if buckets.is_empty() {
        return Err(CalibrationError::NothingToDraw);
    }
    Ok(Calibration { buckets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_leaves_at_most_the_target_share_above_it() {
        let scores: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let threshold = fit(&scores, 0.01);
        let above = scores.iter().filter(|s| **s >= threshold).count();
        assert!(above <= 10, "{above} above {threshold}");
        // Fewer queries than 1 / target: strictly above the highest.
        assert!(fit(&scores[..50], 0.001) > 0.049);
        assert!((fit(&[], 0.001) - 0.0).abs() < f64::EPSILON);
    }

    #[test]
    fn thresholds_never_go_below_the_default_rule() {
        let calibration = Calibration {
            buckets: vec![
                BucketThreshold {
                    items: 40,
                    threshold: 0.3,
                    queries: 1,
                    max_impostor_score: 0.28,
                    false_positive_rate: 0.0,
                },
                BucketThreshold {
                    items: 242,
                    threshold: 0.9,
                    queries: 1,
                    max_impostor_score: 0.88,
                    false_positive_rate: 0.0,
                },
            ],
        };
        assert!((calibration.threshold(40) - score_threshold(40)).abs() < 1e-12);
        assert!((calibration.threshold(300) - 0.9).abs() < 1e-12);
        assert!(calibration.threshold(10) >= score_threshold(10));
        let empty = Calibration { buckets: vec![] };
        assert!((empty.threshold(80) - score_threshold(80)).abs() < 1e-12);
    }

    #[test]
    fn the_generator_is_reproducible_and_bounded() {
        let (mut a, mut b) = (SplitMix(7), SplitMix(7));
        for _ in 0..100 {
            let value = a.below(13);
            assert_eq!(value, b.below(13));
            assert!(value < 13);
        }
        assert_eq!(SplitMix(1).below(0), 0);
    }
}
