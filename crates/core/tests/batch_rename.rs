//! `rename-from-log` planning, applying and undoing on temporary folders: upstream's rules and
//! messages, and the hostile cases (links, `..`, absolute paths, odd names, tampered plans).
// Helpers outside `#[test]` functions may unwrap too: a failing setup is a failing test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use recozik_core::batch::entry::{BatchEntry, EntryStatus, LogMatch};
use recozik_core::batch::rename::{
    AppliedMove, ConflictStrategy, Journal, NoJournal, PlannedMove, ProposalSource, RenameOptions,
    RenamePlan, apply, plan, undo,
};
use recozik_core::metadata::EmbeddedMetadata;
use tempfile::TempDir;

fn root() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn touch(root: &Path, rel: &str, content: &str) -> PathBuf {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, content).unwrap();
    path
}

fn found(root: &Path, rel: &str) -> Option<String> {
    fs::read_to_string(root.join(rel)).ok()
}

fn m(rank: u32, artist: &str, title: &str) -> LogMatch {
    LogMatch {
        rank,
        formatted: format!("{artist} - {title}"),
        score: Some(0.9),
        recording_id: Some(format!("rec-{rank}")),
        artist: Some(artist.to_owned()),
        title: Some(title.to_owned()),
        album: None,
        release_group_id: None,
        release_id: None,
    }
}

fn ok(path: &str, matches: Vec<LogMatch>) -> BatchEntry {
    BatchEntry {
        path: path.to_owned(),
        duration_seconds: Some(200.0),
        error: None,
        status: EntryStatus::Ok,
        note: None,
        matches,
        metadata: None,
    }
}

fn unmatched(path: &str, metadata: Option<EmbeddedMetadata>) -> BatchEntry {
    BatchEntry {
        status: EntryStatus::Unmatched,
        note: Some("No match.".to_owned()),
        metadata,
        ..ok(path, Vec::new())
    }
}

fn tags(artist: &str, title: &str) -> EmbeddedMetadata {
    EmbeddedMetadata {
        artist: Some(artist.to_owned()),
        title: Some(title.to_owned()),
        album: None,
    }
}

fn options() -> RenameOptions {
    RenameOptions::default()
}

fn with_template(template: &str) -> RenameOptions {
    RenameOptions {
        template: template.to_owned(),
        ..options()
    }
}

fn with_conflict(strategy: ConflictStrategy) -> RenameOptions {
    RenameOptions {
        on_conflict: strategy,
        ..options()
    }
}

fn targets(plan: &RenamePlan) -> Vec<(&str, &str)> {
    plan.planned
        .iter()
        .map(|p| (p.source.as_str(), p.target.as_str()))
        .collect()
}

fn skipped(plan: &RenamePlan) -> Vec<&str> {
    plan.skipped.iter().map(|s| s.message.as_str()).collect()
}

fn errors(plan: &RenamePlan) -> Vec<&str> {
    plan.errors.iter().map(|s| s.message.as_str()).collect()
}

fn notices(plan: &RenamePlan) -> Vec<&str> {
    plan.notices.iter().map(|s| s.message.as_str()).collect()
}

#[cfg(unix)]
fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(original, link).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Target names

#[test]
fn plans_a_rename_with_relative_paths_and_the_export_shape() {
    let dir = root();
    touch(dir.path(), "music/track01.mp3", "a");
    let plan = plan(
        dir.path(),
        [ok(
            "music/track01.mp3",
            vec![m(1, "Daft Punk", "One More Time")],
        )],
        &options(),
    );
    assert_eq!(
        targets(&plan),
        vec![("music/track01.mp3", "music/Daft Punk - One More Time.mp3")]
    );
    assert_eq!(
        (
            plan.summary.planned,
            plan.summary.skipped,
            plan.summary.errors
        ),
        (1, 0, 0)
    );
    let text = serde_json::to_string(&plan.planned[0]).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(
        at("source") < at("target") && at("target") < at("applied") && at("applied") < at("match")
    );
    let json = serde_json::to_value(&plan.planned[0]).unwrap();
    assert_eq!(json["applied"], false);
    assert_eq!(json["match"]["artist"], "Daft Punk");
    assert_eq!(json["match"]["rank"], 1);
    assert!(json["match"].get("source").is_none());
    // Nothing moved yet.
    assert_eq!(found(dir.path(), "music/track01.mp3").as_deref(), Some("a"));
    // The serialised plan carries no absolute path.
    let text = serde_json::to_string(&plan).unwrap();
    assert!(!text.contains(dir.path().to_str().unwrap()));
}

#[test]
fn every_placeholder_renders() {
    let dir = root();
    touch(dir.path(), "a.flac", "");
    let mut full = m(1, "Artist", "Title");
    full.album = Some("Album".to_owned());
    full.score = Some(0.876);
    full.release_group_id = Some("rg".to_owned());
    full.release_id = Some("rel".to_owned());
    let template = "{artist}|{title}|{album}|{score}|{recording_id}|{release_group_id}|{release_id}|{stem}|{ext}|{unknown}";
    let plan = plan(
        dir.path(),
        [ok("a.flac", vec![full])],
        &with_template(template),
    );
    assert_eq!(
        plan.planned[0].target,
        "Artist_Title_Album_0.88_rec-1_rg_rel_a_.flac_.flac"
    );
}

#[test]
fn empty_values_get_their_defaults() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let mut bare = m(1, "", "");
    bare.title = None;
    bare.score = None;
    let plan = plan(
        dir.path(),
        [ok("a.mp3", vec![bare])],
        &with_template("{artist} - {title} [{album}{score}]"),
    );
    assert_eq!(
        plan.planned[0].target,
        "Unknown artist - Unknown title [].mp3"
    );
}

#[test]
fn a_template_that_fails_uses_the_formatted_text_then_the_default() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    let mut formatted = m(1, "A", "T");
    formatted.formatted = "From the log".to_owned();
    let mut bare = m(1, "B", "U");
    bare.formatted = String::new();
    let plan = plan(
        dir.path(),
        [ok("a.mp3", vec![formatted]), ok("b.mp3", vec![bare])],
        &with_template("{artist:d}"),
    );
    assert_eq!(
        targets(&plan),
        vec![("a.mp3", "From the log.mp3"), ("b.mp3", "B - U.mp3")]
    );
    assert!(notices(&plan)[0].starts_with("Template error"));
}

#[test]
fn names_are_sanitised_and_stay_in_the_source_folder() {
    let dir = root();
    touch(dir.path(), "sub/a.mp3", "");
    let plan = plan(
        dir.path(),
        [ok("sub/a.mp3", vec![m(1, "../../AC/DC", "What?  <*>")])],
        &options(),
    );
    assert_eq!(plan.planned[0].target, "sub/_.._AC_DC - What_  ___.mp3");
    apply(dir.path(), &plan, &options(), &mut NoJournal);
    assert!(dir.path().join("sub/_.._AC_DC - What_  ___.mp3").is_file());
    // No folder was created anywhere.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
}

#[test]
fn a_template_with_a_slash_cannot_create_folders() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let plan = plan(
        dir.path(),
        [ok("a.mp3", vec![m(1, "X", "Y")])],
        &with_template("{artist}/{title}/../../{title}"),
    );
    assert_eq!(plan.planned[0].target, "X_Y_.._.._Y.mp3");
}

#[test]
fn a_template_of_dots_falls_back_to_the_source_stem() {
    let dir = root();
    touch(dir.path(), "track.mp3", "");
    touch(dir.path(), "other.mp3", "");
    let plan = plan(
        dir.path(),
        [
            ok("track.mp3", vec![m(1, "A", "T")]),
            ok("other.mp3", vec![m(1, "A", "T")]),
        ],
        &with_template(". . .."),
    );
    assert!(plan.planned.is_empty());
    assert_eq!(
        skipped(&plan),
        vec![
            "Already named correctly: track.mp3",
            "Already named correctly: other.mp3"
        ]
    );
}

#[test]
fn the_extension_is_appended_unless_present_in_any_case() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    touch(dir.path(), "noext", "");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "Song.MP3")]),
            ok("b.mp3", vec![m(1, "B", "Song")]),
            ok("noext", vec![m(1, "C", "Song")]),
        ],
        &with_template("{title}"),
    );
    assert_eq!(
        targets(&plan),
        vec![
            ("a.mp3", "Song.MP3"),
            ("b.mp3", "Song.mp3"),
            ("noext", "Song")
        ]
    );
}

#[test]
fn very_long_values_give_a_name_that_fits() {
    let dir = root();
    touch(dir.path(), "a.flac", "");
    let plan = plan(
        dir.path(),
        [ok("a.flac", vec![m(1, &"é".repeat(50_000), "T")])],
        &options(),
    );
    let target = &plan.planned[0].target;
    assert!(target.len() <= 255, "{target}");
    assert_eq!(Path::new(target).extension(), Some("flac".as_ref()));
    let outcome = apply(dir.path(), &plan, &options(), &mut NoJournal);
    assert_eq!(outcome.summary.renamed, 1, "{:?}", outcome.errors);
}

// ---------------------------------------------------------------------------------------------
// Paths and confinement

#[test]
fn entries_without_a_path_outside_the_root_or_missing_are_errors() {
    let dir = root();
    let inner = dir.path().join("root");
    fs::create_dir(&inner).unwrap();
    touch(dir.path(), "outside.mp3", "secret");
    let absolute = dir.path().join("outside.mp3").to_str().unwrap().to_owned();
    let plan = plan(
        &inner,
        [
            ok("", vec![m(1, "A", "T")]),
            ok("../outside.mp3", vec![m(1, "A", "T")]),
            ok("sub/../../outside.mp3", vec![m(1, "A", "T")]),
            ok(&absolute, vec![m(1, "A", "T")]),
            ok("missing.mp3", vec![m(1, "A", "T")]),
        ],
        &options(),
    );
    assert!(plan.planned.is_empty());
    assert_eq!(
        errors(&plan),
        vec![
            "Entry without a path: skipped.".to_owned(),
            "Entry outside root directory, skipped: ../outside.mp3".to_owned(),
            "Entry outside root directory, skipped: sub/../../outside.mp3".to_owned(),
            format!("Entry outside root directory, skipped: {absolute}"),
            "File not found, skipped: missing.mp3".to_owned(),
        ]
    );
    assert_eq!(plan.summary.errors, 5);
    assert_eq!(plan.errors[0].path, None);
    assert_eq!(found(dir.path(), "outside.mp3").as_deref(), Some("secret"));
}

#[test]
fn hostile_entry_paths_are_refused() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let long_component = format!("{}.mp3", "x".repeat(300));
    let huge = "y".repeat(100_000);
    let plan = plan(
        dir.path(),
        [
            ok("a\0.mp3", vec![m(1, "A", "T")]),
            ok(&huge, vec![m(1, "A", "T")]),
            ok(&long_component, vec![m(1, "A", "T")]),
            ok(".", vec![m(1, "A", "T")]),
            ok("a.mp3/x", vec![m(1, "A", "T")]),
        ],
        &options(),
    );
    assert!(plan.planned.is_empty());
    let messages = errors(&plan);
    assert_eq!(messages[0], "Invalid path, skipped: a\u{FFFD}.mp3");
    assert!(messages[1].starts_with("Invalid path, skipped: yyy"));
    assert!(messages[1].len() < 300, "messages are bounded");
    assert_eq!(
        messages[2],
        format!("File not found, skipped: {long_component}")
    );
    assert_eq!(messages[3], "Invalid path, skipped: .");
    assert_eq!(messages[4], "File not found, skipped: a.mp3/x");
    // Paths are normalised before use.
    let plan2 = recozik_core::batch::rename::plan(
        dir.path(),
        [ok("./a.mp3", vec![m(1, "A", "T")])],
        &options(),
    );
    assert_eq!(targets(&plan2), vec![("a.mp3", "A - T.mp3")]);
}

#[test]
fn folders_are_not_files() {
    let dir = root();
    fs::create_dir(dir.path().join("album.mp3")).unwrap();
    let plan = plan(
        dir.path(),
        [ok("album.mp3", vec![m(1, "A", "T")])],
        &options(),
    );
    assert_eq!(
        skipped(&plan),
        vec!["Not a regular file, skipped: album.mp3"]
    );
}

#[cfg(unix)]
#[test]
fn symlinked_sources_and_folders_are_skipped() {
    let dir = root();
    let outside = root();
    touch(outside.path(), "secret.mp3", "secret");
    touch(dir.path(), "real.mp3", "real");
    touch(outside.path(), "far/x.mp3", "far");
    symlink(dir.path().join("real.mp3"), dir.path().join("link.mp3"));
    symlink(
        outside.path().join("secret.mp3"),
        dir.path().join("escape.mp3"),
    );
    symlink(outside.path().join("far"), dir.path().join("far"));
    fs::create_dir(dir.path().join("inner")).unwrap();
    symlink(dir.path().join("inner"), dir.path().join("alias"));
    touch(dir.path(), "inner/y.mp3", "y");
    let plan = plan(
        dir.path(),
        [
            ok("link.mp3", vec![m(1, "A", "T")]),
            ok("escape.mp3", vec![m(1, "A", "T")]),
            ok("far/x.mp3", vec![m(1, "A", "T")]),
            ok("alias/y.mp3", vec![m(1, "A", "T")]),
        ],
        &options(),
    );
    assert!(plan.planned.is_empty());
    assert_eq!(
        skipped(&plan),
        vec![
            "Symbolic link, skipped: link.mp3",
            "Symbolic link, skipped: escape.mp3",
            "Symbolic link, skipped: far/x.mp3",
            "Symbolic link, skipped: alias/y.mp3",
        ]
    );
    assert_eq!(
        found(outside.path(), "secret.mp3").as_deref(),
        Some("secret")
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_target_is_never_written_through() {
    let outside = root();
    touch(outside.path(), "victim.mp3", "victim");
    for strategy in [
        ConflictStrategy::Append,
        ConflictStrategy::Skip,
        ConflictStrategy::Overwrite,
    ] {
        let dir = root();
        touch(dir.path(), "a.mp3", "a");
        symlink(
            outside.path().join("victim.mp3"),
            dir.path().join("A - T.mp3"),
        );
        let options = with_conflict(strategy);
        let plan = plan(dir.path(), [ok("a.mp3", vec![m(1, "A", "T")])], &options);
        match strategy {
            ConflictStrategy::Append => {
                assert_eq!(targets(&plan), vec![("a.mp3", "A - T-1.mp3")]);
            }
            ConflictStrategy::Skip => {
                assert_eq!(
                    skipped(&plan),
                    vec!["Unresolved collision, file skipped: a.mp3"]
                );
            }
            ConflictStrategy::Overwrite => assert_eq!(
                skipped(&plan),
                vec!["Target is a symbolic link, file skipped: a.mp3 -> A - T.mp3"]
            ),
        }
        apply(dir.path(), &plan, &options, &mut NoJournal);
        assert!(
            fs::symlink_metadata(dir.path().join("A - T.mp3"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            found(outside.path(), "victim.mp3").as_deref(),
            Some("victim")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Matches, metadata and branches

#[test]
fn required_template_fields_drop_matches_with_the_upstream_message() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    let mut no_album = m(1, "A", "T");
    no_album.album = Some("  ".to_owned());
    let mut complete = m(2, "A", "T2");
    complete.album = Some("Album".to_owned());
    let options = RenameOptions {
        template: "{album} - {title} {release_id}{unknown}".to_owned(),
        require_template_fields: true,
        ..options()
    };
    let mut with_release = complete.clone();
    with_release.release_id = Some("r".to_owned());
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![no_album, with_release]),
            ok("b.mp3", vec![complete]),
        ],
        &options,
    );
    assert_eq!(targets(&plan), vec![("a.mp3", "Album - T2 r.mp3")]);
    assert_eq!(
        notices(&plan),
        vec![
            "Match skipped for a.mp3: missing template values (album, release_id).",
            "Match skipped for b.mp3: missing template values (release_id).",
        ]
    );
    assert_eq!(skipped(&plan), vec!["No proposal for: b.mp3"]);
}

#[test]
fn duplicate_target_names_are_dropped_ignoring_case() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let matches = vec![m(1, "A", "Song"), m(2, "a", "SONG"), m(3, "B", "Other")];
    let plan1 = plan(dir.path(), [ok("a.mp3", matches.clone())], &options());
    assert_eq!(plan1.choices.len(), 1);
    let names: Vec<&str> = plan1.choices[0]
        .proposals
        .iter()
        .map(|c| c.target.as_str())
        .collect();
    assert_eq!(names, ["A - Song.mp3", "B - Other.mp3"]);

    let keep = RenameOptions {
        deduplicate_template: false,
        ..options()
    };
    let plan2 = plan(dir.path(), [ok("a.mp3", matches)], &keep);
    assert_eq!(plan2.choices[0].proposals.len(), 3);
}

#[test]
fn unmatched_entries_use_embedded_metadata() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    touch(dir.path(), "c.mp3", "");
    let padded = Some(EmbeddedMetadata {
        artist: Some("  Tag Artist ".to_owned()),
        title: Some(" ".to_owned()),
        album: None,
    });
    let plan1 = plan(
        dir.path(),
        [
            unmatched("a.mp3", Some(tags("Tag Artist", "Tag Title"))),
            unmatched("b.mp3", padded),
            unmatched("c.mp3", None),
        ],
        &options(),
    );
    assert_eq!(
        targets(&plan1),
        vec![
            ("a.mp3", "Tag Artist - Tag Title.mp3"),
            ("b.mp3", "Tag Artist - Unknown title.mp3"),
        ]
    );
    assert_eq!(
        notices(&plan1),
        vec![
            "No AcoustID match for a.mp3, using embedded metadata.",
            "No AcoustID match for b.mp3, using embedded metadata.",
        ]
    );
    assert_eq!(skipped(&plan1), vec!["No proposal for: c.mp3 (No match.)"]);
    let pseudo = &plan1.planned[0].proposal;
    assert_eq!(pseudo.source, Some(ProposalSource::Metadata));
    assert_eq!(pseudo.score, None);
    assert_eq!(pseudo.rank, None);
    assert_eq!(pseudo.formatted, "Tag Artist - Tag Title");
    let json = serde_json::to_value(pseudo).unwrap();
    assert_eq!(json["source"], "metadata");
    assert!(json["score"].is_null() && json["recording_id"].is_null());

    let off = RenameOptions {
        metadata_fallback: false,
        ..options()
    };
    let mut no_note = unmatched("a.mp3", Some(tags("X", "Y")));
    no_note.note = None;
    let plan2 = plan(dir.path(), [no_note], &off);
    assert_eq!(skipped(&plan2), vec!["No proposal for: a.mp3"]);
}

#[test]
fn entries_with_errors() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    touch(dir.path(), "c.mp3", "");
    let failed = |path: &str, matches, metadata| BatchEntry {
        status: EntryStatus::Error,
        error: Some("boom".to_owned()),
        metadata,
        ..ok(path, matches)
    };
    let plan = plan(
        dir.path(),
        [
            failed("a.mp3", vec![m(1, "A", "T")], None),
            failed("b.mp3", Vec::new(), Some(tags("Meta", "Data"))),
            failed("c.mp3", Vec::new(), None),
        ],
        &options(),
    );
    assert_eq!(targets(&plan), vec![("b.mp3", "Meta - Data.mp3")]);
    assert_eq!(
        skipped(&plan),
        vec![
            "Entry with error, skipped: a.mp3 (boom)",
            "Entry with error, skipped: c.mp3 (boom)",
        ]
    );
}

#[test]
fn ok_entries_without_matches() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    let mut with_tags = ok("b.mp3", Vec::new());
    with_tags.metadata = Some(tags("M", "D"));
    let plan = plan(dir.path(), [ok("a.mp3", Vec::new()), with_tags], &options());
    assert_eq!(skipped(&plan), vec!["No proposal for: a.mp3"]);
    assert_eq!(targets(&plan), vec![("b.mp3", "M - D.mp3")]);
}

#[test]
fn selection_picks_a_proposal_or_skips_out_of_range() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "sub/b.mp3", "");
    let matches = vec![m(1, "A", "One"), m(2, "A", "Two")];
    let options = RenameOptions {
        select: HashMap::from([("a.mp3".to_owned(), 1), ("sub/b.mp3".to_owned(), 5)]),
        ..options()
    };
    let plan = plan(
        dir.path(),
        [ok("a.mp3", matches.clone()), ok("./sub/b.mp3", matches)],
        &options,
    );
    assert_eq!(targets(&plan), vec![("a.mp3", "A - Two.mp3")]);
    assert_eq!(plan.planned[0].proposal.rank, Some(2));
    assert_eq!(
        skipped(&plan),
        vec!["Selection 5 is out of range for b.mp3 (2 proposal(s)), skipped."]
    );
    assert_eq!(plan.choices[0].selected, 1);
    assert_eq!(plan.choices[1].path, "sub/b.mp3");
}

#[test]
fn already_named_correctly() {
    let dir = root();
    touch(dir.path(), "A - T.mp3", "");
    let plan = plan(
        dir.path(),
        [ok("A - T.mp3", vec![m(1, "A", "T")])],
        &options(),
    );
    assert_eq!(skipped(&plan), vec!["Already named correctly: A - T.mp3"]);
    assert_eq!(plan.summary.skipped, 1);
}

#[test]
fn repeated_entries_are_planned_once() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("./a.mp3", vec![m(1, "B", "U")]),
        ],
        &options(),
    );
    assert_eq!(targets(&plan), vec![("a.mp3", "A - T.mp3")]);
    assert_eq!(skipped(&plan), vec!["Duplicate entry, skipped: a.mp3"]);
}

// ---------------------------------------------------------------------------------------------
// Conflicts

#[test]
fn append_numbers_existing_and_planned_targets() {
    let dir = root();
    touch(dir.path(), "A - T.mp3", "existing");
    touch(dir.path(), "a.mp3", "a");
    touch(dir.path(), "b.mp3", "b");
    touch(dir.path(), "c.mp3", "c");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("b.mp3", vec![m(1, "A", "T")]),
            ok("c.mp3", vec![m(1, "A", "T")]),
        ],
        &options(),
    );
    assert_eq!(
        targets(&plan),
        vec![
            ("a.mp3", "A - T-1.mp3"),
            ("b.mp3", "A - T-2.mp3"),
            ("c.mp3", "A - T-3.mp3"),
        ]
    );
    let outcome = apply(dir.path(), &plan, &options(), &mut NoJournal);
    assert_eq!(outcome.summary.renamed, 3);
    assert_eq!(found(dir.path(), "A - T.mp3").as_deref(), Some("existing"));
    assert_eq!(found(dir.path(), "A - T-2.mp3").as_deref(), Some("b"));
}

#[test]
fn append_does_not_rename_a_file_to_its_own_numbered_name() {
    let dir = root();
    touch(dir.path(), "A - T.mp3", "existing");
    touch(dir.path(), "A - T-1.mp3", "mine");
    let plan = plan(
        dir.path(),
        [ok("A - T-1.mp3", vec![m(1, "A", "T")])],
        &options(),
    );
    assert_eq!(skipped(&plan), vec!["Already named correctly: A - T-1.mp3"]);
}

#[test]
fn skip_leaves_collisions_alone() {
    let dir = root();
    touch(dir.path(), "A - T.mp3", "existing");
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    touch(dir.path(), "c.mp3", "");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("b.mp3", vec![m(1, "B", "U")]),
            ok("c.mp3", vec![m(1, "B", "U")]),
        ],
        &with_conflict(ConflictStrategy::Skip),
    );
    assert_eq!(targets(&plan), vec![("b.mp3", "B - U.mp3")]);
    assert_eq!(
        skipped(&plan),
        vec![
            "Unresolved collision, file skipped: a.mp3",
            "Unresolved collision, file skipped: c.mp3",
        ]
    );
}

#[test]
fn overwrite_replaces_existing_files_but_not_planned_targets() {
    let dir = root();
    touch(dir.path(), "A - T.mp3", "existing");
    touch(dir.path(), "a.mp3", "new");
    touch(dir.path(), "b.mp3", "b");
    let options = with_conflict(ConflictStrategy::Overwrite);
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("b.mp3", vec![m(1, "A", "T")]),
            // Its file is replaced by the first move: never moved afterwards.
            ok("A - T.mp3", vec![m(1, "C", "V")]),
        ],
        &options,
    );
    assert_eq!(targets(&plan), vec![("a.mp3", "A - T.mp3")]);
    assert_eq!(
        skipped(&plan),
        vec![
            "Unresolved collision, file skipped: b.mp3",
            "Replaced by an earlier rename, skipped: A - T.mp3",
        ]
    );
    let outcome = apply(dir.path(), &plan, &options, &mut NoJournal);
    assert_eq!(outcome.summary.renamed, 1);
    assert!(outcome.applied[0].overwrote);
    assert_eq!(found(dir.path(), "A - T.mp3").as_deref(), Some("new"));
    assert!(!dir.path().join("a.mp3").exists());
}

#[test]
fn overwrite_never_replaces_a_folder() {
    let dir = root();
    fs::create_dir(dir.path().join("A - T.mp3")).unwrap();
    touch(dir.path(), "a.mp3", "");
    let plan = plan(
        dir.path(),
        [ok("a.mp3", vec![m(1, "A", "T")])],
        &with_conflict(ConflictStrategy::Overwrite),
    );
    assert_eq!(
        skipped(&plan),
        vec!["Target is not a regular file, file skipped: a.mp3 -> A - T.mp3"]
    );
}

#[test]
fn conflict_strategies_parse() {
    assert_eq!(
        ConflictStrategy::parse("append"),
        Some(ConflictStrategy::Append)
    );
    assert_eq!("skip".parse(), Ok(ConflictStrategy::Skip));
    assert_eq!("overwrite".parse(), Ok(ConflictStrategy::Overwrite));
    assert!("Append".parse::<ConflictStrategy>().is_err());
    assert_eq!(ConflictStrategy::default(), ConflictStrategy::Append);
    assert_eq!(
        serde_json::to_string(&ConflictStrategy::Overwrite).unwrap(),
        "\"overwrite\""
    );
}

// ---------------------------------------------------------------------------------------------
// Apply, backup and journal

/// Records the journal calls in order; can be told to fail.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    fail_before: Option<String>,
    fail_after: Option<String>,
}

impl Journal for Recorder {
    fn before_move(&mut self, planned: &PlannedMove) -> io::Result<()> {
        self.calls.push(format!("before {}", planned.source));
        if self.fail_before.as_deref() == Some(planned.source.as_str()) {
            return Err(io::Error::other("disk full at /secret/journal"));
        }
        Ok(())
    }

    fn after_move(&mut self, applied: &AppliedMove) -> io::Result<()> {
        self.calls.push(format!("after {}", applied.source));
        if self.fail_after.as_deref() == Some(applied.source.as_str()) {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

#[test]
fn apply_moves_files_in_order_and_journals_each_move() {
    let dir = root();
    touch(dir.path(), "a.mp3", "aaaa");
    touch(dir.path(), "sub/b.mp3", "bb");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("sub/b.mp3", vec![m(1, "B", "U")]),
            ok("missing.mp3", vec![m(1, "C", "V")]),
        ],
        &options(),
    );
    let mut journal = Recorder::default();
    let outcome = apply(dir.path(), &plan, &options(), &mut journal);
    assert_eq!(
        journal.calls,
        [
            "before a.mp3",
            "after a.mp3",
            "before sub/b.mp3",
            "after sub/b.mp3"
        ]
    );
    assert!(!outcome.interrupted);
    assert_eq!(
        (
            outcome.summary.renamed,
            outcome.summary.skipped,
            outcome.summary.errors
        ),
        (2, 0, 1)
    );
    assert!(outcome.moves.iter().all(|m| m.applied));
    assert_eq!(found(dir.path(), "A - T.mp3").as_deref(), Some("aaaa"));
    assert_eq!(found(dir.path(), "sub/B - U.mp3").as_deref(), Some("bb"));
    let first = &outcome.applied[0];
    assert_eq!(
        (first.source.as_str(), first.target.as_str()),
        ("a.mp3", "A - T.mp3")
    );
    assert_eq!(first.size, 4);
    let mtime = fs::metadata(dir.path().join("A - T.mp3"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert_eq!(first.modified_ns.map(i128::from), Some(mtime as i128));
    assert_eq!(first.backup, None);
    assert!(!first.overwrote);
    let json = serde_json::to_value(&outcome.moves[0]).unwrap();
    assert_eq!(json["applied"], true);
}

#[test]
fn backups_copy_the_original_and_never_overwrite_a_backup() {
    let dir = root();
    let backups = root();
    let backup_dir = backups.path().join("bk");
    touch(dir.path(), "sub/a.mp3", "first");
    let options = RenameOptions {
        backup_dir: Some(backup_dir.clone()),
        ..options()
    };
    let plan1 = plan(
        dir.path(),
        [ok("sub/a.mp3", vec![m(1, "A", "T")])],
        &options,
    );
    let outcome = apply(dir.path(), &plan1, &options, &mut NoJournal);
    assert_eq!(outcome.applied[0].backup.as_deref(), Some("sub/a.mp3"));
    assert_eq!(found(&backup_dir, "sub/a.mp3").as_deref(), Some("first"));

    // A new file with the same name: its backup gets a number.
    touch(dir.path(), "sub/a.mp3", "second");
    let plan2 = plan(
        dir.path(),
        [ok("sub/a.mp3", vec![m(1, "B", "U")])],
        &options,
    );
    let outcome = apply(dir.path(), &plan2, &options, &mut NoJournal);
    assert_eq!(outcome.applied[0].backup.as_deref(), Some("sub/a-1.mp3"));
    assert_eq!(found(&backup_dir, "sub/a.mp3").as_deref(), Some("first"));
    assert_eq!(found(&backup_dir, "sub/a-1.mp3").as_deref(), Some("second"));
    // The copy keeps the modification time.
    let original = fs::metadata(dir.path().join("sub/B - U.mp3")).unwrap();
    let copy = fs::metadata(backup_dir.join("sub/a-1.mp3")).unwrap();
    assert_eq!(original.modified().unwrap(), copy.modified().unwrap());
}

#[cfg(unix)]
#[test]
fn a_symlink_in_the_backup_folder_is_not_followed() {
    let dir = root();
    let backups = root();
    let elsewhere = root();
    symlink(elsewhere.path(), backups.path().join("sub"));
    touch(dir.path(), "sub/a.mp3", "x");
    let options = RenameOptions {
        backup_dir: Some(backups.path().to_path_buf()),
        ..options()
    };
    let plan = plan(
        dir.path(),
        [ok("sub/a.mp3", vec![m(1, "A", "T")])],
        &options,
    );
    let outcome = apply(dir.path(), &plan, &options, &mut NoJournal);
    assert!(outcome.interrupted);
    assert_eq!(outcome.summary.renamed, 0);
    assert_eq!(
        outcome.errors[0].message,
        "Failed to rename sub/a.mp3: backup: permission denied"
    );
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    assert_eq!(found(dir.path(), "sub/a.mp3").as_deref(), Some("x"));
}

#[test]
fn a_failing_move_stops_the_run() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    touch(dir.path(), "c.mp3", "");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("b.mp3", vec![m(1, "B", "U")]),
            ok("c.mp3", vec![m(1, "C", "V")]),
        ],
        &options(),
    );
    fs::remove_file(dir.path().join("b.mp3")).unwrap();
    let mut journal = Recorder::default();
    let outcome = apply(dir.path(), &plan, &options(), &mut journal);
    assert!(outcome.interrupted);
    assert_eq!(outcome.summary.renamed, 1);
    assert_eq!(outcome.summary.errors, 1);
    assert_eq!(
        outcome.errors[0].message,
        "Failed to rename b.mp3: the file no longer exists"
    );
    assert_eq!(
        outcome.moves.iter().map(|m| m.applied).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert_eq!(journal.calls, ["before a.mp3", "after a.mp3"]);
    assert!(dir.path().join("c.mp3").exists());
}

/// A journal that puts a non-empty folder at the target between the checks and the move, so
/// that the OS refuses the rename itself.
struct Sabotage(PathBuf);

impl Journal for Sabotage {
    fn before_move(&mut self, _: &PlannedMove) -> io::Result<()> {
        fs::create_dir(self.0.join("A - T.mp3"))?;
        fs::write(self.0.join("A - T.mp3/keep"), "")
    }

    fn after_move(&mut self, _: &AppliedMove) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_os_failure_reports_the_error_kind_without_absolute_paths() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    let plan = plan(dir.path(), [ok("a.mp3", vec![m(1, "A", "T")])], &options());
    let outcome = apply(
        dir.path(),
        &plan,
        &options(),
        &mut Sabotage(dir.path().to_path_buf()),
    );
    assert!(outcome.interrupted);
    let message = &outcome.errors[0].message;
    assert_eq!(message, "Failed to rename a.mp3: is a directory");
    assert!(!message.contains(dir.path().to_str().unwrap()), "{message}");
}

#[test]
fn journal_failures() {
    let dir = root();
    touch(dir.path(), "a.mp3", "");
    touch(dir.path(), "b.mp3", "");
    let plan = plan(
        dir.path(),
        [
            ok("a.mp3", vec![m(1, "A", "T")]),
            ok("b.mp3", vec![m(1, "B", "U")]),
        ],
        &options(),
    );
    // Before: nothing is touched, and the OS text of the journal's error is not shown.
    let mut journal = Recorder {
        fail_before: Some("a.mp3".to_owned()),
        ..Recorder::default()
    };
    let outcome = apply(dir.path(), &plan, &options(), &mut journal);
    assert_eq!(outcome.summary.renamed, 0);
    assert_eq!(
        outcome.errors[0].message,
        "Failed to rename a.mp3: journal: other error"
    );
    assert!(dir.path().join("a.mp3").exists());

    // After: the move happened and is reported, the run stops.
    let mut journal = Recorder {
        fail_after: Some("a.mp3".to_owned()),
        ..Recorder::default()
    };
    let outcome = apply(dir.path(), &plan, &options(), &mut journal);
    assert_eq!(outcome.summary.renamed, 1);
    assert!(outcome.interrupted);
    assert!(outcome.moves[0].applied && !outcome.moves[1].applied);
    assert!(
        outcome.errors[0]
            .message
            .starts_with("Failed to record the rename of a.mp3: ")
    );
    assert!(dir.path().join("A - T.mp3").exists() && dir.path().join("b.mp3").exists());
}

#[test]
fn apply_checks_again_and_never_replaces_a_new_file() {
    let dir = root();
    touch(dir.path(), "a.mp3", "a");
    let plan = plan(dir.path(), [ok("a.mp3", vec![m(1, "A", "T")])], &options());
    touch(dir.path(), "A - T.mp3", "arrived since");
    let outcome = apply(dir.path(), &plan, &options(), &mut NoJournal);
    assert_eq!(
        outcome.errors[0].message,
        "Failed to rename a.mp3: the target already exists"
    );
    assert_eq!(
        found(dir.path(), "A - T.mp3").as_deref(),
        Some("arrived since")
    );
    assert_eq!(found(dir.path(), "a.mp3").as_deref(), Some("a"));
}

#[cfg(unix)]
#[test]
fn apply_refuses_a_source_that_became_a_symlink() {
    let dir = root();
    let outside = root();
    touch(outside.path(), "victim.mp3", "victim");
    touch(dir.path(), "a.mp3", "a");
    let plan = plan(dir.path(), [ok("a.mp3", vec![m(1, "A", "T")])], &options());
    fs::remove_file(dir.path().join("a.mp3")).unwrap();
    symlink(outside.path().join("victim.mp3"), dir.path().join("a.mp3"));
    let outcome = apply(dir.path(), &plan, &options(), &mut NoJournal);
    assert_eq!(
        outcome.errors[0].message,
        "Failed to rename a.mp3: the file is a symbolic link"
    );
}

#[test]
fn a_tampered_plan_cannot_leave_the_folder() {
    let dir = root();
    let inner = dir.path().join("root");
    touch(&inner, "sub/a.mp3", "a");
    let good = plan(&inner, [ok("sub/a.mp3", vec![m(1, "A", "T")])], &options());
    let text = serde_json::to_string(&good).unwrap();
    // The plan round-trips through JSON (a caller may store it between dry run and apply).
    let back: RenamePlan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, good);
    for target in [
        "../../escaped.mp3",
        "/tmp/escaped.mp3",
        "other/a.mp3",
        "sub/a.mp3",
    ] {
        let text = text.replace("sub/A - T.mp3", target);
        let tampered: RenamePlan = serde_json::from_str(&text).unwrap();
        let outcome = apply(&inner, &tampered, &options(), &mut NoJournal);
        assert_eq!(
            outcome.errors[0].message, "Failed to rename sub/a.mp3: invalid source or target path",
            "{target}"
        );
    }
    assert!(!dir.path().join("escaped.mp3").exists());
    assert_eq!(found(&inner, "sub/a.mp3").as_deref(), Some("a"));
}

// ---------------------------------------------------------------------------------------------
// Undo

fn applied_set(dir: &Path, names: &[&str]) -> Vec<AppliedMove> {
    let entries: Vec<BatchEntry> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            touch(dir, name, name);
            ok(name, vec![m(1, "Artist", &format!("Title {i}"))])
        })
        .collect();
    let plan = plan(dir, entries, &options());
    let outcome = apply(dir, &plan, &options(), &mut NoJournal);
    assert_eq!(outcome.summary.renamed, names.len());
    outcome.applied
}

#[test]
fn undo_moves_files_back_in_reverse_order() {
    let dir = root();
    let applied = applied_set(dir.path(), &["a.mp3", "sub/b.mp3"]);
    let outcome = undo(dir.path(), &applied);
    assert_eq!(outcome.summary.restored, 2);
    assert_eq!(outcome.summary.refused, 0);
    assert_eq!(outcome.restored[0].source, "sub/b.mp3");
    assert_eq!(outcome.restored[1].source, "a.mp3");
    assert_eq!(found(dir.path(), "a.mp3").as_deref(), Some("a.mp3"));
    assert_eq!(found(dir.path(), "sub/b.mp3").as_deref(), Some("sub/b.mp3"));
    assert!(!dir.path().join("Artist - Title 0.mp3").exists());
    // The journal records survive JSON (how a caller stores them).
    let text = serde_json::to_string(&applied).unwrap();
    assert_eq!(
        serde_json::from_str::<Vec<AppliedMove>>(&text).unwrap(),
        applied
    );
}

#[test]
fn undo_refuses_changed_missing_or_blocked_files_and_continues() {
    let dir = root();
    let applied = applied_set(
        dir.path(),
        &[
            "size.mp3",
            "mtime.mp3",
            "gone.mp3",
            "blocked.mp3",
            "fine.mp3",
        ],
    );
    let target = |i: usize| dir.path().join(&applied[i].target);
    fs::write(target(0), "grown by an editor").unwrap();
    let file = fs::File::options().write(true).open(target(1)).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_mins(5))
        .unwrap();
    drop(file);
    fs::remove_file(target(2)).unwrap();
    touch(dir.path(), "blocked.mp3", "new file at the old name");

    let outcome = undo(dir.path(), &applied);
    assert_eq!(outcome.summary.restored, 1);
    assert_eq!(outcome.restored[0].source, "fine.mp3");
    let reasons: Vec<&str> = outcome.refused.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "Original path is occupied, not moved back: blocked.mp3",
            "File no longer exists: Artist - Title 2.mp3",
            "File changed since the rename (modification time), not moved back: Artist - Title 1.mp3",
            "File changed since the rename (size), not moved back: Artist - Title 0.mp3",
        ]
    );
    assert_eq!(
        found(dir.path(), "blocked.mp3").as_deref(),
        Some("new file at the old name")
    );
    assert!(dir.path().join("fine.mp3").exists());
}

#[cfg(unix)]
#[test]
fn undo_refuses_a_target_replaced_by_a_symlink() {
    let dir = root();
    let outside = root();
    touch(outside.path(), "victim.mp3", "victim");
    let applied = applied_set(dir.path(), &["a.mp3"]);
    let target = dir.path().join(&applied[0].target);
    fs::remove_file(&target).unwrap();
    symlink(outside.path().join("victim.mp3"), &target);
    let outcome = undo(dir.path(), &applied);
    assert_eq!(
        outcome.refused[0].reason,
        "Symbolic link, not moved back: Artist - Title 0.mp3"
    );
    assert_eq!(
        found(outside.path(), "victim.mp3").as_deref(),
        Some("victim")
    );
    assert!(!dir.path().join("a.mp3").exists());
}

#[test]
fn undo_refuses_tampered_records() {
    let dir = root();
    let applied = applied_set(dir.path(), &["a.mp3"]);
    let mut tampered = applied[0].clone();
    tampered.source = "../a.mp3".to_owned();
    let outcome = undo(dir.path(), &[tampered]);
    assert_eq!(
        outcome.refused[0].reason,
        "Invalid move record: Artist - Title 0.mp3"
    );
    assert!(dir.path().join("Artist - Title 0.mp3").exists());
}

// ---------------------------------------------------------------------------------------------
// Hostile input at large

#[test]
fn random_hostile_entries_never_panic_or_escape() {
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }
    let base = root();
    let dir = base.path().join("root");
    for name in ["a.mp3", "b.flac", "sub/c.ogg", ".hidden", "noext"] {
        touch(&dir, name, name);
    }
    let pieces = [
        "a.mp3", "b.flac", "sub", "/", "..", ".", "\0", "c.ogg", "\\", "é", "🎵", " ", "noext",
        ".hidden",
    ];
    let texts = [
        "", " ", "..", "/", "AC/DC", "{", "}", "{artist}", "\u{7}", "CON", "a.mp3", "..\\..", "🎵",
    ];
    let templates = [
        "{artist} - {title}",
        "{stem}",
        "{title}{ext}",
        "..",
        "{0}",
        "/{artist}/../{title}",
        "{artist:>1000}",
        "",
    ];
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    let mut moved = 0;
    for round in 0..200 {
        let entries: Vec<BatchEntry> = (0..8)
            .map(|_| {
                let path: String = (0..=(rng.next() % 4)).map(|_| rng.pick(&pieces)).collect();
                let matches = (0..(rng.next() % 3))
                    .map(|rank| LogMatch {
                        rank: rank as u32 + 1,
                        formatted: rng.pick(&texts).to_owned(),
                        score: Some(f64::from(rng.next() as u32) / 1e9),
                        recording_id: Some(rng.pick(&texts).to_owned()),
                        artist: Some(rng.pick(&texts).to_owned()),
                        title: Some(rng.pick(&texts).to_owned()),
                        album: None,
                        release_group_id: None,
                        release_id: None,
                    })
                    .collect();
                BatchEntry {
                    status: [EntryStatus::Ok, EntryStatus::Unmatched, EntryStatus::Error]
                        [(rng.next() % 3) as usize],
                    metadata: Some(tags(rng.pick(&texts), rng.pick(&texts))),
                    ..ok(&path, matches)
                }
            })
            .collect();
        let strategy = [
            ConflictStrategy::Append,
            ConflictStrategy::Skip,
            ConflictStrategy::Overwrite,
        ][round % 3];
        let options = RenameOptions {
            template: rng.pick(&templates).to_owned(),
            on_conflict: strategy,
            require_template_fields: round % 2 == 0,
            ..options()
        };
        let plan = plan(&dir, entries, &options);
        for planned in &plan.planned {
            let source = Path::new(&planned.source);
            let target = Path::new(&planned.target);
            assert_eq!(source.parent(), target.parent(), "{planned:?}");
            assert!(
                target
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{planned:?}"
            );
        }
        let outcome = apply(&dir, &plan, &options, &mut NoJournal);
        moved += outcome.applied.len();
        // Put everything back so that the next round sees the same files.
        let undone = undo(&dir, &outcome.applied);
        assert_eq!(undone.summary.refused, 0, "{:?}", undone.refused);
    }
    // Nothing ever appeared beside the root.
    assert_eq!(fs::read_dir(base.path()).unwrap().count(), 1);
    assert!(moved > 0);
}
