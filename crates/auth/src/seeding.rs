//! Startup seeding: the admin user and token from the settings, and optionally the readonly
//! user and token. `cargo xtask seed` and the server's startup both call [`seed`].
//!
//! * Users are created when missing and never updated (`ADMIN_PASSWORD` applies only when the
//!   admin account is first created; change it later with change-password or an admin reset).
//! * Seed tokens carry a marker (`admin`, `readonly`). The token of a marker always reflects the
//!   settings: its roles, features and limits are rewritten at each start, and when the
//!   configured value changes the old token is deleted, so the old value stops working. When
//!   `READONLY_TOKEN` is unset the readonly seed token is deleted.
//! * Every step is an upsert, and conflicts from concurrent seeders are retried, so several
//!   processes may seed the same database at once.
//! * In production mode, default or weak secrets are refused before anything is written
//!   ([`check_production_settings`]).

use std::time::Duration;

use recozik_storage::tokens::{self, NewApiToken};
use recozik_storage::users::{self, NewUser, QuotaLimits};
use recozik_storage::{Database, StorageError};

use crate::error::{AuthError, Result};
use crate::model::{ADMIN_ROLE, Feature, QuotaScope, READONLY_ROLE};
use crate::password::{PasswordHasher, check_password_strength, normalize_username};
use crate::secret::{SECRET_BYTES, digest, generate_api_token, hint_of, random_secret};
use crate::settings::{AuthSettings, DEFAULT_ADMIN_PASSWORD, DEFAULT_ADMIN_TOKEN};
use crate::tokens::check_chosen_value;

/// Seed marker of the admin token.
pub const ADMIN_SEED: &str = "admin";
/// Seed marker of the readonly token.
pub const READONLY_SEED: &str = "readonly";
/// Username of the seeded readonly account.
pub const READONLY_USERNAME: &str = "readonly";

/// What seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Id of the admin user.
    pub admin_user_id: i64,
    /// Whether this run created it.
    pub admin_user_created: bool,
    /// Public id of the admin seed token (`None` when `ADMIN_TOKEN` is empty).
    pub admin_token_id: Option<String>,
    /// Id of the readonly user, when `READONLY_TOKEN` is set.
    pub readonly_user_id: Option<i64>,
    /// Whether this run created it.
    pub readonly_user_created: bool,
    /// Public id of the readonly seed token, when set.
    pub readonly_token_id: Option<String>,
    /// Seed tokens deleted because their setting was unset.
    pub removed_seed_tokens: usize,
}

/// Refuses default or weak secrets in production mode, with a message for the operator:
/// `ADMIN_TOKEN` equal to `dev-admin`, shorter than `min_token_length_production` (24) or with
/// whitespace; `ADMIN_PASSWORD` equal to `dev-password` or failing the password rules;
/// a `READONLY_TOKEN` that is too short. Outside production mode it always passes.
pub fn check_production_settings(settings: &AuthSettings) -> Result<()> {
    if !settings.production_mode {
        return Ok(());
    }
    let min = settings.min_token_length_production;
    let mut problems = Vec::new();
    if settings.admin_token == DEFAULT_ADMIN_TOKEN {
        problems.push(format!(
            "RECOZIK_WEB_ADMIN_TOKEN is the default value '{DEFAULT_ADMIN_TOKEN}'."
        ));
    } else if check_chosen_value(&settings.admin_token, true, min).is_err() {
        problems.push(format!(
            "RECOZIK_WEB_ADMIN_TOKEN must be at least {min} characters without whitespace."
        ));
    }
    if settings.admin_password == DEFAULT_ADMIN_PASSWORD {
        problems.push(format!(
            "RECOZIK_WEB_ADMIN_PASSWORD is the default value '{DEFAULT_ADMIN_PASSWORD}'."
        ));
    } else if let Err(rule) = check_password_strength(&settings.admin_password) {
        problems.push(format!("RECOZIK_WEB_ADMIN_PASSWORD is too weak: {rule}."));
    }
    if let Some(token) = settings.readonly_token()
        && check_chosen_value(token, true, min).is_err()
    {
        problems.push(format!(
            "RECOZIK_WEB_READONLY_TOKEN must be at least {min} characters without whitespace."
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut message = String::from("SECURITY ERROR: refusing to start in production mode.\n");
    for p in &problems {
        message.push_str("  - ");
        message.push_str(p);
        message.push('\n');
    }
    message.push_str("Set strong values, for example:\n  RECOZIK_WEB_ADMIN_TOKEN=");
    message.push_str(&generate_api_token());
    message.push_str(
        "\n  RECOZIK_WEB_ADMIN_PASSWORD=<at least 12 characters with upper- and lower-case \
         letters, a digit and a symbol>",
    );
    Err(AuthError::InsecureSettings(message))
}

/// Features of the admin seed token, in upstream order: `identify`, `musicbrainz_enrich` (if
/// MusicBrainz is on), `audd` (if AudD is configured), `rename`, `identify_batch`.
fn admin_token_features(settings: &AuthSettings) -> Vec<String> {
    let mut out = vec![Feature::Identify];
    if settings.musicbrainz_enabled {
        out.push(Feature::MusicbrainzEnrich);
    }
    if settings.audd_enabled {
        out.push(Feature::Audd);
    }
    out.extend([Feature::Rename, Feature::IdentifyBatch]);
    names(&out)
}

/// Features of the readonly user and token: `identify`, `musicbrainz_enrich` (if on), `audd`
/// (if AudD is configured and a quota is set for one of its endpoints,
/// `READONLY_QUOTA_AUDD_STANDARD` or `READONLY_QUOTA_AUDD_ENTERPRISE`).
fn readonly_features(settings: &AuthSettings) -> Vec<String> {
    let mut out = vec![Feature::Identify];
    if settings.musicbrainz_enabled {
        out.push(Feature::MusicbrainzEnrich);
    }
    let audd_quota = settings.readonly_quota_audd_standard.is_some()
        || settings.readonly_quota_audd_enterprise.is_some();
    if settings.audd_enabled && audd_quota {
        out.push(Feature::Audd);
    }
    names(&out)
}

/// The readonly token's limits. AcoustID and MusicBrainz are unlimited unless configured; each
/// AudD endpoint is paid, so an unconfigured one gets 0 (closed) rather than no limit.
fn readonly_limits(settings: &AuthSettings) -> QuotaLimits {
    let mut limits = QuotaLimits::new();
    for (scope, value) in [
        (QuotaScope::AcoustidLookup, settings.readonly_quota_acoustid),
        (
            QuotaScope::MusicbrainzEnrich,
            settings.readonly_quota_musicbrainz,
        ),
    ] {
        if let Some(n) = value {
            limits.insert(scope.as_str().to_owned(), Some(n.max(0)));
        }
    }
    for (scope, value) in [
        (
            QuotaScope::AuddStandardLookup,
            settings.readonly_quota_audd_standard,
        ),
        (
            QuotaScope::AuddEnterpriseLookup,
            settings.readonly_quota_audd_enterprise,
        ),
    ] {
        limits.insert(scope.as_str().to_owned(), Some(value.unwrap_or(0).max(0)));
    }
    limits
}

fn names(features: &[Feature]) -> Vec<String> {
    features.iter().map(|f| f.as_str().to_owned()).collect()
}

/// Runs `op` again when a concurrent seeder made it fail (unique conflict, busy database).
fn retrying<T>(mut op: impl FnMut() -> Result<T, StorageError>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e)
                if attempt < 8 && (matches!(e, StorageError::Conflict(_)) || e.is_transient()) =>
            {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "seeding step conflicted, retrying");
                std::thread::sleep(Duration::from_millis(20 * attempt));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Seeds the auth database from `settings` (see the module docs). Builds its own password
/// hasher; blocking (Argon2, database).
pub fn seed(db: &Database, settings: &AuthSettings) -> Result<SeedReport> {
    let hasher = PasswordHasher::new(settings.password)?;
    seed_with_hasher(db, settings, &hasher)
}

/// [`seed`] with an existing hasher.
pub fn seed_with_hasher(
    db: &Database,
    settings: &AuthSettings,
    hasher: &PasswordHasher,
) -> Result<SeedReport> {
    check_production_settings(settings)?;
    let admin_username = normalize_username(&settings.admin_username)?;
    let mut conn = db.conn()?;

    // 1. Admin user (created when missing, never updated).
    let existing = users::find_by_username(&mut conn, &admin_username)?;
    let (admin, admin_user_created) = if let Some(user) = existing {
        (user, false)
    } else {
        let new = NewUser {
            username: admin_username.clone(),
            email: format!("{admin_username}@localhost"),
            display_name: Some("Administrator".to_owned()),
            password_hash: hasher.hash(&settings.admin_password)?,
            is_active: true,
            roles: vec![ADMIN_ROLE.to_owned()],
            allowed_features: names(&Feature::ALL),
            quota_limits: QuotaLimits::new(),
        };
        retrying(|| users::create_if_missing(&mut conn, &new))?
    };

    // 2. Readonly user (only with a readonly token).
    let mut readonly_user = None;
    if settings.readonly_token().is_some() {
        readonly_user = Some(
            if let Some(user) = users::find_by_username(&mut conn, READONLY_USERNAME)? {
                (user, false)
            } else {
                let new = NewUser {
                    username: READONLY_USERNAME.to_owned(),
                    email: format!("{READONLY_USERNAME}@localhost"),
                    display_name: Some("Read-only User".to_owned()),
                    // Nobody knows this password: the account is for its token only.
                    password_hash: hasher.hash(&random_secret(SECRET_BYTES))?,
                    is_active: true,
                    roles: vec![READONLY_ROLE.to_owned()],
                    allowed_features: readonly_features(settings),
                    quota_limits: QuotaLimits::new(),
                };
                retrying(|| users::create_if_missing(&mut conn, &new))?
            },
        );
    }

    // 3. Seed tokens.
    let mut removed_seed_tokens = 0;
    let admin_token_id = if settings.admin_token.is_empty() {
        removed_seed_tokens += retrying(|| tokens::delete_seed(&mut conn, ADMIN_SEED))?;
        None
    } else {
        let new = NewApiToken {
            user_id: admin.id,
            digest: digest(&settings.admin_token),
            hint: hint_of(&settings.admin_token),
            display_name: "Administrator".to_owned(),
            roles: vec![ADMIN_ROLE.to_owned()],
            allowed_features: admin_token_features(settings),
            quota_limits: QuotaLimits::new(),
            seed: Some(ADMIN_SEED.to_owned()),
            expires_at: None,
        };
        Some(retrying(|| tokens::upsert_seed(&mut conn, &new))?.public_id)
    };
    let readonly_token_id =
        if let (Some(raw), Some((user, _))) = (settings.readonly_token(), &readonly_user) {
            let new = NewApiToken {
                user_id: user.id,
                digest: digest(raw),
                hint: hint_of(raw),
                display_name: "Readonly".to_owned(),
                roles: vec![READONLY_ROLE.to_owned()],
                allowed_features: readonly_features(settings),
                quota_limits: readonly_limits(settings),
                seed: Some(READONLY_SEED.to_owned()),
                expires_at: None,
            };
            Some(retrying(|| tokens::upsert_seed(&mut conn, &new))?.public_id)
        } else {
            removed_seed_tokens += retrying(|| tokens::delete_seed(&mut conn, READONLY_SEED))?;
            None
        };

    let report = SeedReport {
        admin_user_id: admin.id,
        admin_user_created,
        admin_token_id,
        readonly_user_id: readonly_user.as_ref().map(|(u, _)| u.id),
        readonly_user_created: readonly_user.as_ref().is_some_and(|(_, created)| *created),
        readonly_token_id,
        removed_seed_tokens,
    };
    tracing::info!(?report, "startup seeding complete");
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_default_and_weak_secrets() {
        let prod = AuthSettings {
            production_mode: true,
            ..AuthSettings::default()
        };
        let err = check_production_settings(&prod).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("SECURITY ERROR"), "{text}");
        assert!(
            text.contains("RECOZIK_WEB_ADMIN_TOKEN is the default value"),
            "{text}"
        );
        assert!(
            text.contains("RECOZIK_WEB_ADMIN_PASSWORD is the default value"),
            "{text}"
        );
        assert_eq!(err.code(), "insecure_settings");

        let weak = AuthSettings {
            admin_token: "short-token".into(),
            admin_password: "password".into(),
            ..prod.clone()
        };
        let text = check_production_settings(&weak).unwrap_err().to_string();
        assert!(text.contains("at least 24 characters"), "{text}");
        assert!(
            text.contains("too weak: Password must be at least 12 characters"),
            "{text}"
        );

        let strong = AuthSettings {
            admin_token: "x".repeat(24),
            admin_password: "Str0ngPassw0rd!".into(),
            ..prod.clone()
        };
        assert!(check_production_settings(&strong).is_ok());
        let weak_readonly = AuthSettings {
            readonly_token: Some("ro".into()),
            ..strong
        };
        assert!(check_production_settings(&weak_readonly).is_err());

        // Outside production the defaults are fine.
        assert!(check_production_settings(&AuthSettings::default()).is_ok());
    }

    #[test]
    fn seed_feature_lists_follow_settings() {
        let s = AuthSettings {
            musicbrainz_enabled: false,
            ..AuthSettings::default()
        };
        assert_eq!(
            admin_token_features(&s),
            ["identify", "rename", "identify_batch"]
        );
        let s = AuthSettings {
            audd_enabled: true,
            ..AuthSettings::default()
        };
        assert_eq!(
            admin_token_features(&s),
            [
                "identify",
                "musicbrainz_enrich",
                "audd",
                "rename",
                "identify_batch"
            ]
        );
        assert_eq!(readonly_features(&s), ["identify", "musicbrainz_enrich"]);
        let s = AuthSettings {
            audd_enabled: true,
            readonly_quota_audd_standard: Some(3),
            readonly_quota_acoustid: Some(10),
            ..AuthSettings::default()
        };
        assert_eq!(
            readonly_features(&s),
            ["identify", "musicbrainz_enrich", "audd"]
        );
        let limits = readonly_limits(&s);
        assert_eq!(limits.get("acoustid_lookup"), Some(&Some(10)));
        assert_eq!(limits.get("audd_standard_lookup"), Some(&Some(3)));
        assert_eq!(limits.get("audd_enterprise_lookup"), Some(&Some(0)));
        assert!(!limits.contains_key("musicbrainz_enrich"));
        let s = AuthSettings {
            audd_enabled: true,
            readonly_quota_audd_enterprise: Some(2),
            ..AuthSettings::default()
        };
        assert_eq!(
            readonly_features(&s),
            ["identify", "musicbrainz_enrich", "audd"]
        );
        let limits = readonly_limits(&s);
        assert_eq!(limits.get("audd_standard_lookup"), Some(&Some(0)));
        assert_eq!(limits.get("audd_enterprise_lookup"), Some(&Some(2)));
    }
}
