//! Peak memory of work done in a child process: the test binary re-runs one of its own tests
//! with an environment variable naming the input, and that test prints `PEAK_KIB=<VmHWM>`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// Runs test `test_name` of this binary alone with `variable` set to `file`; returns the peak
/// resident memory in KiB that the child printed.
pub fn child_peak_kib(test_name: &str, variable: &str, file: &Path) -> u64 {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(variable, file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness may print the test name on the same line.
    stdout
        .split("PEAK_KIB=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("the child prints its peak memory")
}

/// This process's peak resident memory (`VmHWM`) in KiB.
pub fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/self/status")
}
