//! Index terms: an item masked by the catalogue's term mask, packed into a dense key.
//!
//! The mask keeps scattered bits (the default keeps every odd bit plus the ten lowest even
//! bits), so `item & mask` wastes most of its value range. The postings are bucketed by the
//! top bits of the *dense* key instead — the kept bits moved next to each other — which makes
//! every bucket reachable and keeps the bucket table small.

/// Turns items into dense keys for one term mask, a byte at a time (a software bit extract).
#[derive(Clone)]
pub(crate) struct TermCodec {
    mask: u32,
    bits: u32,
    /// `tables[k][b]`: the kept bits of byte `k` of an item whose byte `k` is `b`, already
    /// shifted to their place in the key.
    tables: Box<[[u32; 256]; 4]>,
}

impl std::fmt::Debug for TermCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermCodec")
            .field("mask", &format_args!("{:#010x}", self.mask))
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl TermCodec {
    pub(crate) fn new(mask: u32) -> Self {
        let mut tables = Box::new([[0_u32; 256]; 4]);
        let mut shift = 0_u32;
        for (k, table) in tables.iter_mut().enumerate() {
            let byte_mask = (mask >> (8 * k)) & 0xFF;
            for (b, slot) in table.iter_mut().enumerate() {
                let mut out = 0_u32;
                let mut n = 0_u32;
                for bit in 0..8 {
                    if byte_mask & (1 << bit) != 0 {
                        if b & (1 << bit) != 0 {
                            out |= 1 << n;
                        }
                        n += 1;
                    }
                }
                *slot = out << shift;
            }
            shift += byte_mask.count_ones();
        }
        Self {
            mask,
            bits: mask.count_ones(),
            tables,
        }
    }

    /// The mask this codec applies.
    pub(crate) fn mask(&self) -> u32 {
        self.mask
    }

    /// How many bits a dense key has (the mask's population count).
    pub(crate) fn bits(&self) -> u32 {
        self.bits
    }

    /// The dense key of an item: the bits the mask keeps, packed from bit 0 upwards.
    #[inline]
    pub(crate) fn key(&self, item: u32) -> u32 {
        let [b0, b1, b2, b3] = item.to_le_bytes();
        self.tables[0][usize::from(b0)]
            | self.tables[1][usize::from(b1)]
            | self.tables[2][usize::from(b2)]
            | self.tables[3][usize::from(b3)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious bit-by-bit extract, to check the table version against.
    fn slow_key(mask: u32, item: u32) -> u32 {
        let mut out = 0;
        let mut n = 0;
        for bit in 0..32 {
            if mask & (1 << bit) != 0 {
                if item & (1 << bit) != 0 {
                    out |= 1 << n;
                }
                n += 1;
            }
        }
        out
    }

    #[test]
    fn dense_keys_match_a_bit_by_bit_extract() {
        let mut x = 0x1234_5678_u32;
        for mask in [
            0xAAAF_FFFF_u32,
            u32::MAX,
            1,
            0x8000_0000,
            0xAAAA_AAAA,
            0x0F0F_00F1,
        ] {
            let codec = TermCodec::new(mask);
            assert_eq!(codec.bits(), mask.count_ones());
            for item in [0, u32::MAX, 627_964_279] {
                assert_eq!(codec.key(item), slow_key(mask, item));
            }
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                assert_eq!(
                    codec.key(x),
                    slow_key(mask, x),
                    "mask {mask:#x} item {x:#x}"
                );
            }
        }
    }

    #[test]
    fn equal_terms_give_equal_keys() {
        let codec = TermCodec::new(0xAAAF_FFFF);
        // Bits outside the mask do not change the key.
        assert_eq!(codec.key(0x0000_0000), codec.key(0x5550_0000));
        assert_ne!(codec.key(0), codec.key(0x8000_0000));
        assert!(codec.key(u32::MAX) < (1 << 26));
    }
}
