//! `cargo xtask test`: the whole suite, as CI runs it.

use std::process::Command;

use anyhow::bail;

use crate::postgres::Throwaway;
use crate::setup::{self, Purpose};
use crate::util;

/// Crates that must not appear below a given workspace crate (the layering of
/// docs/architecture.md).
const FORBIDDEN_DEPENDENCIES: &[(&str, &[&str])] = &[
    (
        "recozik_permissions",
        &[
            "recozik_core",
            "recozik_storage",
            "recozik_auth",
            "recozik_jobs",
            "recozik_api",
            "ffmpeg-next",
            "diesel",
            "actix-web",
        ],
    ),
    (
        "recozik_core",
        &[
            "recozik_storage",
            "recozik_auth",
            "recozik_api",
            "actix-web",
            "diesel",
        ],
    ),
    (
        "recozik_storage",
        &[
            "recozik_core",
            "recozik_auth",
            "recozik_api",
            "actix-web",
            "reqwest",
            "ffmpeg-next",
        ],
    ),
    ("recozik_auth", &["recozik_api", "actix-web", "ffmpeg-next"]),
    (
        "recozik_jobs",
        &["recozik_api", "actix-web", "actix-ws", "actix-http"],
    ),
    (
        "xtask",
        &[
            "ffmpeg-next",
            "ffmpeg-sys-next",
            "chromaprint-rust",
            "recozik_core",
            "recozik_api",
            "pq-sys",
        ],
    ),
];

pub fn run(extra_args: &[String]) -> anyhow::Result<()> {
    setup::ensure(Purpose::Test)?;
    let root = util::workspace_root();

    util::run_status(
        util::cargo()
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]),
    )?;
    check_layering(&root)?;
    util::run_status(util::cargo().current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // xtask's database commands are behind a feature the workspace build leaves off.
    util::run_status(util::cargo().current_dir(&root).args([
        "clippy",
        "--package",
        "xtask",
        "--features",
        "db",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;

    // Keep the cluster alive (guard) until the tests are done; it is stopped on drop.
    let (postgres_url, _cluster) = match std::env::var("RECOZIK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => (Some(url), None),
        _ => match Throwaway::start() {
            Ok(cluster) => {
                eprintln!("xtask: throwaway PostgreSQL at {}", cluster.url);
                (Some(cluster.url.clone()), Some(cluster))
            }
            Err(error) if util::in_ci() => {
                bail!("CI is set and no PostgreSQL could be started: {error:#}")
            }
            Err(error) => {
                eprintln!(
                    "xtask: WARNING: no PostgreSQL ({error:#}); PostgreSQL tests will be skipped"
                );
                (None, None)
            }
        },
    };

    let mut command = util::cargo();
    command
        .current_dir(&root)
        .args(["test", "--workspace", "--all-targets"])
        .args(extra_args);
    if let Some(url) = &postgres_url {
        command.env("RECOZIK_TEST_POSTGRES_URL", url);
    }
    util::run_status(&mut command)?;
    // Doc tests are not covered by --all-targets.
    util::run_status(
        util::cargo()
            .current_dir(&root)
            .args(["test", "--workspace", "--doc"]),
    )
}

/// Fails when a crate depends (directly or not) on something its layer must never see.
fn check_layering(root: &std::path::Path) -> anyhow::Result<()> {
    for (package, forbidden) in FORBIDDEN_DEPENDENCIES {
        let tree = util::output(
            Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .current_dir(root)
                .args([
                    "tree",
                    "--package",
                    package,
                    "--edges",
                    "normal,build",
                    "--prefix",
                    "none",
                    "--format",
                    "{p}",
                ]),
        )?;
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if forbidden.contains(&name) {
                bail!("layering violation: {package} depends on {name} (see docs/architecture.md)");
            }
        }
    }
    eprintln!("xtask: layering check passed");
    Ok(())
}
