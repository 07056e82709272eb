//! `cargo xtask migrate` and `cargo xtask seed`: prepare the databases (for example at image
//! build) with the same settings the server reads.
//!
//! Settings come from `RECOZIK_WEB_*` environment variables and a `.env` file in the working
//! directory (the environment wins), with the server's defaults. The optional TOML file of the
//! server (`RECOZIK_WEB_CONFIG`) is not read here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use recozik_auth::AuthSettings;
use recozik_storage::{Database, PoolOptions, Schema, migrate};

/// The `RECOZIK_WEB_*` values, keyed by lower-case name without the prefix.
fn variables() -> anyhow::Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut take = |name: String, value: String| {
        if let Some(field) = name.to_ascii_uppercase().strip_prefix("RECOZIK_WEB_") {
            values.insert(field.to_ascii_lowercase(), value);
        }
    };
    if std::path::Path::new(".env").is_file() {
        for pair in dotenvy::from_path_iter(".env").context("cannot read .env")? {
            let (name, value) = pair.context("invalid line in .env")?;
            take(name, value);
        }
    }
    for (name, value) in std::env::vars() {
        take(name, value);
    }
    Ok(values)
}

fn flag(values: &BTreeMap<String, String>, name: &str, default: bool) -> anyhow::Result<bool> {
    match values.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => bail!(
            "invalid setting RECOZIK_WEB_{}: `{v}` is not a boolean",
            name.to_ascii_uppercase()
        ),
    }
}

fn number(values: &BTreeMap<String, String>, name: &str) -> anyhow::Result<Option<i64>> {
    match values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).with_context(|| {
            format!(
                "invalid setting RECOZIK_WEB_{}: `{v}` is not a number",
                name.to_ascii_uppercase()
            )
        }),
    }
}

fn text(values: &BTreeMap<String, String>, name: &str) -> Option<String> {
    values.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

struct Targets {
    auth_url: String,
    jobs_url: String,
    auth: AuthSettings,
}

fn targets() -> anyhow::Result<Targets> {
    let values = variables()?;
    let root = PathBuf::from(text(&values, "base_media_root").unwrap_or_else(|| "data".to_owned()));
    let root = std::path::absolute(&root).unwrap_or(root);
    let sqlite = |file: &str, default: &str| {
        format!(
            "sqlite://{}",
            root.join(text(&values, file).unwrap_or_else(|| default.to_owned()))
                .display()
        )
    };
    let auth_url =
        text(&values, "auth_database_url").unwrap_or_else(|| sqlite("auth_db_filename", "auth.db"));
    let jobs_url =
        text(&values, "jobs_database_url").unwrap_or_else(|| sqlite("jobs_db_filename", "jobs.db"));
    if auth_url.starts_with("sqlite") || jobs_url.starts_with("sqlite") {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
    }
    let defaults = AuthSettings::default();
    let auth = AuthSettings {
        production_mode: flag(&values, "production_mode", false)?,
        admin_username: text(&values, "admin_username").unwrap_or(defaults.admin_username.clone()),
        admin_password: text(&values, "admin_password").unwrap_or(defaults.admin_password.clone()),
        admin_token: text(&values, "admin_token").unwrap_or(defaults.admin_token.clone()),
        readonly_token: text(&values, "readonly_token"),
        readonly_quota_acoustid: number(&values, "readonly_quota_acoustid")?,
        readonly_quota_musicbrainz: number(&values, "readonly_quota_musicbrainz")?,
        readonly_quota_audd_standard: number(&values, "readonly_quota_audd_standard")?,
        readonly_quota_audd_enterprise: number(&values, "readonly_quota_audd_enterprise")?,
        musicbrainz_enabled: flag(&values, "musicbrainz_enabled", true)?,
        audd_enabled: text(&values, "audd_token").is_some(),
        ..defaults
    };
    Ok(Targets {
        auth_url,
        jobs_url,
        auth,
    })
}

fn open(url: &str) -> anyhow::Result<Database> {
    Database::connect(url, &PoolOptions::default())
        .with_context(|| "cannot open the database".to_owned())
}

/// Applies pending migrations to both databases.
pub fn migrate_command() -> anyhow::Result<()> {
    let targets = targets()?;
    for (schema, url) in [
        (Schema::Auth, &targets.auth_url),
        (Schema::Jobs, &targets.jobs_url),
    ] {
        let applied = migrate(&open(url)?, schema)
            .with_context(|| format!("{schema:?} migrations failed"))?;
        eprintln!(
            "xtask: {schema:?} database: {} migration(s) applied",
            applied.len()
        );
    }
    Ok(())
}

/// Migrates, then creates or updates the seeded accounts and tokens (idempotent).
pub fn seed_command() -> anyhow::Result<()> {
    let targets = targets()?;
    // Refuse weak production secrets before touching any database.
    recozik_auth::check_production_settings(&targets.auth)?;
    migrate_command()?;
    let report = recozik_auth::seed(&open(&targets.auth_url)?, &targets.auth)?;
    eprintln!("xtask: seeded: {report:?}");
    Ok(())
}
