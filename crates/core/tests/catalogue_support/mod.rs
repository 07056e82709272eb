//! Synthetic Chromaprint-like items for the catalogue tests: a seeded generator of
//! random-walk items with a few percent drawn from a pool shared by all tracks (like the
//! design's micro-benchmark), and bit-flip noise.
#![allow(dead_code, clippy::unwrap_used)]

use recozik_core::catalogue::index::SILENCE_ITEM;

pub const POOL: usize = 256;

/// xorshift64*: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform value in `from..=to`.
    pub fn between(&mut self, from: usize, to: usize) -> usize {
        from + self.below(to - from + 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64 <= p && p > 0.0
    }
}

/// Items shared by every track (common chords and drones).
pub fn pool() -> Vec<u32> {
    let mut rng = Rng::new(0x00C0_FFEE);
    (0..POOL).map(|_| rng.next_u32()).collect()
}

/// One track: a random walk flipping 2–5 bits per item, 3 % pool items, and rare silence.
pub fn track(rng: &mut Rng, pool: &[u32], len: usize) -> Vec<u32> {
    let mut x = rng.next_u32();
    (0..len)
        .map(|_| {
            for _ in 0..2 + rng.below(4) {
                x ^= 1 << rng.below(32);
            }
            if rng.chance(0.03) {
                pool[rng.below(pool.len())]
            } else if rng.chance(0.003) {
                SILENCE_ITEM
            } else {
                x
            }
        })
        .collect()
}

pub fn tracks(seed: u64, n: usize) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    let pool = pool();
    (0..n)
        .map(|_| {
            let len = 1800 + rng.below(200);
            track(&mut rng, &pool, len)
        })
        .collect()
}

/// Flips each bit with probability `p`.
pub fn noisy(rng: &mut Rng, items: &[u32], p: f64) -> Vec<u32> {
    items
        .iter()
        .map(|&item| {
            let mut flips = 0_u32;
            for bit in 0..32 {
                if rng.chance(p) {
                    flips |= 1 << bit;
                }
            }
            item ^ flips
        })
        .collect()
}
