//! Installs the Debian packages Recozik needs, or prints the command that would.

use std::process::Command;

use anyhow::bail;

use crate::util;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Build,
    Test,
}

/// What building needs: FFmpeg's development libraries (decoding, and Chromaprint's FFT), the
/// C/C++ toolchain and CMake (Chromaprint is built from source), libclang (bindgen) and libpq
/// (the PostgreSQL client library diesel links).
const BUILD_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "cmake",
    "clang",
    "libclang-dev",
    "libavcodec-dev",
    "libavformat-dev",
    "libavutil-dev",
    "libswresample-dev",
    "libpq-dev",
];

/// What the test suite needs on top: the `ffmpeg` CLI (tests generate audio), `fpcalc` (live
/// comparison of fingerprints) and a PostgreSQL server (storage tests on both backends).
const TEST_PACKAGES: &[&str] = &["ffmpeg", "libchromaprint-tools", "postgresql"];

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
}

pub fn ensure(purpose: Purpose) -> anyhow::Result<()> {
    if !util::on_path("dpkg-query") {
        eprintln!(
            "xtask: not a Debian-like system; make sure these are installed: {}",
            wanted(purpose).join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = wanted(purpose)
        .into_iter()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !util::is_root() {
        bail!(
            "missing system packages: {list}\nrun: sudo apt-get update && sudo apt-get install -y {list}"
        );
    }
    eprintln!("xtask: installing missing system packages: {list}");
    util::run_status(Command::new("apt-get").args(["update", "-qq"]))?;
    util::run_status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
    )
}

fn wanted(purpose: Purpose) -> Vec<&'static str> {
    let mut packages = BUILD_PACKAGES.to_vec();
    if purpose == Purpose::Test {
        packages.extend_from_slice(TEST_PACKAGES);
    }
    packages
}
