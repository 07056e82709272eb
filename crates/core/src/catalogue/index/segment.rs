//! The two segments of an index: the immutable CSR segment built in one go from an arena, and
//! the small delta segment that takes inserts until the next merge.

use std::collections::HashMap;

use super::term::TermCodec;

/// The silence item Chromaprint emits for digital silence (AcoustID's `SILENCE_HASH`).
pub const SILENCE_ITEM: u32 = 627_964_279;

/// The widest bucket table: 2²² buckets (16 MB of offsets), the design's figure.
const MAX_BUCKET_BITS: u32 = 22;
/// Residual key bits are stored in a `u16`.
const MAX_RESIDUAL_BITS: u32 = 16;

/// Whether an item carries information worth a posting: silence and all-zero items match
/// every quiet passage of every track, so they are never indexed nor looked up.
#[inline]
pub(crate) fn is_indexable(item: u32) -> bool {
    item != 0 && item != SILENCE_ITEM
}

/// The track whose range holds global item `g`, given the tracks' start offsets (sorted,
/// non-decreasing, no sentinel needed). Empty tracks share their start with the next track;
/// taking the *last* start ≤ `g` skips them.
#[inline]
pub(crate) fn locate_in(starts: &[u32], g: u32) -> Option<usize> {
    starts.partition_point(|&s| s <= g).checked_sub(1)
}

/// The CSR segment: the arena of every track's items back to back and the postings of their
/// terms, bucketed by the top bits of the dense key. Never changed after [`Segment::build`].
#[derive(Clone)]
pub(crate) struct Segment {
    /// All tracks' items back to back; a posting's `g` indexes it.
    pub(crate) items: Vec<u32>,
    /// Start of each track in `items`, plus a sentinel equal to `items.len()`.
    pub(crate) starts: Vec<u32>,
    /// `key >> bucket_shift` is the bucket; the low `bucket_shift` bits are the residual.
    bucket_shift: u32,
    /// `offsets[b]..offsets[b + 1]` are bucket `b`'s postings.
    offsets: Vec<u32>,
    /// Per posting: the residual bits of its key.
    residuals: Vec<u16>,
    /// Per posting: the global item number.
    postings: Vec<u32>,
    /// Dense keys dropped for having more than `max_postings` postings, sorted.
    pub(crate) stop: Vec<u32>,
}

impl Segment {
    /// Builds the postings of an arena with a two-pass counting sort. `starts` carries the
    /// sentinel. Postings within a bucket come out in increasing `g`, so no sort is needed.
    pub(crate) fn build(
        items: Vec<u32>,
        starts: Vec<u32>,
        codec: &TermCodec,
        max_postings: u32,
    ) -> Self {
        let key_bits = codec.bits();
        let lo = key_bits.saturating_sub(MAX_RESIDUAL_BITS);
        let hi = key_bits.min(MAX_BUCKET_BITS);
        // About one bucket per item: small catalogues get a small table.
        let wanted = u32::BITS - (items.len().max(1) as u32).leading_zeros();
        let bucket_bits = wanted.clamp(lo, hi);
        let bucket_shift = key_bits - bucket_bits;
        let buckets = 1_usize << bucket_bits;

        // Pass 1: count per bucket.
        let mut offsets = vec![0_u32; buckets + 1];
        for &item in &items {
            if is_indexable(item) {
                let b = (codec.key(item) >> bucket_shift) as usize;
                if let Some(c) = offsets.get_mut(b) {
                    *c += 1;
                }
            }
        }

        // Stop terms can only hide in buckets over the limit; count exact keys there only.
        let heavy: Vec<bool> = offsets.iter().map(|&c| c > max_postings).collect();
        let mut stop = Vec::new();
        if heavy.iter().any(|&h| h) {
            let mut per_key: HashMap<u32, u32> = HashMap::new();
            for &item in &items {
                if is_indexable(item) {
                    let key = codec.key(item);
                    if heavy.get((key >> bucket_shift) as usize) == Some(&true) {
                        *per_key.entry(key).or_insert(0) += 1;
                    }
                }
            }
            for (&key, &count) in &per_key {
                if count > max_postings {
                    stop.push(key);
                    if let Some(c) = offsets.get_mut((key >> bucket_shift) as usize) {
                        *c -= count;
                    }
                }
            }
            stop.sort_unstable();
        }
        drop(heavy);

        // Inclusive prefix sums; placing in reverse order then decrements each bucket's end
        // down to its start, so `offsets[b]` ends as the start of bucket `b`.
        let mut total = 0_u32;
        for c in offsets.iter_mut().take(buckets) {
            total += *c;
            *c = total;
        }
        if let Some(last) = offsets.last_mut() {
            *last = total;
        }

        // Pass 2: place.
        let mut residuals = vec![0_u16; total as usize];
        let mut postings = vec![0_u32; total as usize];
        let residual_mask = (1_u32 << bucket_shift) - 1;
        for (g, &item) in items.iter().enumerate().rev() {
            if !is_indexable(item) {
                continue;
            }
            let key = codec.key(item);
            if !stop.is_empty() && stop.binary_search(&key).is_ok() {
                continue;
            }
            if let Some(end) = offsets.get_mut((key >> bucket_shift) as usize) {
                *end -= 1;
                let at = *end as usize;
                if let (Some(r), Some(p)) = (residuals.get_mut(at), postings.get_mut(at)) {
                    *r = (key & residual_mask) as u16;
                    *p = g as u32;
                }
            }
        }

        Self {
            items,
            starts,
            bucket_shift,
            offsets,
            residuals,
            postings,
            stop,
        }
    }

    /// Calls `f` with the global item number of every posting of `key`.
    #[inline]
    pub(crate) fn for_each_posting(&self, key: u32, mut f: impl FnMut(u32)) {
        let b = (key >> self.bucket_shift) as usize;
        let (Some(&from), Some(&to)) = (self.offsets.get(b), self.offsets.get(b + 1)) else {
            return;
        };
        let residual = (key & ((1_u32 << self.bucket_shift) - 1)) as u16;
        let (Some(rs), Some(gs)) = (
            self.residuals.get(from as usize..to as usize),
            self.postings.get(from as usize..to as usize),
        ) else {
            return;
        };
        for (&r, &g) in rs.iter().zip(gs) {
            if r == residual {
                f(g);
            }
        }
    }

    pub(crate) fn is_stop(&self, key: u32) -> bool {
        self.stop.binary_search(&key).is_ok()
    }

    pub(crate) fn track_count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub(crate) fn posting_count(&self) -> usize {
        self.postings.len()
    }

    pub(crate) fn bucket_bits(&self) -> u32 {
        (self.offsets.len().saturating_sub(1)).trailing_zeros()
    }

    /// Heap bytes held (arena, track table, CSR, stop set).
    pub(crate) fn memory_bytes(&self) -> usize {
        4 * (self.items.capacity()
            + self.starts.capacity()
            + self.offsets.capacity()
            + self.postings.capacity()
            + self.stop.capacity())
            + 2 * self.residuals.capacity()
    }
}

/// The delta segment: tracks inserted since the last merge. Its items continue the global
/// numbering after the CSR arena, and its postings are a sorted `(key, g)` list searched by
/// binary search.
#[derive(Clone, Default)]
pub(crate) struct Delta {
    /// Global number of the first delta item (the CSR arena's length).
    pub(crate) first_g: u32,
    /// Id of the first delta track (the CSR segment's track count).
    pub(crate) first_track: u32,
    pub(crate) items: Vec<u32>,
    /// Global start of each delta track (no sentinel).
    pub(crate) starts: Vec<u32>,
    pub(crate) postings: Vec<(u32, u32)>,
}

impl Delta {
    pub(crate) fn new(first_g: u32, first_track: u32) -> Self {
        Self {
            first_g,
            first_track,
            ..Self::default()
        }
    }

    /// Appends a track (limits already checked by the caller). Terms in the CSR stop set are
    /// not posted: they would be dropped by the next merge anyway.
    pub(crate) fn push_track(&mut self, track: &[u32], codec: &TermCodec, base: &Segment) {
        let start = self.first_g + self.items.len() as u32;
        self.starts.push(start);
        self.items.extend_from_slice(track);
        let mut fresh: Vec<(u32, u32)> = track
            .iter()
            .enumerate()
            .filter(|&(_, &item)| is_indexable(item))
            .map(|(i, &item)| (codec.key(item), start + i as u32))
            .filter(|&(key, _)| !base.is_stop(key))
            .collect();
        fresh.sort_unstable();
        // Merge two sorted runs rather than re-sorting the whole delta.
        let old = std::mem::take(&mut self.postings);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x <= y {
                        a.next()
                    } else {
                        b.next()
                    }
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(p) = next {
                merged.push(p);
            }
        }
        self.postings = merged;
    }

    /// The postings of `key`: a contiguous run of the sorted list.
    pub(crate) fn postings_of(&self, key: u32) -> &[(u32, u32)] {
        let from = self.postings.partition_point(|&(k, _)| k < key);
        let to = self.postings.partition_point(|&(k, _)| k <= key);
        self.postings.get(from..to).unwrap_or(&[])
    }

    /// Items of delta track `i` (counted from the first delta track).
    pub(crate) fn track_items(&self, i: usize) -> Option<&[u32]> {
        let from = (*self.starts.get(i)? - self.first_g) as usize;
        let to = match self.starts.get(i + 1) {
            Some(&s) => (s - self.first_g) as usize,
            None => self.items.len(),
        };
        self.items.get(from..to)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        4 * (self.items.capacity() + self.starts.capacity()) + 8 * self.postings.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(tracks: &[&[u32]], mask: u32, max_postings: u32) -> (Segment, TermCodec) {
        let codec = TermCodec::new(mask);
        let mut items = Vec::new();
        let mut starts = Vec::new();
        for t in tracks {
            starts.push(items.len() as u32);
            items.extend_from_slice(t);
        }
        starts.push(items.len() as u32);
        (Segment::build(items, starts, &codec, max_postings), codec)
    }

    fn postings(seg: &Segment, codec: &TermCodec, item: u32) -> Vec<u32> {
        let mut out = Vec::new();
        seg.for_each_posting(codec.key(item), |g| out.push(g));
        out
    }

    #[test]
    fn postings_list_every_indexable_item_in_order() {
        let (seg, codec) = build(&[&[5, 6, 7, 5], &[7, 0, SILENCE_ITEM, 5]], u32::MAX, 100);
        assert_eq!(postings(&seg, &codec, 5), vec![0, 3, 7]);
        assert_eq!(postings(&seg, &codec, 7), vec![2, 4]);
        assert_eq!(postings(&seg, &codec, 6), vec![1]);
        assert!(postings(&seg, &codec, 0).is_empty());
        assert!(postings(&seg, &codec, SILENCE_ITEM).is_empty());
        assert!(postings(&seg, &codec, 8).is_empty());
        assert_eq!(seg.posting_count(), 6);
    }

    #[test]
    fn masked_bits_do_not_matter() {
        // Bits 31 and 30 are outside this mask: 1 and 1 | 0xC000_0000 share a term.
        let (seg, codec) = build(&[&[1, 0xC000_0001, 2]], 0x3FFF_FFFF, 100);
        assert_eq!(postings(&seg, &codec, 1), vec![0, 1]);
        assert_eq!(postings(&seg, &codec, 0x4000_0001), vec![0, 1]);
    }

    #[test]
    fn terms_over_the_limit_become_stop_terms() {
        let track: Vec<u32> = (0..50)
            .map(|i| if i % 2 == 0 { 9 } else { 100 + i })
            .collect();
        let (seg, codec) = build(&[&track], u32::MAX, 10);
        assert!(postings(&seg, &codec, 9).is_empty());
        assert_eq!(seg.stop, vec![codec.key(9)]);
        assert_eq!(postings(&seg, &codec, 101), vec![1]);
        assert_eq!(seg.posting_count(), 25);
    }

    #[test]
    fn locate_skips_empty_tracks() {
        // Track 1 is empty: it starts where track 2 starts.
        let starts = [0, 3, 3, 5];
        assert_eq!(locate_in(&starts, 0), Some(0));
        assert_eq!(locate_in(&starts, 2), Some(0));
        assert_eq!(locate_in(&starts, 3), Some(2));
        assert_eq!(locate_in(&starts[..0], 3), None);
    }

    #[test]
    fn wide_masks_keep_the_residual_in_16_bits() {
        let (seg, codec) = build(&[&[u32::MAX, 1, u32::MAX - 1]], u32::MAX, 10);
        assert!(seg.bucket_bits() >= 16);
        assert_eq!(postings(&seg, &codec, u32::MAX), vec![0]);
        assert_eq!(postings(&seg, &codec, u32::MAX - 1), vec![2]);
    }

    #[test]
    fn delta_postings_stay_sorted() {
        let (seg, codec) = build(&[&[1, 2, 3]], u32::MAX, 10);
        let mut delta = Delta::new(3, 1);
        delta.push_track(&[3, 2, 1], &codec, &seg);
        delta.push_track(&[2, 0], &codec, &seg);
        assert!(delta.postings.windows(2).all(|w| w[0] <= w[1]));
        let gs: Vec<u32> = delta
            .postings_of(codec.key(2))
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(gs, vec![4, 6]);
        assert_eq!(delta.track_items(1), Some(&[2, 0][..]));
        assert_eq!(delta.track_items(2), None);
    }
}
