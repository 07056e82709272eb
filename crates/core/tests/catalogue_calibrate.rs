//! Per-catalogue calibration on synthetic items: thresholds stay at or above the design's
//! default, keep the measured impostor pass rate at or under the target, and still let true
//! snippets through.
#![allow(clippy::unwrap_used)]

mod catalogue_support;

use std::io::Write;

use catalogue_support::{Rng, noisy, tracks};
use recozik_core::catalogue::calibrate::{BUCKETS, CalibrationConfig, CalibrationError, calibrate};
use recozik_core::catalogue::index::{CatalogueIndex, IndexConfig};
use recozik_core::catalogue::snippet::{SnippetConfig, score_threshold, search};

fn index(tracks: &[Vec<u32>]) -> CatalogueIndex {
    CatalogueIndex::from_tracks(IndexConfig::default(), tracks.iter().map(Vec::as_slice)).unwrap()
}

#[test]
fn a_calibration_bounds_impostors_and_keeps_true_matches() {
    let catalogue = tracks(0xCA7A, 60);
    let index = index(&catalogue);
    let distractors = tracks(0xD15C, 10);
    let config = CalibrationConfig {
        queries_per_bucket: 120,
        target_false_positive_rate: 0.01,
        ..CalibrationConfig::default()
    };
    let calibration = calibrate(&index, &distractors, &config).unwrap();
    assert_eq!(calibration.buckets.len(), BUCKETS.len());
    for bucket in &calibration.buckets {
        assert!(bucket.threshold >= score_threshold(bucket.items));
        assert!(bucket.threshold > bucket.max_impostor_score || bucket.false_positive_rate <= 0.01);
        assert!(bucket.false_positive_rate <= 0.01, "{bucket:?}");
        writeln!(
            std::io::stderr().lock(),
            "calibration: {} items: threshold {:.3}, best impostor {:.3}, {} queries, pass rate {:.4}",
            bucket.items,
            bucket.threshold,
            bucket.max_impostor_score,
            bucket.queries,
            bucket.false_positive_rate
        )
        .unwrap();
    }
    // The same seed gives the same calibration.
    assert_eq!(
        calibrate(&index, &distractors, &config).unwrap(),
        calibration
    );

    // True 10 s snippets with 5 % of bits flipped still pass the calibrated threshold.
    let mut rng = Rng::new(99);
    let mut passed = 0;
    for _ in 0..50 {
        let track = rng.below(catalogue.len());
        let start = rng.below(catalogue[track].len() - 81);
        let query = noisy(&mut rng, &catalogue[track][start..start + 81], 0.05);
        let found = search(&index, &query, &SnippetConfig::default()).unwrap();
        if let Some(best) = found.first()
            && best.track.0 as usize == track
            && best.score >= calibration.threshold(best.overlap_items as usize)
        {
            passed += 1;
        }
    }
    writeln!(
        std::io::stderr().lock(),
        "calibration: {passed}/50 true snippets pass"
    )
    .unwrap();
    assert!(passed >= 48, "{passed}/50");
}

#[test]
fn bad_targets_and_empty_catalogues_are_typed_errors() {
    let empty = index(&[]);
    let config = CalibrationConfig::default();
    assert!(matches!(
        calibrate(&empty, &[], &config),
        Err(CalibrationError::NothingToDraw)
    ));
    let short = index(&[vec![1, 2, 3]]);
    assert!(matches!(
        calibrate(&short, &[vec![4; 10]], &config),
        Err(CalibrationError::NothingToDraw)
    ));
    for target in [0.0, 1.0, -0.5, f64::NAN, f64::INFINITY] {
        let bad = CalibrationConfig {
            target_false_positive_rate: target,
            ..config
        };
        assert!(matches!(
            calibrate(&empty, &[], &bad),
            Err(CalibrationError::InvalidTarget(_))
        ));
    }
}
