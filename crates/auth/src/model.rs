//! Features, quota scopes and roles, and the validation of every list a client can write.
//!
//! # The empty feature list
//!
//! A principal whose feature list is **empty may use every feature** (upstream's meaning, kept
//! for compatibility). Seeded accounts and tokens always get explicit lists. API docs must say
//! so: `"allowed_features": []` means "all features", not "none".

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ValidationError;

/// The role that unlocks admin endpoints and every job (case-sensitive).
pub const ADMIN_ROLE: &str = "admin";
/// The role of the seeded read-only account (no meaning of its own).
pub const READONLY_ROLE: &str = "readonly";
/// The default role of registered users (no meaning of its own).
pub const USER_ROLE: &str = "user";

pub use recozik_permissions::{Feature, QuotaScope};

impl From<recozik_permissions::UnknownName> for ValidationError {
    fn from(unknown: recozik_permissions::UnknownName) -> Self {
        if unknown.kind == "feature" {
            Self::UnknownFeature(unknown.name)
        } else {
            Self::UnknownQuotaScope(unknown.name)
        }
    }
}

/// A principal limited on one AudD scope is closed (limit 0) on the other unless that one has
/// a limit of its own. Without this a user capped on the standard endpoint (the only AudD
/// scope the dashboard's user editor sets) could spend without limit on the enterprise one,
/// which receives whole files and to which the pipeline may fall back.
pub(crate) fn meter_audd_scopes_together(limits: &mut BTreeMap<QuotaScope, i64>) {
    if QuotaScope::AUDD
        .iter()
        .any(|scope| limits.contains_key(scope))
    {
        for scope in QuotaScope::AUDD {
            limits.entry(scope).or_insert(0);
        }
    }
}

/// Quota limits as clients send and storage keeps them: scope name → limit (`None`: unlimited).
pub type RawQuotaLimits = BTreeMap<String, Option<i64>>;

/// Validates a feature list from a client: entries are trimmed, blanks dropped, unknown names
/// rejected ([`ValidationError::UnknownFeature`]), then the list is de-duplicated and sorted by
/// name. An empty result means "all features" (see the module docs).
pub fn normalize_features<S: AsRef<str>>(input: &[S]) -> Result<Vec<Feature>, ValidationError> {
    let mut set = BTreeSet::new();
    for entry in input {
        let name = entry.as_ref().trim();
        if name.is_empty() {
            continue;
        }
        set.insert(name.parse::<Feature>()?);
    }
    let mut list: Vec<Feature> = set.into_iter().collect();
    list.sort_by_key(|f| f.as_str());
    Ok(list)
}

/// [`normalize_features`] returning the wire names, ready to store.
pub fn normalize_feature_names<S: AsRef<str>>(input: &[S]) -> Result<Vec<String>, ValidationError> {
    Ok(normalize_features(input)?
        .into_iter()
        .map(|f| f.as_str().to_owned())
        .collect())
}

/// Validates quota limits from a client: keys are trimmed and must be known scopes
/// ([`ValidationError::UnknownQuotaScope`]); limits must not be negative. `None` (JSON `null`)
/// means unlimited. Returns the normalised map to store.
pub fn normalize_quota_limits(input: &RawQuotaLimits) -> Result<RawQuotaLimits, ValidationError> {
    let mut out = RawQuotaLimits::new();
    for (key, limit) in input {
        let scope: QuotaScope = key.trim().parse()?;
        if let Some(n) = limit
            && *n < 0
        {
            return Err(ValidationError::NegativeQuotaLimit(
                scope.as_str().to_owned(),
            ));
        }
        out.insert(scope.as_str().to_owned(), *limit);
    }
    Ok(out)
}

/// Whether a user with `roles` holds `role`: `admin` implies every role, so an admin may give a
/// token of its own any role (the dashboard creates `readonly` tokens that way). Only used to
/// cap tokens by their owner; it grants no admin rights to other roles.
pub fn holds_role<S: AsRef<str>>(roles: &[S], role: &str) -> bool {
    roles
        .iter()
        .any(|held| held.as_ref() == ADMIN_ROLE || held.as_ref() == role)
}

/// Validates a role list from a client: entries are trimmed, blanks dropped, each must be 1–64
/// characters among ASCII letters, digits, `_`, `-`, `.`, `:`; duplicates are removed (first
/// occurrence kept). Roles are otherwise free-form; only [`ADMIN_ROLE`] has a meaning.
pub fn normalize_roles<S: AsRef<str>>(input: &[S]) -> Result<Vec<String>, ValidationError> {
    let mut out: Vec<String> = Vec::new();
    for entry in input {
        let role = entry.as_ref().trim();
        if role.is_empty() {
            continue;
        }
        let valid = role.len() <= 64
            && role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !valid {
            return Err(ValidationError::InvalidRole(role.to_owned()));
        }
        if !out.iter().any(|r| r == role) {
            out.push(role.to_owned());
        }
    }
    Ok(out)
}

/// Reads a stored feature list leniently (unknown names are skipped with a warning, never an
/// error), sorted by name.
pub(crate) fn features_from_stored(stored: &[String], owner: &str) -> Vec<Feature> {
    let mut set = BTreeSet::new();
    for name in stored {
        if let Ok(f) = name.trim().parse::<Feature>() {
            set.insert(f);
        } else {
            tracing::warn!(%owner, feature = %name, "ignoring unknown stored feature");
        }
    }
    let mut list: Vec<Feature> = set.into_iter().collect();
    list.sort_by_key(|f| f.as_str());
    list
}

/// Reads stored quota limits leniently: unknown scopes skipped with a warning, `None` dropped
/// (unlimited), negatives clamped to 0.
pub(crate) fn limits_from_stored(
    stored: &RawQuotaLimits,
    owner: &str,
) -> BTreeMap<QuotaScope, i64> {
    let mut out = BTreeMap::new();
    for (key, limit) in stored {
        if let Ok(scope) = key.trim().parse::<QuotaScope>() {
            if let Some(n) = limit {
                out.insert(scope, (*n).max(0));
            }
        } else {
            tracing::warn!(%owner, scope = %key, "ignoring unknown stored quota scope");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_serde() {
        for f in Feature::ALL {
            let json = serde_json::to_string(&f).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
        }
        for s in QuotaScope::ALL {
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }

    #[test]
    fn features_are_trimmed_deduplicated_sorted() {
        let got = normalize_feature_names(&[" rename", "identify", "", "identify", "audd "]);
        assert_eq!(
            got,
            Ok(vec!["audd".into(), "identify".into(), "rename".into()])
        );
    }

    #[test]
    fn unknown_feature_has_upstream_text() {
        let err = normalize_features(&["identify", "teleport"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown feature 'teleport'. Valid options: audd, identify, identify_batch, musicbrainz_enrich, rename"
        );
        assert_eq!(err.code(), "unknown_feature");
    }

    #[test]
    fn quota_keys_and_values_are_validated() {
        let mut ok = RawQuotaLimits::new();
        ok.insert(" acoustid_lookup ".into(), Some(3));
        ok.insert("musicbrainz_enrich".into(), None);
        let got = normalize_quota_limits(&ok).unwrap_or_default();
        assert_eq!(got.get("acoustid_lookup"), Some(&Some(3)));
        assert_eq!(got.get("musicbrainz_enrich"), Some(&None));

        let mut bad = RawQuotaLimits::new();
        bad.insert("bogus".into(), Some(1));
        assert_eq!(
            normalize_quota_limits(&bad),
            Err(ValidationError::UnknownQuotaScope("bogus".into()))
        );
        let mut neg = RawQuotaLimits::new();
        neg.insert("acoustid_lookup".into(), Some(-1));
        assert!(matches!(
            normalize_quota_limits(&neg),
            Err(ValidationError::NegativeQuotaLimit(_))
        ));
    }

    #[test]
    fn roles_are_validated_and_deduplicated() {
        assert_eq!(
            normalize_roles(&["admin", " operator ", "admin", ""]),
            Ok(vec!["admin".to_owned(), "operator".to_owned()])
        );
        assert!(normalize_roles(&["has space"]).is_err());
        assert!(normalize_roles(&["x".repeat(65)]).is_err());
    }

    #[test]
    fn audd_scopes_are_metered_together() {
        let mut limits = BTreeMap::from([(QuotaScope::AuddStandardLookup, 4)]);
        meter_audd_scopes_together(&mut limits);
        assert_eq!(limits.get(&QuotaScope::AuddEnterpriseLookup), Some(&0));
        assert_eq!(limits.get(&QuotaScope::AuddStandardLookup), Some(&4));
        let mut limits = BTreeMap::from([(QuotaScope::AuddEnterpriseLookup, 1)]);
        meter_audd_scopes_together(&mut limits);
        assert_eq!(limits.get(&QuotaScope::AuddStandardLookup), Some(&0));
        let mut limits = BTreeMap::from([(QuotaScope::AcoustidLookup, 1)]);
        meter_audd_scopes_together(&mut limits);
        assert_eq!(limits.len(), 1, "no AudD limit: AudD stays unlimited");
    }

    #[test]
    fn admin_holds_every_role() {
        assert!(holds_role(&["admin"], "readonly"));
        assert!(holds_role(&["admin"], "admin"));
        assert!(holds_role(&["operator", "user"], "user"));
        assert!(!holds_role(&["operator"], "readonly"));
        assert!(!holds_role(&["readonly"], "admin"));
        assert!(!holds_role::<&str>(&[], "user"));
    }

    #[test]
    fn stored_values_are_read_leniently() {
        let f = features_from_stored(&["rename".into(), "bogus".into(), "identify".into()], "u");
        assert_eq!(f, vec![Feature::Identify, Feature::Rename]);
        let mut raw = RawQuotaLimits::new();
        raw.insert("acoustid_lookup".into(), Some(2));
        raw.insert("bogus".into(), Some(1));
        raw.insert("musicbrainz_enrich".into(), None);
        let l = limits_from_stored(&raw, "u");
        assert_eq!(l.len(), 1);
        assert_eq!(l.get(&QuotaScope::AcoustidLookup), Some(&2));
    }
}
