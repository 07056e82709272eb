//! Batch file discovery on real temporary folders: the upstream selection rules, symlinks,
//! ordering, and the bounds on hostile trees and rules.

#![allow(clippy::expect_used, reason = "tests fail loudly on broken fixtures")]

use std::fs;
use std::path::{Path, PathBuf};

use recozik_core::batch::discover::{
    DEFAULT_EXTENSIONS, DiscoveryError, DiscoveryLimits, DiscoveryRules, discover,
};

/// A media root (canonical, as the callers pass it) with a `music` folder.
struct Library {
    _temp: tempfile::TempDir,
    root: PathBuf,
}

impl Library {
    fn new(files: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = fs::canonicalize(temp.path()).expect("canonical root");
        let library = Self { _temp: temp, root };
        fs::create_dir_all(library.music()).expect("music folder");
        for file in files {
            library.file(file);
        }
        library
    }

    fn music(&self) -> PathBuf {
        self.root.join("music")
    }

    fn file(&self, relative: &str) {
        let path = self.music().join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("folders");
        fs::write(path, b"x").expect("file");
    }

    fn run(&self, rules: &DiscoveryRules) -> Result<Vec<String>, DiscoveryError> {
        self.run_limited(rules, &DiscoveryLimits::default())
    }

    fn run_limited(
        &self,
        rules: &DiscoveryRules,
        limits: &DiscoveryLimits,
    ) -> Result<Vec<String>, DiscoveryError> {
        discover(&self.root, &self.music(), rules, limits)
    }

    fn found(&self, rules: &DiscoveryRules) -> Vec<String> {
        self.run(rules).expect("discovery")
    }
}

fn rules(recursive: bool, patterns: &[&str], extensions: &[&str]) -> DiscoveryRules {
    DiscoveryRules {
        recursive,
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
    }
}

fn under_music(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| format!("music/{name}")).collect()
}

#[test]
fn default_extensions_apply_without_patterns_or_extensions() {
    let mut files: Vec<String> = DEFAULT_EXTENSIONS
        .iter()
        .map(|extension| format!("track{extension}"))
        .collect();
    files.extend([
        "cover.jpg".to_owned(),
        "notes.txt".to_owned(),
        "README".to_owned(),
    ]);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let library = Library::new(&names);
    let found = library.found(&DiscoveryRules::default());
    let mut expected: Vec<String> = DEFAULT_EXTENSIONS
        .iter()
        .map(|extension| format!("music/track{extension}"))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn extensions_are_case_insensitive_and_normalised() {
    let library = Library::new(&["a.MP3", "b.mp3", "c.Flac", "d.wav", "e.mp3.txt"]);
    assert_eq!(
        library.found(&rules(false, &[], &["MP3", ".FLAC"])),
        under_music(&["a.MP3", "b.mp3", "c.Flac"])
    );
    // Default extensions are case-insensitive too.
    assert_eq!(
        library.found(&DiscoveryRules::default()),
        under_music(&["a.MP3", "b.mp3", "c.Flac", "d.wav"])
    );
}

#[test]
fn patterns_without_extensions_have_no_extension_filter() {
    let library = Library::new(&["live-1.mp3", "live-2.txt", "studio.mp3", ".live-hidden"]);
    assert_eq!(
        library.found(&rules(false, &["live*"], &[])),
        under_music(&["live-1.mp3", "live-2.txt"])
    );
    assert_eq!(
        library.found(&rules(false, &["*"], &[])),
        under_music(&[".live-hidden", "live-1.mp3", "live-2.txt", "studio.mp3"]),
        "hidden files are kept"
    );
}

#[test]
fn patterns_with_extensions_need_both() {
    let library = Library::new(&["live-1.mp3", "live-2.txt", "studio.mp3"]);
    assert_eq!(
        library.found(&rules(false, &["live*"], &["mp3"])),
        under_music(&["live-1.mp3"])
    );
}

#[test]
fn recursive_walks_every_level_and_flat_only_the_folder() {
    let library = Library::new(&["top.mp3", "a/one.mp3", "a/b/two.mp3", "a/b/c/d/three.flac"]);
    assert_eq!(
        library.found(&rules(false, &[], &[])),
        under_music(&["top.mp3"])
    );
    assert_eq!(
        library.found(&rules(true, &[], &[])),
        under_music(&["a/b/c/d/three.flac", "a/b/two.mp3", "a/one.mp3", "top.mp3"])
    );
    assert_eq!(
        library.found(&rules(true, &["t*"], &[])),
        under_music(&["a/b/c/d/three.flac", "a/b/two.mp3", "top.mp3"]),
        "name patterns match at any depth"
    );
}

#[test]
fn patterns_with_a_separator_match_the_relative_path() {
    let library = Library::new(&["disc1/a.flac", "disc2/b.flac", "box/disc1/c.flac", "d.flac"]);
    assert_eq!(
        library.found(&rules(false, &["disc1/*.flac"], &[])),
        under_music(&["disc1/a.flac"]),
        "a glob run from the folder reaches one level down"
    );
    assert_eq!(
        library.found(&rules(true, &["disc1/*.flac"], &[])),
        under_music(&["box/disc1/c.flac", "disc1/a.flac"]),
        "recursive: at any depth"
    );
    assert_eq!(
        library.found(&rules(false, &["**/*.flac"], &[])),
        under_music(&["box/disc1/c.flac", "d.flac", "disc1/a.flac", "disc2/b.flac"])
    );
}

#[cfg(unix)]
#[test]
fn symlinked_files_and_folders_are_skipped() {
    use std::os::unix::fs::symlink;
    let library = Library::new(&["real.mp3", "sub/inner.mp3"]);
    let outside = tempfile::tempdir().expect("outside");
    fs::write(outside.path().join("secret.mp3"), b"x").expect("outside file");
    symlink(
        library.music().join("real.mp3"),
        library.music().join("link.mp3"),
    )
    .expect("link");
    symlink(outside.path(), library.music().join("linked-folder")).expect("folder link");
    symlink(library.music().join("sub"), library.music().join("loop")).expect("loop link");
    assert_eq!(
        library.found(&rules(true, &[], &[])),
        under_music(&["real.mp3", "sub/inner.mp3"])
    );
    assert_eq!(
        library.found(&rules(false, &["*"], &[])),
        under_music(&["real.mp3"])
    );
}

#[cfg(unix)]
#[test]
fn the_folder_itself_may_not_be_a_symlink() {
    use std::os::unix::fs::symlink;
    let library = Library::new(&["a.mp3"]);
    let link = library.root.join("alias");
    symlink(library.music(), &link).expect("link");
    let error = discover(
        &library.root,
        &link,
        &DiscoveryRules::default(),
        &DiscoveryLimits::default(),
    )
    .expect_err("a symlinked folder");
    assert!(
        matches!(error, DiscoveryError::NotADirectory { .. }),
        "{error}"
    );
}

#[test]
fn order_is_by_path_component() {
    let library = Library::new(&["b.mp3", "B.mp3", "a-c.mp3", "a/b.mp3", "é.mp3", "a.mp3"]);
    assert_eq!(
        library.found(&rules(true, &[], &[])),
        under_music(&["B.mp3", "a/b.mp3", "a-c.mp3", "a.mp3", "b.mp3", "é.mp3"])
    );
}

#[test]
fn overlapping_patterns_give_each_file_once() {
    let library = Library::new(&["a.mp3", "ab.mp3", "sub/a.mp3"]);
    assert_eq!(
        library.found(&rules(true, &["a*", "*.mp3", "a.mp3", "sub/*"], &[])),
        under_music(&["a.mp3", "ab.mp3", "sub/a.mp3"])
    );
}

#[test]
fn paths_are_relative_to_the_root() {
    let library = Library::new(&["x/y/song.mp3"]);
    let found = discover(
        &library.root,
        &library.music().join("x"),
        &rules(true, &[], &[]),
        &DiscoveryLimits::default(),
    )
    .expect("discovery");
    assert_eq!(found, ["music/x/y/song.mp3"]);
    let from_root = discover(
        &library.root,
        &library.root,
        &rules(true, &[], &[]),
        &DiscoveryLimits::default(),
    )
    .expect("discovery");
    assert_eq!(from_root, ["music/x/y/song.mp3"]);
}

#[test]
fn too_many_files() {
    let library = Library::new(&["1.mp3", "2.mp3", "3.mp3", "4.txt"]);
    let limits = DiscoveryLimits {
        max_files: 3,
        ..DiscoveryLimits::default()
    };
    assert_eq!(
        library
            .run_limited(&DiscoveryRules::default(), &limits)
            .expect("exactly the limit")
            .len(),
        3
    );
    let limits = DiscoveryLimits {
        max_files: 2,
        ..DiscoveryLimits::default()
    };
    let error = library
        .run_limited(&DiscoveryRules::default(), &limits)
        .expect_err("over the limit");
    assert!(
        matches!(error, DiscoveryError::TooManyFiles { limit: 2 }),
        "{error}"
    );
}

#[test]
fn too_many_entries() {
    let library = Library::new(&["1.txt", "2.txt", "3.txt", "4.txt", "5.mp3"]);
    let limits = DiscoveryLimits {
        max_entries: 4,
        ..DiscoveryLimits::default()
    };
    let error = library
        .run_limited(&DiscoveryRules::default(), &limits)
        .expect_err("non-matching entries count too");
    assert!(
        matches!(error, DiscoveryError::TooManyEntries { limit: 4 }),
        "{error}"
    );
}

#[test]
fn too_deep() {
    let library = Library::new(&["1/2/3/deep.mp3", "top.mp3"]);
    let limits = DiscoveryLimits {
        max_depth: 2,
        ..DiscoveryLimits::default()
    };
    let error = library
        .run_limited(&rules(true, &[], &[]), &limits)
        .expect_err("three levels");
    assert!(
        matches!(error, DiscoveryError::TooDeep { limit: 2 }),
        "{error}"
    );
    assert_eq!(
        library
            .run_limited(&rules(false, &[], &[]), &limits)
            .expect("a flat walk never descends"),
        under_music(&["top.mp3"])
    );
}

#[test]
fn pattern_bounds() {
    let library = Library::new(&["a.mp3"]);
    let limits = DiscoveryLimits::default();
    let many: Vec<String> = (0..=limits.max_patterns).map(|i| format!("{i}*")).collect();
    let error = library
        .run(&DiscoveryRules {
            patterns: many.clone(),
            ..DiscoveryRules::default()
        })
        .expect_err("too many patterns");
    assert!(
        matches!(error, DiscoveryError::TooManyPatterns { limit: 32 }),
        "{error}"
    );
    let error = library
        .run(&DiscoveryRules {
            extensions: many,
            ..DiscoveryRules::default()
        })
        .expect_err("too many extensions");
    assert!(
        matches!(error, DiscoveryError::TooManyExtensions { limit: 32 }),
        "{error}"
    );
    let long = "*".repeat(limits.max_pattern_len + 1);
    let error = library
        .run(&rules(false, &[&long], &[]))
        .expect_err("long pattern");
    assert!(
        matches!(error, DiscoveryError::PatternTooLong { limit: 256 }),
        "{error}"
    );
    assert!(!error.to_string().contains(&long), "not echoed");
    let error = library
        .run(&rules(false, &[], &[&long]))
        .expect_err("long extension");
    assert!(
        matches!(error, DiscoveryError::PatternTooLong { .. }),
        "{error}"
    );
}

#[test]
fn invalid_glob_names_the_pattern() {
    let library = Library::new(&["a.mp3"]);
    for bad in ["[a-", "{a,b", "../*.mp3", "/etc/*", ""] {
        let error = library
            .run(&rules(false, &["*.mp3", bad], &[]))
            .expect_err("invalid pattern");
        match error {
            DiscoveryError::InvalidPattern { pattern, .. } => assert_eq!(pattern, bad),
            other => panic!("{bad:?}: {other}"),
        }
    }
    let error = library
        .run(&rules(false, &[], &["."]))
        .expect_err("invalid extension");
    assert!(
        matches!(error, DiscoveryError::InvalidExtension { .. }),
        "{error}"
    );
}

#[test]
fn the_folder_must_be_a_folder() {
    let library = Library::new(&["a.mp3"]);
    let run = |directory: &Path| {
        discover(
            &library.root,
            directory,
            &DiscoveryRules::default(),
            &DiscoveryLimits::default(),
        )
        .expect_err("refused")
    };
    let error = run(&library.music().join("a.mp3"));
    assert!(
        matches!(error, DiscoveryError::NotADirectory { .. }),
        "{error}"
    );
    let error = run(&library.music().join("missing"));
    assert!(matches!(error, DiscoveryError::NotFound { .. }), "{error}");
}

#[test]
fn the_folder_must_be_under_the_root() {
    let library = Library::new(&["a.mp3"]);
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    fs::write(elsewhere.path().join("b.mp3"), b"x").expect("file");
    let run = |directory: &Path| {
        discover(
            &library.root,
            directory,
            &DiscoveryRules::default(),
            &DiscoveryLimits::default(),
        )
        .expect_err("refused")
    };
    let error = run(elsewhere.path());
    assert!(
        matches!(error, DiscoveryError::OutsideRoot { .. }),
        "{error}"
    );
    let error = run(&library.root.join("music/../.."));
    assert!(
        matches!(error, DiscoveryError::OutsideRoot { .. }),
        "{error}"
    );
    let error = run(Path::new("music"));
    assert!(
        matches!(error, DiscoveryError::OutsideRoot { .. }),
        "relative: {error}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_ancestor_cannot_lead_out_of_the_root() {
    use std::os::unix::fs::symlink;
    let library = Library::new(&[]);
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    fs::create_dir(elsewhere.path().join("inner")).expect("folder");
    fs::write(elsewhere.path().join("inner/b.mp3"), b"x").expect("file");
    symlink(elsewhere.path(), library.root.join("escape")).expect("link");
    let error = discover(
        &library.root,
        &library.root.join("escape/inner"),
        &DiscoveryRules::default(),
        &DiscoveryLimits::default(),
    )
    .expect_err("refused");
    assert!(
        matches!(error, DiscoveryError::OutsideRoot { .. }),
        "{error}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn names_that_are_not_utf8_are_skipped() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let library = Library::new(&["ok.mp3"]);
    let bad = OsStr::from_bytes(b"bad-\xff.mp3");
    fs::write(library.music().join(bad), b"x").expect("non-UTF-8 name");
    let bad_folder = library.music().join(OsStr::from_bytes(b"folder-\xfe"));
    fs::create_dir(&bad_folder).expect("non-UTF-8 folder");
    fs::write(bad_folder.join("inside.mp3"), b"x").expect("file");
    assert_eq!(
        library.found(&rules(true, &[], &[])),
        under_music(&["ok.mp3"])
    );
}

#[cfg(unix)]
#[test]
fn an_unreadable_sub_folder_is_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let library = Library::new(&["ok.mp3", "locked/hidden.mp3"]);
    let locked = library.music().join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    // Root reads it anyway; then there is nothing to show, only that it does not fail.
    let readable = fs::read_dir(&locked).is_ok();
    let found = library.found(&rules(true, &[], &[]));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
    if readable {
        assert_eq!(found, under_music(&["locked/hidden.mp3", "ok.mp3"]));
    } else {
        assert_eq!(found, under_music(&["ok.mp3"]));
    }
}
