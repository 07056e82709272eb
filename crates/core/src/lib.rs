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

pub mod acoustid;
pub mod audd;
pub mod batch;
pub mod cache;
pub mod catalogue;
pub mod http;
pub mod identify;
mod json;
pub mod matches;
pub mod media;
pub mod metadata;
pub mod musicbrainz;
pub mod policy;

pub use acoustid::{AcoustIdClient, AcoustIdConfig, AcoustIdError};
pub use audd::{
    AudDClient, AudDConfig, AudDEndpoint, AudDError, AudDMode, AudDOptions, EnterpriseParams,
};
pub use cache::{CacheError, CachedLookup, LookupCache, LookupKey, MatchSource, MemoryLookupCache};
pub use http::{ConfigError, RetrySettings, Secret};
pub use identify::{
    IdentifyError, IdentifyHooks, IdentifyRequest, IdentifyResult, MusicBrainzOptions, NoProgress,
    ProgressLevel, ProgressSink, Service, Services, ServicesConfig, UpstreamError, identify,
};
pub use matches::{Match, Release, merge_matches};
pub use metadata::EmbeddedMetadata;
pub use musicbrainz::{MusicBrainzClient, MusicBrainzConfig, MusicBrainzError};
pub use policy::{
    AccessPolicy, AllowAll, Feature, PolicyError, QuotaPolicy, QuotaScope, Unlimited,
};
