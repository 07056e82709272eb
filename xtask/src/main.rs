//! Project automation for Recozik: `cargo xtask <command>`.
//!
//! xtask must build on a machine where FFmpeg is not installed yet (it is what installs it), so
//! it depends on no crate that links FFmpeg.

mod bench;
mod bench_api;
mod bench_batch;
#[cfg(feature = "db")]
mod database;
mod fixtures;
mod hostile;
mod postgres;
mod setup;
mod test;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Recozik project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install the system packages needed to build (and with --test, to test) Recozik.
    Setup {
        /// Also install what the test suite needs (ffmpeg, fpcalc, PostgreSQL).
        #[arg(long)]
        test: bool,
    },
    /// Set up, build and start the recozik-web server on its embedded default (SQLite under ./data).
    /// Arguments after `--` go to recozik-web.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run formatting, lint and every test (with a throwaway PostgreSQL unless
    /// RECOZIK_TEST_POSTGRES_URL is set).
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Apply pending database migrations (settings from RECOZIK_WEB_* and .env).
    Migrate,
    /// Migrate, then create or update the admin (and readonly) accounts and tokens.
    Seed,
    /// Regenerate the audio fixtures and their fpcalc reference outputs.
    Fixtures,
    /// Benchmarks; prints figures to paste into docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup { test } => setup::ensure(if test {
            setup::Purpose::Test
        } else {
            setup::Purpose::Build
        }),
        Command::Run { args } => run(&args),
        Command::Test { args } => test::run(&args),
        Command::Migrate => database_command("migrate"),
        Command::Seed => database_command("seed"),
        Command::Fixtures => fixtures::generate(),
        Command::Bench { which } => bench::run(&which),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    setup::ensure(setup::Purpose::Build)?;
    let root = util::workspace_root();
    let mut command = util::cargo();
    command
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "--package",
            "recozik_api",
            "--bin",
            "recozik-web",
            "--",
        ])
        .args(args);
    util::run_status(&mut command)
}

/// Runs a database command: directly when built with the `db` feature, otherwise after
/// installing the build packages, through a second xtask build that has the feature.
fn database_command(name: &str) -> anyhow::Result<()> {
    #[cfg(feature = "db")]
    {
        match name {
            "migrate" => database::migrate_command(),
            _ => database::seed_command(),
        }
    }
    #[cfg(not(feature = "db"))]
    {
        setup::ensure(setup::Purpose::Build)?;
        // Same working directory, so relative media roots mean the same folder.
        let manifest = util::workspace_root().join("Cargo.toml");
        let mut command = util::cargo();
        command
            .args(["run", "--quiet", "--manifest-path"])
            .arg(manifest)
            .args(["--package", "xtask", "--features", "db", "--", name]);
        util::run_status(&mut command)
    }
}
