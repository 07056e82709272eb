//! Shared set-up of the hostile-corpus tests: a media root holding the hostile files and the
//! marker copies around it.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::expect_used)] // test helpers report failures by panicking

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use recozik_core::{FingerprintOptions, fingerprint_file};

/// Where the absolute-path playlists of the corpus point (`xtask/src/hostile.rs`).
pub const ABSOLUTE_MARKER: &str = "/tmp/recozik-hostile/marker.mp3";

pub struct HostileCorpus {
    _dir: tempfile::TempDir,
    /// The media root: the hostile files and a copy of the marker (what a sibling upload could be).
    pub root: PathBuf,
    /// The committed fixtures folder.
    pub fixtures: PathBuf,
    pub marker_fingerprint: String,
    names: Vec<String>,
}

impl HostileCorpus {
    pub fn prepare() -> Self {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let marker = fixtures.join("marker/marker.mp3");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).expect("root");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(fixtures.join("hostile")).expect("hostile corpus") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            std::fs::copy(entry.path(), root.join(&name)).expect("copy");
            names.push(name);
        }
        names.sort();
        assert!(names.len() >= 20, "the hostile corpus is missing files");
        std::fs::copy(&marker, dir.path().join("marker.mp3")).expect("marker beside the root");
        std::fs::copy(&marker, root.join("marker.mp3")).expect("marker in the root");
        install_absolute_marker(&marker);
        let marker_fingerprint = fingerprint_file(&marker, &FingerprintOptions::default())
            .expect("the marker is good audio")
            .fingerprint;
        Self {
            _dir: dir,
            root,
            fixtures,
            marker_fingerprint,
            names,
        }
    }

    /// The hostile files' names, sorted (the marker copy excluded).
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }
}

/// Puts the marker at [`ABSOLUTE_MARKER`]; concurrent tests write it through a rename, so a
/// reader never sees half a file.
fn install_absolute_marker(marker: &Path) {
    static STAGED: AtomicUsize = AtomicUsize::new(0);
    let target = Path::new(ABSOLUTE_MARKER);
    let parent = target.parent().expect("parent");
    std::fs::create_dir_all(parent).expect("marker folder");
    let staging = parent.join(format!(
        "marker.{}.{}.tmp",
        std::process::id(),
        STAGED.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::copy(marker, &staging).expect("stage marker");
    std::fs::rename(&staging, target).expect("install marker");
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
pub fn peak_memory_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

/// Writes a line to the real standard error, past the test harness's capture, so that every
/// file's outcome shows in the suite's log.
pub fn report(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}
