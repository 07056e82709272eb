//! The in-memory index of one catalogue: every track's raw Chromaprint items in one arena, the
//! postings of their masked terms, deletions and recent inserts.
//!
//! # Layout
//!
//! * **Arena.** All tracks' items back to back (`u32` global item numbers, so at most 2³²−1
//!   items), with each track's start offset; a global item number is located to
//!   `(track, position)` by binary search.
//! * **Terms.** `term = item & term_mask`, the acoustid-priv 26-bit mask by default
//!   ([`DEFAULT_TERM_MASK`]). The kept bits are packed into a dense key (see `term`).
//! * **CSR postings.** Bucketed by the top bits of the dense key (up to 2²² buckets, fewer for
//!   small catalogues), each posting holding the residual key bits (`u16`) and the global item
//!   number (`u32`): 6 bytes per indexed item. Built with a two-pass counting sort.
//! * **Stop terms.** The silence item [`SILENCE_ITEM`] and all-zero items are never indexed.
//!   Terms with more than `max_postings` postings are dropped at build time and recorded.
//! * **Deletes.** A bitmap over track ids; postings of deleted tracks are skipped.
//! * **Inserts.** A small delta segment (a sorted `(key, g)` list searched by binary search)
//!   until [`CatalogueIndex::merge`] rebuilds the CSR segment from both.
//!
//! # Concurrency
//!
//! A [`CatalogueIndex`] is a cheap handle: the term tables, the CSR segment, the delta and the
//! deleted bitmap each sit behind an `Arc`. Cloning it is a snapshot (four reference counts
//! and a few words), the CSR segment
//! is never changed once built, and [`insert`](CatalogueIndex::insert) /
//! [`delete`](CatalogueIndex::delete) copy only the small delta or bitmap when a snapshot still
//! shares them. [`SharedIndex`] publishes snapshots to searchers: a writer clones the current
//! handle, changes or merges it *without* holding the readers' lock, and swaps the new handle
//! in. A background merge fits the same shape: merge a snapshot off-thread with
//! [`CatalogueIndex::merged`], then replay the changes made since (they are in the newer
//! handle's delta and bitmap) before swapping. An `ArcSwap` can replace the `RwLock` later
//! without changing the API.
//!
//! Track ids are dense (`0..track_count`) and stable: a deleted track keeps its id (its items
//! are dropped at the next merge), and merges never renumber. The caller maps them to its own
//! track keys.
//!
//! Not here yet: the background merge thread, the sparse option (every 2nd item indexed), a
//! build partitioned across cores, and a serialised form that carries the postings.

mod codec;
mod segment;
mod term;

use std::sync::{Arc, Mutex, PoisonError, RwLock};

pub use codec::{DecodeError, FORMAT_VERSION};
pub use segment::SILENCE_ITEM;
use segment::{Delta, Segment, is_indexable, locate_in};
use term::TermCodec;

/// The acoustid-priv term mask: all 16 odd bits plus the 10 lowest even bits (0, 2, …, 18).
pub const DEFAULT_TERM_MASK: u32 = 0xAAAA_AAAA | 0x0005_5555;
/// Default limit of postings per term before it becomes a stop term (fpindex uses 1000 docs).
pub const DEFAULT_MAX_POSTINGS: u32 = 2000;
/// Default limit of tracks per catalogue.
pub const DEFAULT_MAX_TRACKS: u32 = 1 << 22;
/// Default limit of items waiting in the delta segment (about 550 four-minute tracks).
pub const DEFAULT_MAX_DELTA_ITEMS: u32 = 1 << 20;

/// A track of one catalogue index: dense, assigned in insertion order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(pub u32);

impl TrackId {
    /// The id as an index into per-track tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The settings an index is built with; part of the serialised form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Bits of an item that form its term. Must not be zero.
    pub term_mask: u32,
    /// A term with more postings than this is dropped (a stop term). At least 1.
    pub max_postings: u32,
    /// Most tracks the index may hold, deleted ones included. 1 to `u32::MAX`.
    pub max_tracks: u32,
    /// Most items the delta segment may hold before an insert asks for a merge.
    pub max_delta_items: u32,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            term_mask: DEFAULT_TERM_MASK,
            max_postings: DEFAULT_MAX_POSTINGS,
            max_tracks: DEFAULT_MAX_TRACKS,
            max_delta_items: DEFAULT_MAX_DELTA_ITEMS,
        }
    }
}

impl IndexConfig {
    /// Checks the settings make sense.
    pub fn validate(&self) -> Result<(), IndexError> {
        if self.term_mask == 0 {
            return Err(IndexError::InvalidConfig(
                "term_mask must keep at least one bit",
            ));
        }
        if self.max_postings == 0 {
            return Err(IndexError::InvalidConfig("max_postings must be at least 1"));
        }
        if self.max_tracks == 0 {
            return Err(IndexError::InvalidConfig("max_tracks must be at least 1"));
        }
        Ok(())
    }
}

/// Why the index refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("invalid index settings: {0}")]
    InvalidConfig(&'static str),
    #[error("a track needs at least one item")]
    EmptyTrack,
    #[error("the catalogue index holds its limit of {max} tracks")]
    TooManyTracks { max: u32 },
    #[error("the index arena would exceed 2^32 - 1 items")]
    ArenaOverflow,
    #[error("the delta segment would exceed {max} items: merge first")]
    DeltaFull { max: u32 },
    #[error("no track {0} in this index")]
    UnknownTrack(TrackId),
}

/// Sizes of an index, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Track ids handed out, deleted ones included.
    pub tracks: u32,
    /// Tracks not deleted.
    pub live_tracks: u32,
    /// Items in the arena and the delta (items of deleted tracks until the next merge).
    pub items: u64,
    /// Postings of the CSR segment.
    pub postings: u64,
    /// Items and postings waiting in the delta segment.
    pub delta_items: u32,
    pub delta_postings: u64,
    /// Terms dropped for having more than `max_postings` postings.
    pub stop_terms: u32,
    /// log2 of the CSR bucket count.
    pub bucket_bits: u32,
    /// Heap bytes held by the arena, the postings and the delta.
    pub memory_bytes: u64,
}

/// Collects tracks, then builds the CSR segment in one go.
#[derive(Debug)]
pub struct IndexBuilder {
    config: IndexConfig,
    items: Vec<u32>,
    starts: Vec<u32>,
    deleted: Vec<u64>,
}

impl IndexBuilder {
    pub fn new(config: IndexConfig) -> Result<Self, IndexError> {
        config.validate()?;
        Ok(Self {
            config,
            items: Vec::new(),
            starts: Vec::new(),
            deleted: Vec::new(),
        })
    }

    /// Adds a track's raw items (phase 0) and returns its id.
    pub fn add_track(&mut self, items: &[u32]) -> Result<TrackId, IndexError> {
        if items.is_empty() {
            return Err(IndexError::EmptyTrack);
        }
        self.push(items, false)
    }

    /// Adds a track that is already deleted (no items): keeps ids stable when loading.
    fn push(&mut self, items: &[u32], deleted: bool) -> Result<TrackId, IndexError> {
        let id = self.starts.len() as u64;
        if id >= u64::from(self.config.max_tracks) {
            return Err(IndexError::TooManyTracks {
                max: self.config.max_tracks,
            });
        }
        let end = self.items.len() as u64 + items.len() as u64;
        if end > u64::from(u32::MAX) {
            return Err(IndexError::ArenaOverflow);
        }
        self.starts.push(self.items.len() as u32);
        self.items.extend_from_slice(items);
        if deleted {
            set_bit(&mut self.deleted, id as usize);
        }
        Ok(TrackId(id as u32))
    }

    pub fn track_count(&self) -> u32 {
        self.starts.len() as u32
    }

    pub fn build(self) -> CatalogueIndex {
        let Self {
            config,
            items,
            mut starts,
            deleted,
        } = self;
        let codec = TermCodec::new(config.term_mask);
        let track_count = starts.len() as u32;
        starts.push(items.len() as u32);
        let segment = Segment::build(items, starts, &codec, config.max_postings);
        let live = track_count - count_bits(&deleted, track_count as usize);
        let delta = Delta::new(segment.items.len() as u32, track_count);
        CatalogueIndex {
            config,
            codec: Arc::new(codec),
            base: Arc::new(segment),
            delta: Arc::new(delta),
            deleted: Arc::new(deleted),
            live,
        }
    }
}

/// One catalogue's index: a cheap-to-clone snapshot handle (see the module docs).
#[derive(Clone)]
pub struct CatalogueIndex {
    config: IndexConfig,
    codec: Arc<TermCodec>,
    base: Arc<Segment>,
    delta: Arc<Delta>,
    /// One bit per track id, set when deleted.
    deleted: Arc<Vec<u64>>,
    live: u32,
}

impl std::fmt::Debug for CatalogueIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueIndex")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A track and an item position within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub track: TrackId,
    pub position: u32,
}

impl CatalogueIndex {
    /// An index without tracks.
    pub fn empty(config: IndexConfig) -> Result<Self, IndexError> {
        Ok(IndexBuilder::new(config)?.build())
    }

    /// Builds an index of these tracks (ids `0..tracks.len()` in order).
    pub fn from_tracks<'a>(
        config: IndexConfig,
        tracks: impl IntoIterator<Item = &'a [u32]>,
    ) -> Result<Self, IndexError> {
        let mut builder = IndexBuilder::new(config)?;
        for track in tracks {
            builder.add_track(track)?;
        }
        Ok(builder.build())
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Track ids handed out so far, deleted ones included.
    pub fn track_count(&self) -> u32 {
        self.delta.first_track + self.delta.starts.len() as u32
    }

    pub fn live_track_count(&self) -> u32 {
        self.live
    }

    /// Items waiting in the delta segment; merge when this grows (the design says at about
    /// 100 k items or 60 s).
    pub fn delta_items(&self) -> u32 {
        self.delta.items.len() as u32
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            tracks: self.track_count(),
            live_tracks: self.live,
            items: self.base.items.len() as u64 + self.delta.items.len() as u64,
            postings: self.base.posting_count() as u64,
            delta_items: self.delta_items(),
            delta_postings: self.delta.postings.len() as u64,
            stop_terms: self.base.stop.len() as u32,
            bucket_bits: self.base.bucket_bits(),
            memory_bytes: (self.base.memory_bytes()
                + self.delta.memory_bytes()
                + 8 * self.deleted.capacity()) as u64,
        }
    }

    /// The term of an item under this index's mask.
    pub fn term(&self, item: u32) -> u32 {
        item & self.codec.mask()
    }

    /// Whether an item's term was dropped as a stop term (silence and zero items included).
    pub fn is_stop_item(&self, item: u32) -> bool {
        !is_indexable(item) || self.base.is_stop(self.codec.key(item))
    }

    pub fn contains(&self, track: TrackId) -> bool {
        track.0 < self.track_count()
    }

    pub fn is_deleted(&self, track: TrackId) -> bool {
        get_bit(&self.deleted, track.index())
    }

    /// The items of a live track; `None` for unknown or deleted tracks.
    pub fn track_items(&self, track: TrackId) -> Option<&[u32]> {
        if !self.contains(track) || self.is_deleted(track) {
            return None;
        }
        self.items_of(track)
    }

    fn items_of(&self, track: TrackId) -> Option<&[u32]> {
        let i = track.index();
        if i < self.base.track_count() {
            let from = *self.base.starts.get(i)? as usize;
            let to = *self.base.starts.get(i + 1)? as usize;
            self.base.items.get(from..to)
        } else {
            self.delta.track_items(i - self.base.track_count())
        }
    }

    /// The track and position of a global item number (`None` past the last item).
    pub fn locate(&self, g: u32) -> Option<Located> {
        let (track, start) = if g < self.delta.first_g {
            let t = locate_in(&self.base.starts, g)?;
            (t as u32, *self.base.starts.get(t)?)
        } else if g - self.delta.first_g < self.delta.items.len() as u32 {
            let t = locate_in(&self.delta.starts, g)?;
            (
                self.delta.first_track + t as u32,
                *self.delta.starts.get(t)?,
            )
        } else {
            return None;
        };
        Some(Located {
            track: TrackId(track),
            position: g - start,
        })
    }

    /// Calls `f(track, position)` for every posting of the item's term in live tracks, and, for
    /// each bit of `probe_bits` the mask keeps, for the term with that bit flipped (multi-probe
    /// lookups for noisy queries). Silence, zero items and stop terms find nothing.
    pub fn for_each_hit(&self, item: u32, probe_bits: u32, mut f: impl FnMut(TrackId, u32)) {
        if !is_indexable(item) {
            return;
        }
        let mut visit = |probe: u32| {
            let key = self.codec.key(probe);
            let mut hit = |g: u32| {
                if let Some(at) = self.locate(g)
                    && !self.is_deleted(at.track)
                {
                    f(at.track, at.position);
                }
            };
            self.base.for_each_posting(key, &mut hit);
            let run = self.delta.postings_of(key);
            // Delta terms are not stop-filtered until the merge; apply the limit here.
            if run.len() <= self.config.max_postings as usize {
                for &(_, g) in run {
                    hit(g);
                }
            }
        };
        visit(item);
        let mut bits = probe_bits & self.codec.mask();
        while bits != 0 {
            let bit = bits & bits.wrapping_neg();
            bits &= !bit;
            visit(item ^ bit);
        }
    }

    /// Adds a track to the delta segment and returns its id.
    pub fn insert(&mut self, items: &[u32]) -> Result<TrackId, IndexError> {
        if items.is_empty() {
            return Err(IndexError::EmptyTrack);
        }
        let id = self.track_count();
        if id >= self.config.max_tracks {
            return Err(IndexError::TooManyTracks {
                max: self.config.max_tracks,
            });
        }
        let delta_after = self.delta.items.len() as u64 + items.len() as u64;
        if delta_after > u64::from(self.config.max_delta_items) {
            return Err(IndexError::DeltaFull {
                max: self.config.max_delta_items,
            });
        }
        if u64::from(self.delta.first_g) + delta_after > u64::from(u32::MAX) {
            return Err(IndexError::ArenaOverflow);
        }
        Arc::make_mut(&mut self.delta).push_track(items, &self.codec, &self.base);
        self.live += 1;
        Ok(TrackId(id))
    }

    /// Marks a track deleted; returns whether it was live.
    pub fn delete(&mut self, track: TrackId) -> Result<bool, IndexError> {
        if !self.contains(track) {
            return Err(IndexError::UnknownTrack(track));
        }
        if self.is_deleted(track) {
            return Ok(false);
        }
        set_bit(Arc::make_mut(&mut self.deleted), track.index());
        self.live -= 1;
        Ok(true)
    }

    /// A new index with the delta folded into a rebuilt CSR segment and deleted tracks' items
    /// dropped. Ids are kept. Leaves `self` untouched, so it can run on a snapshot off-thread.
    #[must_use]
    pub fn merged(&self) -> Self {
        let mut builder = IndexBuilder {
            config: self.config,
            items: Vec::with_capacity(self.base.items.len() + self.delta.items.len()),
            starts: Vec::with_capacity(self.track_count() as usize),
            deleted: Vec::new(),
        };
        for t in 0..self.track_count() {
            let track = TrackId(t);
            let deleted = self.is_deleted(track);
            let items = if deleted {
                &[][..]
            } else {
                self.items_of(track).unwrap_or(&[])
            };
            // The total only shrinks and the track count is unchanged: this cannot fail.
            if builder.push(items, deleted).is_err() {
                break;
            }
        }
        builder.build()
    }

    /// Folds the delta into the CSR segment (see [`merged`](Self::merged)).
    pub fn merge(&mut self) {
        *self = self.merged();
    }
}

/// The current index of a catalogue, shared by searchers and one writer at a time.
#[derive(Debug)]
pub struct SharedIndex {
    current: RwLock<Arc<CatalogueIndex>>,
    writer: Mutex<()>,
}

impl SharedIndex {
    pub fn new(index: CatalogueIndex) -> Self {
        Self {
            current: RwLock::new(Arc::new(index)),
            writer: Mutex::new(()),
        }
    }

    /// The current snapshot; it stays valid (and unchanged) however long it is held.
    pub fn snapshot(&self) -> Arc<CatalogueIndex> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the index (e.g. after loading or a background rebuild); returns the old one.
    pub fn replace(&self, index: CatalogueIndex) -> Arc<CatalogueIndex> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, Arc::new(index))
    }

    /// Applies a change to a copy of the current index and publishes it if `f` succeeds.
    /// Searchers keep using the old snapshot meanwhile; writers queue.
    pub fn update<T, E>(
        &self,
        f: impl FnOnce(&mut CatalogueIndex) -> Result<T, E>,
    ) -> Result<T, E> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = (*self.snapshot()).clone();
        let out = f(&mut next)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(out)
    }
}

fn set_bit(bits: &mut Vec<u64>, i: usize) {
    let word = i / 64;
    if bits.len() <= word {
        bits.resize(word + 1, 0);
    }
    if let Some(w) = bits.get_mut(word) {
        *w |= 1 << (i % 64);
    }
}

fn get_bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Set bits among the first `n`.
fn count_bits(bits: &[u64], n: usize) -> u32 {
    (0..n).filter(|&i| get_bit(bits, i)).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tracks: &[&[u32]]) -> CatalogueIndex {
        CatalogueIndex::from_tracks(IndexConfig::default(), tracks.iter().copied()).unwrap()
    }

    fn hits(index: &CatalogueIndex, item: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        index.for_each_hit(item, 0, |t, p| out.push((t.0, p)));
        out.sort_unstable();
        out
    }

    #[test]
    fn default_mask_is_the_priv26_mask() {
        assert_eq!(DEFAULT_TERM_MASK, 0xAAAF_FFFF);
        assert_eq!(DEFAULT_TERM_MASK.count_ones(), 26);
    }

    #[test]
    fn hits_name_tracks_and_positions() {
        let idx = index(&[&[10, 20, 30], &[30, 40], &[50, 10]]);
        assert_eq!(hits(&idx, 10), vec![(0, 0), (2, 1)]);
        assert_eq!(hits(&idx, 30), vec![(0, 2), (1, 0)]);
        assert_eq!(hits(&idx, 99), vec![]);
        assert_eq!(
            idx.locate(3),
            Some(Located {
                track: TrackId(1),
                position: 0
            })
        );
        assert_eq!(idx.locate(7), None);
        assert_eq!(idx.track_items(TrackId(2)), Some(&[50, 10][..]));
        assert_eq!(idx.track_items(TrackId(3)), None);
    }

    #[test]
    fn limits_give_typed_errors() {
        let config = IndexConfig {
            max_tracks: 2,
            max_delta_items: 3,
            ..IndexConfig::default()
        };
        let mut b = IndexBuilder::new(config).unwrap();
        assert_eq!(b.add_track(&[]), Err(IndexError::EmptyTrack));
        b.add_track(&[1]).unwrap();
        let mut idx = b.build();
        assert_eq!(
            idx.insert(&[1, 2, 3, 4]),
            Err(IndexError::DeltaFull { max: 3 })
        );
        assert_eq!(idx.insert(&[]), Err(IndexError::EmptyTrack));
        idx.insert(&[1, 2]).unwrap();
        assert_eq!(idx.insert(&[5]), Err(IndexError::TooManyTracks { max: 2 }));
        assert_eq!(
            idx.delete(TrackId(7)),
            Err(IndexError::UnknownTrack(TrackId(7)))
        );
        let bad = IndexConfig {
            term_mask: 0,
            ..IndexConfig::default()
        };
        assert!(matches!(
            IndexBuilder::new(bad),
            Err(IndexError::InvalidConfig(_))
        ));
    }

    #[test]
    fn deleted_tracks_are_skipped_and_keep_their_ids() {
        let mut idx = index(&[&[10, 20], &[10, 30], &[10, 40]]);
        assert!(idx.delete(TrackId(1)).unwrap());
        assert!(!idx.delete(TrackId(1)).unwrap());
        assert_eq!(hits(&idx, 10), vec![(0, 0), (2, 0)]);
        assert_eq!(idx.live_track_count(), 2);
        idx.merge();
        assert_eq!(hits(&idx, 10), vec![(0, 0), (2, 0)]);
        assert!(idx.is_deleted(TrackId(1)));
        assert_eq!(idx.track_items(TrackId(2)), Some(&[10, 40][..]));
        assert_eq!(idx.stats().items, 4);
    }

    #[test]
    fn inserts_are_found_before_and_after_merge() {
        let mut idx = index(&[&[10, 20]]);
        let snapshot = idx.clone();
        let id = idx.insert(&[30, 10]).unwrap();
        assert_eq!(id, TrackId(1));
        assert_eq!(hits(&idx, 10), vec![(0, 0), (1, 1)]);
        // The snapshot taken before the insert does not see it.
        assert_eq!(hits(&snapshot, 10), vec![(0, 0)]);
        assert_eq!(idx.delta_items(), 2);
        idx.delete(TrackId(0)).unwrap();
        idx.merge();
        assert_eq!(idx.delta_items(), 0);
        assert_eq!(hits(&idx, 10), vec![(1, 1)]);
        assert_eq!(idx.insert(&[10]).unwrap(), TrackId(2));
        assert_eq!(hits(&idx, 10), vec![(1, 1), (2, 0)]);
    }

    #[test]
    fn silence_and_zero_items_find_nothing() {
        let idx = index(&[&[SILENCE_ITEM, 0, 5]]);
        assert!(hits(&idx, SILENCE_ITEM).is_empty());
        assert!(hits(&idx, 0).is_empty());
        assert!(idx.is_stop_item(0));
        assert_eq!(idx.stats().postings, 1);
    }

    #[test]
    fn probes_flip_masked_bits_only() {
        let idx = index(&[&[0b100, 0b110]]);
        let mut out = Vec::new();
        idx.for_each_hit(0b110, 0b100, |t, p| out.push((t.0, p)));
        out.sort_unstable();
        // 0b110 itself, and 0b010 (absent); bit 2 flipped from 0b110 gives 0b010, not 0b100.
        assert_eq!(out, vec![(0, 1)]);
        out.clear();
        idx.for_each_hit(0b110, 0b010, |t, p| out.push((t.0, p)));
        out.sort_unstable();
        assert_eq!(out, vec![(0, 0), (0, 1)]);
    }

    #[test]
    fn searchers_see_whole_snapshots_while_a_writer_inserts() {
        let shared = Arc::new(SharedIndex::new(index(&[&[10]])));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let mut seen = 0;
                    for _ in 0..200 {
                        let snap = shared.snapshot();
                        // Every track of a snapshot is complete and findable.
                        let n = snap.track_count();
                        assert_eq!(hits(&snap, 10).len() as u32, n);
                        seen = seen.max(n);
                    }
                    seen
                })
            })
            .collect();
        for _ in 0..50 {
            shared.update(|idx| idx.insert(&[10, 11, 12])).unwrap();
        }
        shared
            .update(|idx| {
                idx.merge();
                Ok::<_, IndexError>(())
            })
            .unwrap();
        for r in readers {
            assert!(r.join().unwrap() <= 51);
        }
        assert_eq!(hits(&shared.snapshot(), 10).len(), 51);
    }

    #[test]
    fn an_index_with_every_track_deleted_finds_nothing() {
        let mut idx = index(&[&[10, 20], &[10]]);
        idx.delete(TrackId(0)).unwrap();
        idx.delete(TrackId(1)).unwrap();
        assert!(hits(&idx, 10).is_empty());
        idx.merge();
        assert_eq!(idx.stats().items, 0);
        assert_eq!(idx.track_count(), 2);
        let back = CatalogueIndex::from_bytes(&idx.to_bytes()).unwrap();
        assert_eq!(back.live_track_count(), 0);
        assert_eq!(back.track_items(TrackId(1)), None);
    }

    #[test]
    fn shared_index_publishes_updates() {
        let shared = SharedIndex::new(index(&[&[10]]));
        let before = shared.snapshot();
        let id = shared.update(|idx| idx.insert(&[10, 11])).unwrap();
        assert_eq!(id, TrackId(1));
        assert_eq!(before.track_count(), 1);
        assert_eq!(shared.snapshot().track_count(), 2);
        let failed: Result<bool, IndexError> = shared.update(|idx| idx.delete(TrackId(9)));
        assert!(failed.is_err());
        shared
            .update(|idx| {
                idx.merge();
                Ok::<_, IndexError>(())
            })
            .unwrap();
        assert_eq!(shared.snapshot().delta_items(), 0);
    }
}
