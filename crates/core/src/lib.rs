//! # recozik_core
//!
//! The audio heart of Recozik: decoding (FFmpeg), fingerprinting (Chromaprint), reading tags and
//! stream facts, and — in later modules — identification against AcoustID, AudD and MusicBrainz.
//!
//! This crate owns everything that can be done with a file and the network alone. It must never
//! depend on a database, an HTTP server framework, or any other workspace crate: `storage`, `auth`
//! and `api` build on it, not the other way round. Blocking work (decoding) is plain synchronous
//! code; async callers run it on a blocking thread.

pub mod audio;
pub mod fingerprint;

pub use audio::{AudioError, AudioInfo, AudioTags, probe_file};
pub use fingerprint::{Fingerprint, FingerprintOptions, fingerprint_file};
