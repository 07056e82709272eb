//! The private catalogue's matching engine: raw Chromaprint items of whole tracks and of
//! queries (at several sub-hop phases), an in-memory index over masked item terms, and the
//! query modes built on it. No database and no HTTP: the API crate stores catalogues and
//! serves searches (see the catalogue design in the project's issues).

/// Chromaprint's sample rate (the rate items are computed at).
pub const SAMPLE_RATE: u32 = crate::fingerprint::CHROMAPRINT_SAMPLE_RATE;
/// Samples between consecutive items.
pub const ITEM_HOP_SAMPLES: u32 = 1_365;
/// Seconds between consecutive items (≈ 0.12381 s).
pub const ITEM_SECONDS: f64 = ITEM_HOP_SAMPLES as f64 / SAMPLE_RATE as f64;

mod align;
pub mod calibrate;
pub mod full;
pub mod index;
pub mod raw;
pub mod scan;
pub mod snippet;
