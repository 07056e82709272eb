//! The names every layer of Recozik shares: the [`Feature`]s a principal may be allowed to use
//! and the [`QuotaScope`]s that meter remote calls.
//!
//! `recozik_core` asks for features and spends quota units by these names, `recozik_auth`
//! grants and counts them, and clients send them as snake_case strings. Defining them once means
//! a scope cannot exist on one side only (a call the pipeline makes but nobody meters).
//!
//! This crate depends on nothing of Recozik and on no system library; it must stay that way so
//! that every crate, `xtask` included, can use it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A capability a principal may be allowed to use. Wire names are snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `identify`
    Identify,
    /// `identify_batch`
    IdentifyBatch,
    /// `rename`
    Rename,
    /// `audd`
    Audd,
    /// `musicbrainz_enrich`
    MusicbrainzEnrich,
}

impl Feature {
    /// Every feature, in declaration (upstream) order.
    pub const ALL: [Feature; 5] = [
        Feature::Identify,
        Feature::IdentifyBatch,
        Feature::Rename,
        Feature::Audd,
        Feature::MusicbrainzEnrich,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::IdentifyBatch => "identify_batch",
            Self::Rename => "rename",
            Self::Audd => "audd",
            Self::MusicbrainzEnrich => "musicbrainz_enrich",
        }
    }

    /// `audd, identify, identify_batch, musicbrainz_enrich, rename` (sorted, as upstream says
    /// it in error messages).
    pub fn valid_options() -> String {
        sorted_names(Self::ALL.iter().map(|f| f.as_str()))
    }
}

/// A metered use of a remote service. Wire names are snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    /// `acoustid_lookup`: one AcoustID lookup.
    AcoustidLookup,
    /// `audd_standard_lookup`: one call of AudD's standard endpoint (a snippet).
    AuddStandardLookup,
    /// `audd_enterprise_lookup`: one call of AudD's enterprise endpoint (a whole file).
    AuddEnterpriseLookup,
    /// `musicbrainz_enrich`: one MusicBrainz recording lookup.
    MusicbrainzEnrich,
}

impl QuotaScope {
    /// Every scope, in declaration order.
    pub const ALL: [QuotaScope; 4] = [
        QuotaScope::AcoustidLookup,
        QuotaScope::AuddStandardLookup,
        QuotaScope::AuddEnterpriseLookup,
        QuotaScope::MusicbrainzEnrich,
    ];

    /// The scopes of AudD, a paid service with two endpoints (metered together by auth).
    pub const AUDD: [QuotaScope; 2] = [
        QuotaScope::AuddStandardLookup,
        QuotaScope::AuddEnterpriseLookup,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcoustidLookup => "acoustid_lookup",
            Self::AuddStandardLookup => "audd_standard_lookup",
            Self::AuddEnterpriseLookup => "audd_enterprise_lookup",
            Self::MusicbrainzEnrich => "musicbrainz_enrich",
        }
    }

    /// The scope names, sorted and comma-separated.
    pub fn valid_options() -> String {
        sorted_names(Self::ALL.iter().map(|s| s.as_str()))
    }
}

fn sorted_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.join(", ")
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a known feature or quota scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    /// `feature` or `quota scope`.
    pub kind: &'static str,
    /// The name as given, trimmed.
    pub name: String,
}

impl FromStr for Feature {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| UnknownName {
                kind: "feature",
                name: name.to_owned(),
            })
    }
}

impl FromStr for QuotaScope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL
            .into_iter()
            .find(|q| q.as_str() == name)
            .ok_or_else(|| UnknownName {
                kind: "quota scope",
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for feature in Feature::ALL {
            assert_eq!(feature.as_str().parse::<Feature>(), Ok(feature));
            let json = serde_json::to_string(&feature).unwrap_or_default();
            assert_eq!(json, format!("\"{feature}\""));
        }
        for scope in QuotaScope::ALL {
            assert_eq!(format!(" {scope} ").parse::<QuotaScope>(), Ok(scope));
            let json = serde_json::to_string(&scope).unwrap_or_default();
            assert_eq!(json, format!("\"{scope}\""));
        }
        let error = "teleport".parse::<Feature>().err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("unknown feature `teleport`")
        );
    }

    #[test]
    fn valid_options_are_sorted() {
        assert_eq!(
            Feature::valid_options(),
            "audd, identify, identify_batch, musicbrainz_enrich, rename"
        );
        assert_eq!(
            QuotaScope::valid_options(),
            "acoustid_lookup, audd_enterprise_lookup, audd_standard_lookup, musicbrainz_enrich"
        );
    }
}
