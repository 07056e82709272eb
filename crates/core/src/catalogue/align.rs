//! Measures of an aligned window shared by the query modes: compare2's diversity and its
//! repetition penalty, and the moving mean that smooths per-item bit errors.

/// compare2's diversity of a window: `min(1, (distinct 14-bit prefixes + 10) / len + 0.5)`.
pub(crate) fn diversity(items: &[u32]) -> f64 {
    if items.is_empty() {
        return 1.0;
    }
    let mut seen = [0_u64; 256];
    let mut distinct = 0_u32;
    for &item in items {
        let prefix = (item >> 18) as usize;
        if let Some(word) = seen.get_mut(prefix / 64) {
            let bit = 1 << (prefix % 64);
            if *word & bit == 0 {
                *word |= bit;
                distinct += 1;
            }
        }
    }
    ((f64::from(distinct) + 10.0) / items.len() as f64 + 0.5).min(1.0)
}

/// `score` after compare2's penalty for a repetitive window (`diversity` < 1):
/// `score^(8 − 7·diversity)`.
pub(crate) fn penalise_repetition(score: f64, diversity: f64) -> f64 {
    if diversity < 1.0 {
        score.powf(8.0 - 7.0 * diversity)
    } else {
        score
    }
}

/// A moving mean over `±radius`, averaging only the samples inside the array at the edges.
pub(crate) fn box_smooth(values: &[f64], radius: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0.0);
    let mut sum = 0.0;
    for &v in values {
        sum += v;
        prefix.push(sum);
    }
    (0..values.len())
        .map(|i| {
            let from = i.saturating_sub(radius);
            let to = (i + radius + 1).min(values.len());
            let total =
                prefix.get(to).copied().unwrap_or(0.0) - prefix.get(from).copied().unwrap_or(0.0);
            total / (to - from) as f64
        })
        .collect()
}
