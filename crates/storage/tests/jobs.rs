//! The durable job queue, job events and the lookup cache, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use recozik_storage::{
    Backend, CancelOutcome, JobEventData, JobQueue, JobStatus, NewJob, StorageError, cache,
};

fn job_for(owner: i64, upload: &str) -> NewJob {
    NewJob {
        owner_id: Some(owner),
        payload: r#"{"kind":"upload"}"#.into(),
        upload_path: Some(upload.into()),
        ..NewJob::default()
    }
}

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn enqueue_get_and_list_newest_first() {
    common::on_each_backend("enqueue_list", |tdb| {
        let q = tdb.queue(4);
        let mut ids = Vec::new();
        for i in 0..5 {
            let job = q.enqueue(&job_for(1, &format!("/up/{i}.mp3"))).unwrap();
            assert_eq!(job.status, JobStatus::Queued);
            assert_eq!(job.id.len(), 32);
            assert!(
                job.id
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert_eq!(
                (job.attempts, job.max_attempts, job.last_event_seq),
                (0, 3, 1)
            );
            assert!(job.messages.is_empty() && job.result.is_none() && job.error.is_none());
            ids.push(job.id);
            std::thread::sleep(Duration::from_millis(2));
        }
        q.enqueue(&job_for(2, "/up/other.mp3")).unwrap();
        let anonymous = q.enqueue(&NewJob::default()).unwrap();
        assert_eq!(
            (anonymous.owner_id, anonymous.payload.as_str()),
            (None, "{}")
        );

        let got = q.get(&ids[0]).unwrap().unwrap();
        assert_eq!(got.upload_path.as_deref(), Some("/up/0.mp3"));
        assert!(q.get("0123456789abcdef0123456789abcdef").unwrap().is_none());

        let page: Vec<_> = q
            .list_by_owner(1, 2, 1)
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(
            page,
            vec![ids[3].clone(), ids[2].clone()],
            "{}",
            tdb.label()
        );
        assert_eq!(q.list_by_owner(1, 100, 0).unwrap().len(), 5);
        assert_eq!(q.list_by_owner(3, 100, 0).unwrap().len(), 0);
        assert_eq!(q.list_all(100, 0).unwrap().len(), 7);
        assert_eq!(q.list_all(1, 0).unwrap()[0].id, anonymous.id);

        let explicit = NewJob {
            id: Some("fixed".into()),
            ..NewJob::default()
        };
        q.enqueue(&explicit).unwrap();
        assert!(matches!(
            q.enqueue(&explicit),
            Err(StorageError::Conflict(_))
        ));
        let bad = NewJob {
            max_attempts: Some(0),
            ..NewJob::default()
        };
        assert!(matches!(q.enqueue(&bad), Err(StorageError::Invalid(_))));
    });
}

#[test]
fn claim_message_complete_persist_ordered_events() {
    common::on_each_backend("claim_complete", |tdb| {
        let q = tdb.queue(4);
        let first = q.enqueue(&job_for(1, "/up/a")).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let second = q.enqueue(&job_for(1, "/up/b")).unwrap();

        let claimed = q.claim("w1", LEASE).unwrap().unwrap();
        assert_eq!(claimed.id, first.id, "{}: FIFO", tdb.label());
        assert_eq!(claimed.status, JobStatus::Running);
        assert_eq!(
            (claimed.attempts, claimed.worker_id.as_deref()),
            (1, Some("w1"))
        );
        assert!(claimed.lease_expires_at.unwrap() > Utc::now() + TimeDelta::seconds(20));

        q.add_message(&first.id, "Fingerprinting").unwrap();
        q.add_message(&first.id, "Looking up AcoustID").unwrap();
        let renewed = q
            .heartbeat(&first.id, "w1", Duration::from_mins(1))
            .unwrap();
        assert!(renewed > Utc::now() + TimeDelta::seconds(50));

        let result = r#"{"matches":[{"score":0.98,"title":"Song"}]}"#;
        let done = q.complete(&first.id, "w1", result).unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(done.result.as_deref(), Some(result));
        assert_eq!(done.messages, vec!["Fingerprinting", "Looking up AcoustID"]);
        assert!(done.finished_at.is_some() && done.worker_id.is_none());
        assert_eq!(done.last_event_seq, 6);

        let events = q.events_after(&first.id, 0).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        let kinds: Vec<_> = events
            .iter()
            .map(|e| match &e.data {
                JobEventData::Status { status, .. } => status.as_str().to_owned(),
                JobEventData::Message { message } => format!("msg:{message}"),
                JobEventData::Result { result } => {
                    format!("result:{}", result["matches"][0]["title"])
                }
                JobEventData::Progress { progress } => format!("progress:{progress}"),
                JobEventData::File { entry } => format!("file:{entry}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "queued",
                "running",
                "msg:Fingerprinting",
                "msg:Looking up AcoustID",
                "completed",
                "result:\"Song\""
            ]
        );
        assert!(events[4].is_terminal_status());
        assert_eq!(events[5].created_at, done.updated_at);
        assert_eq!(q.events_after(&first.id, 4).unwrap().len(), 2);

        // The second job is next, then the queue is empty.
        assert_eq!(q.claim("w2", LEASE).unwrap().unwrap().id, second.id);
        assert!(q.claim("w3", LEASE).unwrap().is_none());
        assert!(matches!(
            q.complete(&second.id, "w2", "not json"),
            Err(StorageError::Invalid(_))
        ));
    });
}

#[test]
fn fail_cancel_and_lease_checks() {
    common::on_each_backend("fail_cancel", |tdb| {
        let q = tdb.queue(4);
        let a = q.enqueue(&job_for(1, "/a")).unwrap();
        q.claim("w1", LEASE).unwrap().unwrap();
        // Another worker cannot act on a job it does not hold.
        assert!(matches!(
            q.complete(&a.id, "intruder", "{}"),
            Err(StorageError::LeaseLost { .. })
        ));
        assert!(matches!(
            q.heartbeat(&a.id, "intruder", LEASE),
            Err(StorageError::LeaseLost { .. })
        ));
        assert!(matches!(
            q.heartbeat("missing", "w1", LEASE),
            Err(StorageError::JobNotFound(_))
        ));
        assert!(matches!(
            q.add_message("missing", "x"),
            Err(StorageError::JobNotFound(_))
        ));

        q.add_message(&a.id, "Error: fingerprint failed").unwrap();
        let failed = q.fail(&a.id, "w1", "fingerprint failed").unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("fingerprint failed"));
        assert!(failed.result.is_none());
        let last = q.events_after(&a.id, 0).unwrap().pop().unwrap();
        assert_eq!(
            last.data,
            JobEventData::Status {
                status: JobStatus::Failed,
                error: Some("fingerprint failed".into())
            }
        );
        assert!(matches!(
            q.fail(&a.id, "w1", "again"),
            Err(StorageError::LeaseLost { .. })
        ));

        // Cancel a queued job, a running job, and a finished one.
        let b = q.enqueue(&job_for(1, "/b")).unwrap();
        let CancelOutcome::Cancelled(cancelled) = q.cancel(&b.id).unwrap() else {
            panic!("expected cancellation")
        };
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert!(
            q.claim("w1", LEASE).unwrap().is_none(),
            "cancelled jobs are not claimed"
        );
        let c = q.enqueue(&job_for(1, "/c")).unwrap();
        q.claim("w2", LEASE).unwrap().unwrap();
        assert!(matches!(
            q.cancel(&c.id).unwrap(),
            CancelOutcome::Cancelled(_)
        ));
        assert!(matches!(
            q.heartbeat(&c.id, "w2", LEASE),
            Err(StorageError::LeaseLost { .. })
        ));
        assert!(matches!(
            q.complete(&c.id, "w2", "{}"),
            Err(StorageError::LeaseLost { .. })
        ));
        assert!(matches!(
            q.cancel(&a.id).unwrap(),
            CancelOutcome::AlreadyFinished(_)
        ));
        assert_eq!(q.cancel("missing").unwrap(), CancelOutcome::NotFound);
    });
}

#[test]
fn dead_worker_job_is_reclaimed_and_finished_by_another() {
    common::on_each_backend("dead_worker", |tdb| {
        let q = tdb.queue(4);
        let job = q.enqueue(&job_for(1, "/up/x")).unwrap();
        // Worker A claims with a short lease, then "dies" (never heartbeats).
        let a = q
            .claim("worker-a", Duration::from_millis(800))
            .unwrap()
            .unwrap();
        assert_eq!(a.id, job.id);
        assert!(q.claim("worker-b", LEASE).unwrap().is_none());
        // Not expired yet: nothing to requeue.
        assert!(q.requeue_expired(Utc::now()).unwrap().requeued.is_empty());
        std::thread::sleep(Duration::from_millis(900));
        let report = q.requeue_expired(Utc::now()).unwrap();
        assert_eq!(report.requeued, vec![job.id.clone()], "{}", tdb.label());
        assert!(report.failed.is_empty());

        let b = q.claim("worker-b", LEASE).unwrap().unwrap();
        assert_eq!((b.id.as_str(), b.attempts), (job.id.as_str(), 2));
        // The dead worker coming back cannot overwrite anything.
        assert!(matches!(
            q.complete(&job.id, "worker-a", "{}"),
            Err(StorageError::LeaseLost { .. })
        ));
        let done = q.complete(&job.id, "worker-b", r#"{"ok":true}"#).unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        let statuses: Vec<_> = q
            .events_after(&job.id, 0)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.data {
                JobEventData::Status { status, .. } => Some(status),
                _ => None,
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                JobStatus::Queued,
                JobStatus::Running,
                JobStatus::Queued,
                JobStatus::Running,
                JobStatus::Completed
            ]
        );
    });
}

#[test]
fn max_attempts_then_fails_with_a_clear_error() {
    common::on_each_backend("max_attempts", |tdb| {
        let q = tdb.queue(4);
        let job = q
            .enqueue(&NewJob {
                max_attempts: Some(2),
                ..job_for(1, "/up/y")
            })
            .unwrap();
        for attempt in 1..=2 {
            let claimed = q.claim("w", Duration::from_millis(1)).unwrap().unwrap();
            assert_eq!(claimed.attempts, attempt);
            std::thread::sleep(Duration::from_millis(10));
            let report = q.requeue_expired(Utc::now()).unwrap();
            if attempt == 1 {
                assert_eq!(report.requeued.len(), 1);
            } else {
                assert_eq!(report.failed.len(), 1);
                let failed = &report.failed[0];
                assert_eq!(failed.status, JobStatus::Failed);
                assert_eq!(failed.upload_path.as_deref(), Some("/up/y"));
                let error = failed.error.as_deref().unwrap();
                assert!(
                    error.contains("lease expired") && error.contains("attempt 2 of 2"),
                    "{error}"
                );
            }
        }
        assert!(q.claim("w", LEASE).unwrap().is_none());
        assert_eq!(q.get(&job.id).unwrap().unwrap().status, JobStatus::Failed);
    });
}

#[test]
fn release_requeues_without_counting_the_attempt() {
    common::on_each_backend("release", |tdb| {
        let q = tdb.queue(4);
        let job = q.enqueue(&job_for(1, "/r")).unwrap();
        q.claim("w", LEASE).unwrap().unwrap();
        let released = q.release(&job.id, "w").unwrap();
        assert_eq!((released.status, released.attempts), (JobStatus::Queued, 0));
        assert!(matches!(
            q.release(&job.id, "w"),
            Err(StorageError::LeaseLost { .. })
        ));
        assert_eq!(q.claim("w2", LEASE).unwrap().unwrap().attempts, 1);
    });
}

#[test]
fn purge_removes_old_finished_jobs_and_returns_their_files() {
    common::on_each_backend("purge", |tdb| {
        let q = tdb.queue(4);
        let done = q.enqueue(&job_for(1, "/up/done")).unwrap();
        q.claim("w", LEASE).unwrap();
        q.complete(&done.id, "w", "{}").unwrap();
        let cancelled = q.enqueue(&job_for(1, "/up/cancelled")).unwrap();
        q.cancel(&cancelled.id).unwrap();
        let waiting = q.enqueue(&job_for(1, "/up/waiting")).unwrap();

        assert_eq!(
            q.live_upload_paths().unwrap(),
            vec!["/up/waiting".to_owned()]
        );
        // Nothing is old enough yet.
        assert!(
            q.purge_finished(Utc::now() - TimeDelta::hours(1))
                .unwrap()
                .is_empty()
        );
        let mut purged = q
            .purge_finished(Utc::now() + TimeDelta::seconds(1))
            .unwrap();
        purged.sort_by(|a, b| a.id.cmp(&b.id));
        let mut expected = vec![
            (done.id.clone(), Some("/up/done".to_owned())),
            (cancelled.id.clone(), Some("/up/cancelled".to_owned())),
        ];
        expected.sort();
        assert_eq!(
            purged
                .into_iter()
                .map(|p| (p.id, p.upload_path))
                .collect::<Vec<_>>(),
            expected
        );
        assert!(q.get(&done.id).unwrap().is_none());
        assert!(
            q.events_after(&done.id, 0).unwrap().is_empty(),
            "events cascade"
        );
        assert!(
            q.get(&waiting.id).unwrap().is_some(),
            "unfinished jobs are kept"
        );
    });
}

#[test]
fn sixteen_workers_claim_a_thousand_jobs_exactly_once() {
    const JOBS: usize = 1000;
    const WORKERS: usize = 16;
    common::on_each_backend("claim_race", |tdb| {
        let q = tdb.queue(WORKERS as u32 + 2);
        for i in 0..JOBS {
            q.enqueue(&job_for(1, &format!("/up/{i}"))).unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::with_capacity(JOBS)));
        let barrier = Arc::new(Barrier::new(WORKERS));
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let q = q.clone();
                let seen = Arc::clone(&seen);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let worker = format!("w{w}");
                    barrier.wait();
                    while let Some(job) = q.claim(&worker, LEASE).unwrap() {
                        q.complete(&job.id, &worker, "{}").unwrap();
                        seen.lock().unwrap().push(job.id);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (JOBS, JOBS), "{}", tdb.label());
        let all = q.list_all(2 * JOBS as i64, 0).unwrap();
        assert!(
            all.iter()
                .all(|j| j.status == JobStatus::Completed && j.attempts == 1)
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_sees_snapshot_then_every_later_event_once() {
    for tdb in common::backends("subscribe") {
        let q = tdb.queue(4);
        let job = q.enqueue(&job_for(1, "/s")).unwrap();
        q.claim("w", LEASE).unwrap();
        q.add_message(&job.id, "before subscribe").unwrap();

        let (snapshot, mut sub) = q.subscribe(&job.id).unwrap().unwrap();
        assert_eq!(snapshot.status, JobStatus::Running);
        assert_eq!(snapshot.messages, vec!["before subscribe"]);
        assert_eq!(sub.last_seq(), 3);
        assert!(q.subscribe("missing").unwrap().is_none());

        // Another job's events must not leak into this subscription.
        let other = q.enqueue(&job_for(2, "/o")).unwrap();
        let producer = {
            let q = q.clone();
            let id = job.id.clone();
            tokio::task::spawn_blocking(move || {
                for i in 0..20 {
                    q.add_message(&id, &format!("m{i}")).unwrap();
                }
                q.complete(&id, "w", r#"{"done":1}"#).unwrap();
            })
        };
        let mut seqs = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("event in time")
                .unwrap();
            assert_eq!(event.job_id, job.id);
            seqs.push(event.seq);
            if matches!(event.data, JobEventData::Result { .. }) {
                break;
            }
        }
        producer.await.unwrap();
        assert_eq!(seqs, (4..=25).collect::<Vec<_>>(), "{}", tdb.label());
        assert_ne!(other.id, job.id);

        // Replay from an arbitrary point, then live: no gap, no duplicate.
        let (backlog, mut sub2) = q.subscribe_after(&job.id, 20).unwrap();
        assert_eq!(
            backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![21, 22, 23, 24, 25]
        );
        assert_eq!(sub2.last_seq(), 25);
        assert!(sub2.drain_persisted().unwrap().is_empty());
    }
}

/// Two queues with separate pools and hubs (as two processes would have) on one PostgreSQL
/// database: a subscriber on B sees, through LISTEN/NOTIFY, the events of a job run on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_cross_instances_through_notify() {
    let Some(tdb) = common::postgres_only("cross_instance") else {
        return;
    };
    assert_eq!(tdb.backend, Backend::Postgres);
    let options = recozik_storage::QueueOptions {
        // Make the polling safety net too slow to explain a fast delivery.
        subscription_poll: Duration::from_secs(30),
        ..recozik_storage::QueueOptions::default()
    };
    let a = JobQueue::new(tdb.jobs(), options.clone()).unwrap();
    let b = JobQueue::new(tdb.jobs(), options).unwrap();
    assert!(a.is_postgres() && b.is_postgres());
    let job = a.enqueue(&job_for(1, "/x")).unwrap();
    let (_, mut sub) = b.subscribe(&job.id).unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // listener connected
    let started = std::time::Instant::now();
    {
        let a = a.clone();
        let id = job.id.clone();
        tokio::task::spawn_blocking(move || {
            a.claim("wa", LEASE).unwrap().unwrap();
            a.add_message(&id, "on instance A").unwrap();
            a.complete(&id, "wa", "{}").unwrap();
        })
        .await
        .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("cross-instance event")
            .unwrap();
        got.push(e.seq);
    }
    assert_eq!(got, vec![2, 3, 4, 5]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn lookup_cache_honours_ttl_and_upserts() {
    common::on_each_backend("lookup_cache", |tdb| {
        let db = tdb.jobs();
        let conn = &mut db.conn().unwrap();
        let fp = "AQADtEmUaEkSRZEGAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .repeat(60);
        let now = Utc::now();
        let ttl = Duration::from_hours(1);
        assert!(cache::get(conn, &fp, 215, now).unwrap().is_none());
        cache::put(conn, &fp, 215, r#"{"results":[1]}"#, ttl, now).unwrap();
        assert_eq!(
            cache::get(conn, &fp, 215, now).unwrap().as_deref(),
            Some(r#"{"results":[1]}"#)
        );
        assert!(
            cache::get(conn, &fp, 216, now).unwrap().is_none(),
            "duration is part of the key"
        );
        cache::put(conn, &fp, 215, r#"{"results":[2]}"#, ttl, now).unwrap();
        assert_eq!(
            cache::get(conn, &fp, 215, now).unwrap().as_deref(),
            Some(r#"{"results":[2]}"#)
        );
        let later = now + TimeDelta::hours(2);
        assert!(
            cache::get(conn, &fp, 215, later).unwrap().is_none(),
            "expired"
        );
        cache::put(conn, "short", 1, "{}", ttl, now).unwrap();
        assert!(cache::remove(conn, "short", 1).unwrap());
        assert_eq!(cache::purge_expired(conn, later).unwrap(), 1);
    });
}

#[test]
fn unfinished_uploads_of_an_owner() {
    common::on_each_backend("unfinished_of", |tdb| {
        let q = tdb.queue(4);
        let a = q.enqueue(&job_for(7, "/u/a")).unwrap();
        let b = q.enqueue(&job_for(7, "/u/b")).unwrap();
        q.enqueue(&NewJob {
            upload_path: None,
            ..job_for(7, "")
        })
        .unwrap();
        q.enqueue(&job_for(8, "/u/other")).unwrap();
        let done = q.enqueue(&job_for(7, "/u/done")).unwrap();
        q.cancel(&done.id).unwrap();
        // `a` is running, `b` queued: both still count.
        let claimed = q.claim("w", LEASE).unwrap().unwrap();
        assert_eq!(claimed.id, a.id, "{}", tdb.label());
        let mut found = q.unfinished_uploads_of(7).unwrap();
        found.sort();
        assert_eq!(
            found,
            vec![None, Some("/u/a".to_owned()), Some("/u/b".to_owned())],
            "{}",
            tdb.label()
        );
        q.cancel(&b.id).unwrap();
        assert_eq!(q.unfinished_uploads_of(7).unwrap().len(), 2);
        assert!(q.unfinished_uploads_of(9).unwrap().is_empty());
    });
}

#[test]
fn heartbeat_keeps_the_lease_alive() {
    common::on_each_backend("heartbeat", |tdb| {
        let q = tdb.queue(4);
        let job = q.enqueue(&job_for(1, "/h")).unwrap();
        q.claim("w", Duration::from_millis(200)).unwrap().unwrap();
        q.heartbeat(&job.id, "w", LEASE).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let report = q.requeue_expired(Utc::now()).unwrap();
        assert!(
            report.requeued.is_empty() && report.failed.is_empty(),
            "{}",
            tdb.label()
        );
        assert_eq!(q.get(&job.id).unwrap().unwrap().status, JobStatus::Running);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_still_gets_every_event_in_order() {
    for tdb in common::backends("lagging") {
        let options = recozik_storage::QueueOptions {
            event_capacity: 16,
            subscription_poll: Duration::from_secs(30),
            ..recozik_storage::QueueOptions::default()
        };
        let q = JobQueue::new(tdb.jobs(), options).unwrap();
        let job = q.enqueue(&job_for(1, "/l")).unwrap();
        let (_, mut sub) = q.subscribe(&job.id).unwrap().unwrap();
        // 100 events while nobody reads: the 16-slot channel overflows.
        let q2 = q.clone();
        let id = job.id.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..100 {
                q2.add_message(&id, &format!("m{i}")).unwrap();
            }
        })
        .await
        .unwrap();
        let mut seqs = Vec::new();
        while seqs.len() < 100 {
            let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .expect("event in time")
                .unwrap();
            seqs.push(e.seq);
        }
        assert_eq!(seqs, (2..=101).collect::<Vec<_>>(), "{}", tdb.label());
    }
}

#[test]
fn pool_checkout_times_out_with_a_typed_error() {
    common::on_each_backend("checkout_timeout", |tdb| {
        let options = recozik_storage::PoolOptions {
            max_size: 1,
            min_idle: Some(0),
            checkout_timeout: Duration::from_millis(200),
            sqlite_busy_timeout: Duration::from_secs(1),
        };
        let db = recozik_storage::Database::connect(tdb.jobs_url(), &options).unwrap();
        let _held = db.conn().unwrap();
        let started = std::time::Instant::now();
        assert!(
            matches!(db.conn(), Err(StorageError::Pool(_))),
            "{}",
            tdb.label()
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn migrations_are_idempotent_and_both_schemas_fit_in_one_database() {
    common::on_each_backend("migrate_shared", |tdb| {
        // One database for both schemas (on PostgreSQL the helper already shares one).
        let url = tdb.jobs_url();
        let db = recozik_storage::Database::connect(url, &common::TestDb::pool_options(2)).unwrap();
        let applied = recozik_storage::migrate_all(&db, &db).unwrap();
        assert_eq!(applied.len(), 3, "{}: {applied:?}", tdb.label());
        assert!(recozik_storage::migrate_all(&db, &db).unwrap().is_empty());
        let conn = &mut db.conn().unwrap();
        let user = recozik_storage::users::create(
            conn,
            &recozik_storage::users::NewUser {
                username: "x".into(),
                email: "x@example.com".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let q = JobQueue::new(db.clone(), recozik_storage::QueueOptions::default()).unwrap();
        let job = q
            .enqueue(&NewJob {
                owner_id: Some(user.id),
                ..NewJob::default()
            })
            .unwrap();
        assert_eq!(q.list_by_owner(user.id, 10, 0).unwrap()[0].id, job.id);
    });
}

#[test]
fn progress_and_file_events_are_recorded_in_order_and_transitions_are_refused() {
    common::on_each_backend("add_event", |tdb| {
        let q = tdb.queue(4);
        let job = q.enqueue(&job_for(1, "/up/e.mp3")).unwrap();
        let progress = q
            .add_event(
                &job.id,
                JobEventData::Progress {
                    progress: serde_json::json!({"done": 1, "total": 2}),
                },
            )
            .unwrap();
        let file = q
            .add_event(
                &job.id,
                JobEventData::File {
                    entry: serde_json::json!({"path": "a/b.mp3", "status": "ok"}),
                },
            )
            .unwrap();
        assert_eq!((progress.seq, file.seq), (2, 3));
        let stored = q.get(&job.id).unwrap().unwrap();
        assert_eq!(stored.last_event_seq, 3);
        assert!(stored.messages.is_empty(), "events are not messages");
        let events = q.events_after(&job.id, 1).unwrap();
        assert_eq!(events, vec![progress, file]);
        let refused = q.add_event(
            &job.id,
            JobEventData::Status {
                status: JobStatus::Completed,
                error: None,
            },
        );
        assert!(matches!(refused, Err(StorageError::Invalid(_))));
        let missing = q.add_event(
            "0123456789abcdef0123456789abcdef",
            JobEventData::Progress {
                progress: serde_json::json!({}),
            },
        );
        assert!(matches!(missing, Err(StorageError::JobNotFound(_))));
    });
}
