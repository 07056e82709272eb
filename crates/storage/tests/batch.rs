//! The per-file state of batch jobs and the rename journals, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use recozik_storage::batch::{MAX_ENTRY_BYTES, MAX_PAGE, MAX_PATH_BYTES};
use recozik_storage::{
    BatchProgress, BatchStore, FileStatus, JobQueue, MoveState, NewJob, RenameSetState,
    StorageError,
};

/// A queue, a batch store over the same database, and one fresh job.
fn setup(tdb: &common::TestDb) -> (JobQueue, BatchStore, String) {
    let queue = tdb.queue(4);
    let store = BatchStore::new(queue.database().clone());
    let job = queue.enqueue(&NewJob::default()).unwrap();
    (queue, store, job.id)
}

fn paths(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("/music/album {i:05}.flac"))
        .collect()
}

fn entry(seq: i64) -> String {
    format!(r#"{{"seq":{seq},"title":"Song {seq}"}}"#)
}

/// Paths a file system may well hold: quotes, SQL, unicode, bidi overrides, control characters.
const WEIRD: [&str; 4] = [
    "/music/Björk/Jóga \"live\" 'n' roll.flac",
    "/music/'; DROP TABLE batch_files; --.mp3",
    "/music/日本語/曲 🎵 \u{202e}evil.ogg",
    "/music/back\\slash\ttab\nnewline %_ ?.mp3",
];

/// All pending files, page by page.
fn all_pending(store: &BatchStore, job: &str, limit: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.pending(job, after, limit).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        out.extend(page.into_iter().map(|f| (f.seq, f.path)));
    }
    out
}

#[test]
fn ten_thousand_files_insert_fast_and_read_back_in_order() {
    common::on_each_backend("batch_10k", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        let input = paths(10_000);
        let started = Instant::now();
        let added = store.add_files(&job, input.clone()).unwrap();
        let elapsed = started.elapsed();
        writeln!(
            std::io::stderr().lock(),
            "{}: add_files of 10,000 paths took {elapsed:?}",
            tdb.label()
        )
        .unwrap();
        assert_eq!(added, 10_000, "{}", tdb.label());
        assert!(
            elapsed < Duration::from_secs(30),
            "{}: {elapsed:?}",
            tdb.label()
        );

        let read = all_pending(&store, &job, MAX_PAGE);
        assert_eq!(read.len(), 10_000, "{}", tdb.label());
        for (i, (seq, path)) in read.iter().enumerate() {
            assert_eq!(*seq, i as i64, "{}", tdb.label());
            assert_eq!(path, &input[i], "{}", tdb.label());
        }
        assert_eq!(
            store.progress(&job).unwrap(),
            BatchProgress {
                total: 10_000,
                ..BatchProgress::default()
            }
        );
    });
}

#[test]
fn add_files_is_idempotent_and_all_or_nothing() {
    common::on_each_backend("batch_idempotent", |tdb| {
        let (queue, store, job) = setup(&tdb);
        assert_eq!(store.add_files(&job, paths(3)).unwrap(), 3);
        // A resumed job adds its files again: nothing changes, the existing count comes back.
        let other: Vec<String> = (0..5).map(|i| format!("/elsewhere/{i}")).collect();
        assert_eq!(store.add_files(&job, other).unwrap(), 3, "{}", tdb.label());
        let read = all_pending(&store, &job, 100);
        assert_eq!(
            read.into_iter().map(|(_, p)| p).collect::<Vec<_>>(),
            paths(3)
        );

        // A job without files may get them later; an empty list stores nothing.
        let empty = queue.enqueue(&NewJob::default()).unwrap().id;
        assert_eq!(store.add_files(&empty, Vec::new()).unwrap(), 0);
        assert_eq!(store.add_files(&empty, paths(2)).unwrap(), 2);

        // One bad path rejects the whole list, and nothing of it is stored.
        let bad = queue.enqueue(&NewJob::default()).unwrap().id;
        let mut list = paths(1200);
        list.push("/music/nul\0byte.mp3".into());
        assert!(matches!(
            store.add_files(&bad, list),
            Err(StorageError::Invalid(_))
        ));
        assert_eq!(store.progress(&bad).unwrap().total, 0, "{}", tdb.label());
        assert!(matches!(
            store.add_files(&bad, vec![String::new()]),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.add_files(&bad, vec!["x".repeat(MAX_PATH_BYTES + 1)]),
            Err(StorageError::Invalid(_))
        ));

        assert!(matches!(
            store.add_files("no-such-job", paths(1)),
            Err(StorageError::JobNotFound(id)) if id == "no-such-job"
        ));
    });
}

#[test]
fn pending_pages_skip_done_files() {
    common::on_each_backend("batch_pending", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        store.add_files(&job, paths(25)).unwrap();
        for seq in [0, 3, 4, 10, 24] {
            assert!(store.record(&job, seq, "ok", &entry(seq)).unwrap());
        }
        let first = store.pending(&job, None, 5).unwrap();
        assert_eq!(
            first.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![1, 2, 5, 6, 7],
            "{}",
            tdb.label()
        );
        assert_eq!(first[0].path, "/music/album 00001.flac");
        let second = store.pending(&job, Some(7), 5).unwrap();
        assert_eq!(
            second.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![8, 9, 11, 12, 13]
        );
        let tail = store.pending(&job, Some(20), 5).unwrap();
        assert_eq!(
            tail.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![21, 22, 23]
        );
        assert!(store.pending(&job, Some(23), 5).unwrap().is_empty());
        assert_eq!(all_pending(&store, &job, 3).len(), 20);
        // Another job's files never show up.
        assert!(store.pending("no-such-job", None, 5).unwrap().is_empty());
    });
}

#[test]
fn recording_a_file_twice_counts_it_once() {
    common::on_each_backend("batch_record_twice", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        store.add_files(&job, paths(3)).unwrap();
        assert!(store.record(&job, 1, "ok", &entry(1)).unwrap());
        // The re-run's second result is ignored: first one wins, nothing double counted.
        assert!(
            !store
                .record(&job, 1, "error", r#"{"error":"again"}"#)
                .unwrap(),
            "{}",
            tdb.label()
        );
        let progress = store.progress(&job).unwrap();
        assert_eq!(
            (progress.done, progress.identified, progress.failed),
            (1, 1, 0)
        );
        let entries = store.entries(&job, None, 10, None).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].status, entries[0].entry.as_str()),
            (FileStatus::Ok, entry(1).as_str())
        );

        // A file the job does not have is an error, not a silent `false`.
        for seq in [3, -1, i64::MAX, i64::MIN] {
            assert!(
                matches!(
                    store.record(&job, seq, "ok", "{}"),
                    Err(StorageError::Invalid(_))
                ),
                "{}: seq {seq}",
                tdb.label()
            );
        }
        assert!(matches!(
            store.record("no-such-job", 0, "ok", "{}"),
            Err(StorageError::Invalid(_))
        ));
    });
}

#[test]
fn progress_counts_each_status() {
    common::on_each_backend("batch_progress", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        assert_eq!(store.progress(&job).unwrap(), BatchProgress::default());
        store.add_files(&job, paths(10)).unwrap();
        let outcomes = [
            (0, "ok"),
            (1, "ok"),
            (2, "ok"),
            (3, "unmatched"),
            (4, "unmatched"),
            (5, "error"),
        ];
        for (seq, status) in outcomes {
            assert!(store.record(&job, seq, status, &entry(seq)).unwrap());
        }
        let progress = store.progress(&job).unwrap();
        assert_eq!(
            progress,
            BatchProgress {
                total: 10,
                done: 6,
                identified: 3,
                unmatched: 2,
                failed: 1,
            },
            "{}",
            tdb.label()
        );
        assert_eq!(progress.pending(), 4);
    });
}

#[test]
fn entries_page_by_seq_with_a_status_filter() {
    common::on_each_backend("batch_entries", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        store.add_files(&job, paths(30)).unwrap();
        let status_of = |seq: i64| match seq % 3 {
            0 => FileStatus::Ok,
            1 => FileStatus::Unmatched,
            _ => FileStatus::Error,
        };
        // Every file but 29 is done, recorded out of order.
        for seq in (0..29).rev() {
            store
                .record(&job, seq, status_of(seq).as_str(), &entry(seq))
                .unwrap();
        }

        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store.entries(&job, after, 7, None).unwrap();
            assert!(page.len() <= 7);
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            all.extend(page);
        }
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..29).collect::<Vec<_>>(),
            "{}: done files only, by seq",
            tdb.label()
        );
        assert!(all.iter().all(|e| e.status == status_of(e.seq)));
        assert!(all.iter().all(|e| e.entry == entry(e.seq)));
        assert_eq!(all[5].path, "/music/album 00005.flac");

        let mut ok = Vec::new();
        let mut after = None;
        loop {
            let page = store.entries(&job, after, 4, Some("ok")).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            ok.extend(page.into_iter().map(|e| e.seq));
        }
        assert_eq!(
            ok,
            vec![0, 3, 6, 9, 12, 15, 18, 21, 24, 27],
            "{}",
            tdb.label()
        );
        let errors = store.entries(&job, Some(20), 100, Some("error")).unwrap();
        assert_eq!(
            errors.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![23, 26]
        );
        assert!(errors.iter().all(|e| e.status == FileStatus::Error));
    });
}

#[test]
fn delete_job_drops_the_batch_state_but_keeps_the_job() {
    common::on_each_backend("batch_delete", |tdb| {
        let (queue, store, job) = setup(&tdb);
        let (_, _, other) = setup(&tdb);
        store.add_files(&job, paths(1234)).unwrap();
        store.add_files(&other, paths(2)).unwrap();
        store.record(&job, 0, "ok", "{}").unwrap();
        let set = store.begin_rename_set(&job, &[("/a", "/b")]).unwrap();
        store
            .mark_moved(set, 0, Some(1), Some(2), None, false)
            .unwrap();

        assert_eq!(store.delete_job(&job).unwrap(), 1234, "{}", tdb.label());
        assert_eq!(store.progress(&job).unwrap(), BatchProgress::default());
        assert!(store.entries(&job, None, 10, None).unwrap().is_empty());
        assert!(store.rename_set(set).unwrap().is_none());
        assert!(store.last_applied_set(&job).unwrap().is_none());
        assert!(queue.get(&job).unwrap().is_some(), "the job row stays");
        assert_eq!(store.progress(&other).unwrap().total, 2, "others untouched");
        // Deleting again (or an unknown job) is a no-op; the job can start over.
        assert_eq!(store.delete_job(&job).unwrap(), 0);
        assert_eq!(store.delete_job("no-such-job").unwrap(), 0);
        assert_eq!(store.add_files(&job, paths(4)).unwrap(), 4);
    });
}

#[test]
fn purging_a_job_purges_its_batch_state() {
    common::on_each_backend("batch_purge", |tdb| {
        let (queue, store, job) = setup(&tdb);
        store.add_files(&job, paths(600)).unwrap();
        store.record(&job, 0, "ok", "{}").unwrap();
        let set = store
            .begin_rename_set(&job, &[("/a", "/b"), ("/c", "/d")])
            .unwrap();
        store.mark_moved(set, 0, None, None, None, false).unwrap();
        store.finish_rename_set(set).unwrap();
        let claimed = queue.claim("w", Duration::from_secs(30)).unwrap().unwrap();
        assert_eq!(claimed.id, job);
        queue.complete(&job, "w", "{}").unwrap();

        // A second job, still queued, keeps everything.
        let live = queue.enqueue(&NewJob::default()).unwrap().id;
        store.add_files(&live, paths(3)).unwrap();
        let live_set = store.begin_rename_set(&live, &[("/x", "/y")]).unwrap();

        let purged = queue
            .purge_finished(Utc::now() + TimeDelta::seconds(1))
            .unwrap();
        assert_eq!(
            purged.into_iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![job.clone()]
        );
        assert_eq!(
            store.progress(&job).unwrap(),
            BatchProgress::default(),
            "{}: files cascade",
            tdb.label()
        );
        assert!(
            store.rename_set(set).unwrap().is_none(),
            "{}: journals cascade",
            tdb.label()
        );
        assert_eq!(store.progress(&live).unwrap().total, 3);
        assert_eq!(store.rename_set(live_set).unwrap().unwrap().moves.len(), 1);
        // Files of a job that is gone cannot come back.
        assert!(matches!(
            store.add_files(&job, paths(1)),
            Err(StorageError::JobNotFound(_))
        ));
    });
}

#[test]
fn rename_journal_lifecycle() {
    common::on_each_backend("batch_rename", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        assert!(store.last_applied_set(&job).unwrap().is_none());
        let moves = [
            ("/m/a.mp3".to_owned(), "/m/Artist/A.mp3".to_owned()),
            ("/m/b.mp3".to_owned(), "/m/Artist/B.mp3".to_owned()),
        ];
        let first = store.begin_rename_set(&job, &moves).unwrap();

        // Journaled before any move: applying, every move planned, not undoable yet.
        let journal = store.rename_set(first).unwrap().unwrap();
        assert_eq!(journal.state, RenameSetState::Applying);
        assert_eq!(journal.job_id, job);
        assert!(journal.created_at <= Utc::now());
        assert_eq!(
            journal
                .moves
                .iter()
                .map(|m| (m.idx, m.source.as_str(), m.target.as_str(), m.state))
                .collect::<Vec<_>>(),
            vec![
                (0, "/m/a.mp3", "/m/Artist/A.mp3", MoveState::Planned),
                (1, "/m/b.mp3", "/m/Artist/B.mp3", MoveState::Planned),
            ]
        );
        assert!(store.last_applied_set(&job).unwrap().is_none());

        assert!(
            store
                .mark_moved(
                    first,
                    0,
                    Some(4_000_000),
                    Some(1_700_000_000_123_456_789),
                    None,
                    false
                )
                .unwrap()
        );
        assert!(
            store
                .mark_moved(first, 1, Some(42), None, Some("/m/Artist/B.mp3.bak"), true)
                .unwrap()
        );
        // A resumed run marks again: no change.
        assert!(!store.mark_moved(first, 1, None, None, None, false).unwrap());
        assert!(store.finish_rename_set(first).unwrap());
        assert!(!store.finish_rename_set(first).unwrap());

        let applied = store.last_applied_set(&job).unwrap().unwrap();
        assert_eq!(applied.id, first, "{}", tdb.label());
        assert_eq!(applied.state, RenameSetState::Applied);
        let m0 = &applied.moves[0];
        assert_eq!(
            (
                m0.state,
                m0.size,
                m0.mtime_ns,
                m0.backup.as_deref(),
                m0.replaced_existing
            ),
            (
                MoveState::Moved,
                Some(4_000_000),
                Some(1_700_000_000_123_456_789),
                None,
                false
            )
        );
        let m1 = &applied.moves[1];
        assert_eq!(
            (
                m1.size,
                m1.mtime_ns,
                m1.backup.as_deref(),
                m1.replaced_existing
            ),
            (Some(42), None, Some("/m/Artist/B.mp3.bak"), true)
        );
        // An applied set takes no more moves.
        assert!(matches!(
            store.mark_moved(first, 0, None, None, None, false),
            Err(StorageError::Invalid(_))
        ));
    });
}

/// An applied set of `job` whose two moves both happened.
fn applied_set(store: &BatchStore, job: &str) -> i64 {
    let first = store
        .begin_rename_set(job, &[("/m/a.mp3", "/m/A.mp3"), ("/m/b.mp3", "/m/B.mp3")])
        .unwrap();
    for idx in [0, 1] {
        store
            .mark_moved(first, idx, None, None, None, false)
            .unwrap();
    }
    store.finish_rename_set(first).unwrap();
    first
}

#[test]
fn undo_takes_the_newest_applied_set_first() {
    common::on_each_backend("batch_undo", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        let first = applied_set(&store, &job);
        // A newer set is the one an undo takes, once it has moved something.
        let second = store
            .begin_rename_set(&job, &[("/m/Artist/A.mp3", "/m/Artist/Album/A.mp3")])
            .unwrap();
        assert!(second > first);
        assert_eq!(store.last_applied_set(&job).unwrap().unwrap().id, first);
        store
            .mark_moved(second, 0, None, None, None, false)
            .unwrap();
        store.finish_rename_set(second).unwrap();
        assert_eq!(store.last_applied_set(&job).unwrap().unwrap().id, second);

        // Undo the newer one: then the older one is next.
        assert!(store.mark_move_undone(second, 0).unwrap());
        assert!(!store.mark_move_undone(second, 0).unwrap());
        assert!(store.finish_undo(second).unwrap());
        assert!(!store.finish_undo(second).unwrap());
        let undone = store.rename_set(second).unwrap().unwrap();
        assert_eq!(
            (undone.state, undone.moves[0].state),
            (RenameSetState::Undone, MoveState::Undone)
        );
        assert_eq!(store.last_applied_set(&job).unwrap().unwrap().id, first);
        // An undone set cannot be applied, nor take moves.
        assert!(matches!(
            store.finish_rename_set(second),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.mark_moved(second, 0, None, None, None, false),
            Err(StorageError::Invalid(_))
        ));

        for idx in [1, 0] {
            assert!(store.mark_move_undone(first, idx).unwrap());
        }
        assert!(store.finish_undo(first).unwrap());
        assert!(
            store.last_applied_set(&job).unwrap().is_none(),
            "{}: nothing left to undo",
            tdb.label()
        );
    });
}

#[test]
fn an_interrupted_rename_is_still_undoable() {
    common::on_each_backend("batch_rename_crash", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        let moves: Vec<(String, String)> = (0..1200)
            .map(|i| (format!("/in/{i}.mp3"), format!("/out/{i}.mp3")))
            .collect();
        let set = store.begin_rename_set(&job, &moves).unwrap();
        // The process dies after three moves: the set stays `applying`.
        for idx in [0, 1, 2] {
            store
                .mark_moved(set, idx, Some(idx), Some(idx * 1_000), None, false)
                .unwrap();
        }

        let pending = store.last_applied_set(&job).unwrap().unwrap();
        assert_eq!(pending.id, set, "{}", tdb.label());
        assert_eq!(pending.state, RenameSetState::Applying);
        assert_eq!(pending.moves.len(), 1200);
        assert_eq!(
            pending.moves.iter().map(|m| m.idx).collect::<Vec<_>>(),
            (0..1200).collect::<Vec<_>>()
        );
        assert_eq!(pending.moves[1199].source, "/in/1199.mp3");
        let moved: Vec<_> = pending
            .moves
            .iter()
            .filter(|m| m.state == MoveState::Moved)
            .map(|m| m.idx)
            .collect();
        assert_eq!(moved, vec![0, 1, 2]);

        // Undo only what moved: a planned move has nothing to undo.
        assert!(matches!(
            store.mark_move_undone(set, 3),
            Err(StorageError::Invalid(_))
        ));
        assert!(store.mark_move_undone(set, 2).unwrap());
        // Interrupted again, mid-undo: still the set to undo.
        assert_eq!(store.last_applied_set(&job).unwrap().unwrap().id, set);
        assert!(store.mark_move_undone(set, 1).unwrap());
        assert!(store.mark_move_undone(set, 0).unwrap());
        assert!(store.finish_undo(set).unwrap());
        assert!(store.last_applied_set(&job).unwrap().is_none());
        assert_eq!(
            store.rename_set(set).unwrap().unwrap().state,
            RenameSetState::Undone
        );
        assert!(matches!(
            store.mark_moved(set, 5, None, None, None, false),
            Err(StorageError::Invalid(_))
        ));
    });
}

#[test]
fn hostile_values_are_refused_or_stored_verbatim() {
    common::on_each_backend("batch_hostile", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        let weird: Vec<String> = WEIRD.iter().map(|p| (*p).to_owned()).collect();
        store.add_files(&job, weird.clone()).unwrap();
        let read = all_pending(&store, &job, 10);
        assert_eq!(
            read.into_iter().map(|(_, p)| p).collect::<Vec<_>>(),
            weird,
            "{}",
            tdb.label()
        );
        let json = r#"{"title":"It's \"quoted\" — ünïcødé 🎶","path":"C:\\x"}"#;
        assert!(store.record(&job, 1, "unmatched", json).unwrap());
        let stored = store.entries(&job, None, 10, None).unwrap();
        assert_eq!(
            (stored[0].path.as_str(), stored[0].entry.as_str()),
            (weird[1].as_str(), json)
        );

        // Closed sets: any other spelling is a typed error, and nothing is stored.
        for status in ["OK", "done", "", "ok ", "identified", "'; --"] {
            assert!(
                matches!(
                    store.record(&job, 0, status, "{}"),
                    Err(StorageError::Invalid(_))
                ),
                "{}: {status:?}",
                tdb.label()
            );
            assert!(matches!(
                store.entries(&job, None, 10, Some(status)),
                Err(StorageError::Invalid(_))
            ));
        }
        assert!("unmatched".parse::<FileStatus>().is_ok());
        assert!(matches!(
            "Unmatched".parse::<FileStatus>(),
            Err(StorageError::Invalid(_))
        ));
        // Entries must be JSON, and not huge.
        for bad in ["", "not json", "{\"a\":", "{} {}"] {
            assert!(
                matches!(
                    store.record(&job, 0, "ok", bad),
                    Err(StorageError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let huge = format!("\"{}\"", "x".repeat(MAX_ENTRY_BYTES));
        assert!(matches!(
            store.record(&job, 0, "ok", &huge),
            Err(StorageError::Invalid(_))
        ));
        assert_eq!(store.progress(&job).unwrap().done, 1, "{}", tdb.label());
    });
}

#[test]
fn hostile_limits_and_cursors_are_clamped() {
    common::on_each_backend("batch_limits", |tdb| {
        let (_queue, store, big) = setup(&tdb);
        // Limits are clamped to 1..=MAX_PAGE.
        store.add_files(&big, paths(1500)).unwrap();
        assert_eq!(
            store.pending(&big, None, i64::MAX).unwrap().len(),
            MAX_PAGE as usize
        );
        for limit in [0, -1, i64::MIN] {
            assert_eq!(store.pending(&big, None, limit).unwrap().len(), 1);
        }
        for seq in 0..1500 {
            store.record(&big, seq, "ok", "{}").unwrap();
        }
        assert_eq!(
            store.entries(&big, None, i64::MAX, None).unwrap().len(),
            MAX_PAGE as usize
        );
        assert_eq!(store.entries(&big, None, 0, Some("ok")).unwrap().len(), 1);
        assert!(
            store
                .entries(&big, Some(i64::MAX), 10, None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.entries(&big, Some(i64::MIN), 2, None).unwrap()[0].seq,
            0
        );
    });
}

#[test]
fn hostile_journal_arguments_get_typed_errors() {
    common::on_each_backend("batch_journal_hostile", |tdb| {
        let (_queue, store, job) = setup(&tdb);
        // The rename journal refuses nonsense with typed errors.
        assert!(matches!(
            store.begin_rename_set::<&str, &str>(&job, &[]),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.begin_rename_set(&job, &[("/a", "")]),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.begin_rename_set(&job, &[("/a\0", "/b")]),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.begin_rename_set("no-such-job", &[("/a", "/b")]),
            Err(StorageError::JobNotFound(_))
        ));
        for set in [-1, 0, i64::MAX] {
            assert!(matches!(
                store.mark_moved(set, 0, None, None, None, false),
                Err(StorageError::Invalid(_))
            ));
            assert!(matches!(
                store.mark_move_undone(set, 0),
                Err(StorageError::Invalid(_))
            ));
            assert!(matches!(
                store.finish_rename_set(set),
                Err(StorageError::Invalid(_))
            ));
            assert!(matches!(
                store.finish_undo(set),
                Err(StorageError::Invalid(_))
            ));
            assert!(store.rename_set(set).unwrap().is_none());
        }
        let set = store
            .begin_rename_set(&job, &[(WEIRD[0], WEIRD[2])])
            .unwrap();
        for idx in [-1, 1, i64::MAX] {
            assert!(matches!(
                store.mark_moved(set, idx, None, None, None, false),
                Err(StorageError::Invalid(_))
            ));
        }
        assert!(matches!(
            store.mark_moved(set, 0, None, None, Some("/bak\0"), false),
            Err(StorageError::Invalid(_))
        ));
        store
            .mark_moved(set, 0, Some(i64::MAX), Some(i64::MIN), Some(WEIRD[3]), true)
            .unwrap();
        let journal = store.last_applied_set(&job).unwrap().unwrap();
        let m = &journal.moves[0];
        assert_eq!(
            (
                m.source.as_str(),
                m.target.as_str(),
                m.backup.as_deref(),
                m.size,
                m.mtime_ns
            ),
            (
                WEIRD[0],
                WEIRD[2],
                Some(WEIRD[3]),
                Some(i64::MAX),
                Some(i64::MIN)
            ),
            "{}",
            tdb.label()
        );
    });
}

#[test]
fn racing_workers_count_each_file_once() {
    const FILES: i64 = 200;
    const WORKERS: usize = 8;
    common::on_each_backend("batch_race", |tdb| {
        let queue = tdb.queue(WORKERS as u32 + 2);
        let store = BatchStore::new(queue.database().clone());
        let job = queue.enqueue(&NewJob::default()).unwrap().id;
        let barrier = std::sync::Barrier::new(WORKERS);
        let (added, recorded): (Vec<u64>, Vec<usize>) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..WORKERS)
                .map(|worker| {
                    let (store, job, barrier) = (&store, &job, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        // Every worker "resumes" the job: one list wins, the others see it.
                        let added = store.add_files(job, paths(FILES as usize)).unwrap();
                        let mut recorded = 0;
                        for seq in 0..FILES {
                            let status = if worker % 2 == 0 { "ok" } else { "error" };
                            if store.record(job, seq, status, &entry(seq)).unwrap() {
                                recorded += 1;
                            }
                        }
                        (added, recorded)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).unzip()
        });
        assert!(
            added.iter().all(|n| *n == FILES as u64),
            "{}: {added:?}",
            tdb.label()
        );
        assert_eq!(
            recorded.iter().sum::<usize>(),
            FILES as usize,
            "{}: {recorded:?}",
            tdb.label()
        );
        let progress = store.progress(&job).unwrap();
        assert_eq!(
            (
                progress.total,
                progress.done,
                progress.identified + progress.failed
            ),
            (FILES as u64, FILES as u64, FILES as u64)
        );
    });
}
