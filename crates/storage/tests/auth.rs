//! Auth database repositories, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use recozik_storage::quota::{self, QuotaDecision};
use recozik_storage::sessions::{self, NewSession, RotateOutcome, Rotation};
use recozik_storage::tokens::{self, NewApiToken};
use recozik_storage::users::{self, NewUser, QuotaLimits, UserUpdate};
use recozik_storage::{Conn, StorageError};

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        display_name: Some(format!("{name} display")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        is_active: true,
        roles: vec!["user".to_owned()],
        allowed_features: vec!["identify".to_owned()],
        quota_limits: QuotaLimits::from([("acoustid_lookup".to_owned(), Some(10))]),
    }
}

fn new_session(user_id: i64, tag: &str) -> NewSession {
    let now = Utc::now();
    NewSession {
        user_id,
        access_digest: format!("access-{tag}"),
        refresh_digest: format!("refresh-{tag}"),
        remember: false,
        access_expires_at: now + TimeDelta::hours(1),
        refresh_expires_at: now + TimeDelta::days(7),
    }
}

fn new_token(user_id: i64, digest: &str) -> NewApiToken {
    NewApiToken {
        user_id,
        digest: digest.to_owned(),
        hint: digest.chars().rev().take(4).collect(),
        display_name: format!("token {digest}"),
        roles: vec!["readonly".to_owned()],
        allowed_features: vec!["identify".to_owned(), "audd".to_owned()],
        quota_limits: QuotaLimits::from([
            ("acoustid_lookup".to_owned(), Some(5)),
            ("audd_standard_lookup".to_owned(), None),
        ]),
        seed: None,
        expires_at: None,
    }
}

#[test]
fn users_crud_and_unique_constraints() {
    common::on_each_backend("users_crud", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let alice = users::create(conn, &new_user("alice")).unwrap();
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.roles, vec!["user"]);
        assert_eq!(alice.quota_limits.get("acoustid_lookup"), Some(&Some(10)));
        assert!(alice.is_active);

        assert_eq!(users::get(conn, alice.id).unwrap().unwrap(), alice);
        assert_eq!(
            users::find_by_username(conn, "alice").unwrap().unwrap().id,
            alice.id
        );
        assert_eq!(
            users::find_by_email(conn, "alice@example.com")
                .unwrap()
                .unwrap()
                .id,
            alice.id
        );
        assert!(users::find_by_username(conn, "nobody").unwrap().is_none());
        assert!(users::get(conn, 987_654).unwrap().is_none());

        let mut dup = new_user("alice");
        dup.email = "other@example.com".into();
        assert!(
            matches!(users::create(conn, &dup), Err(StorageError::Conflict(_))),
            "{}: duplicate username must conflict",
            tdb.label()
        );
        let mut dup_mail = new_user("alice2");
        dup_mail.email = "alice@example.com".into();
        assert!(matches!(
            users::create(conn, &dup_mail),
            Err(StorageError::Conflict(_))
        ));

        users::create(conn, &new_user("bob")).unwrap();
        users::create(conn, &new_user("carol")).unwrap();
        assert_eq!(users::count(conn).unwrap(), 3);
        let page: Vec<_> = users::list(conn, 2, 1)
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(page, vec!["bob", "carol"]);
    });
}

#[test]
fn update_user_partially_and_clear_display_name() {
    common::on_each_backend("update_user", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let alice = users::create(conn, &new_user("alice")).unwrap();
        let updated = users::update(
            conn,
            alice.id,
            &UserUpdate {
                roles: Some(vec!["admin".into(), "user".into()]),
                is_active: Some(false),
                display_name: Some(None),
                ..UserUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
        assert!(updated.has_role("admin"));
        assert!(!updated.is_active);
        assert_eq!(updated.display_name, None);
        assert_eq!(updated.email, alice.email, "untouched fields stay");
        assert_eq!(updated.password_hash, alice.password_hash);
        assert!(updated.updated_at >= alice.updated_at);
        assert!(
            users::update(conn, 424_242, &UserUpdate::default())
                .unwrap()
                .is_none()
        );

        users::create(
            conn,
            &NewUser {
                roles: vec!["admin".into()],
                ..new_user("root")
            },
        )
        .unwrap();
        // alice is an admin but inactive: only root counts.
        assert_eq!(users::count_active_with_role(conn, "admin").unwrap(), 1);
    });
}

#[test]
fn user_ids_are_never_reused_and_delete_cascades() {
    common::on_each_backend("ids_cascade", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let a = users::create(conn, &new_user("a")).unwrap();
        let b = users::create(conn, &new_user("b")).unwrap();
        sessions::create(conn, &new_session(b.id, "b")).unwrap();
        tokens::create(conn, &new_token(b.id, "digest-b")).unwrap();
        let now = Utc::now();
        assert!(
            quota::consume(conn, b.id, "acoustid_lookup", 1, 10, now)
                .unwrap()
                .is_granted()
        );

        assert!(users::delete(conn, b.id).unwrap());
        assert!(!users::delete(conn, b.id).unwrap());
        assert!(
            sessions::find_by_access_digest(conn, "access-b")
                .unwrap()
                .is_none()
        );
        assert!(tokens::find_by_digest(conn, "digest-b").unwrap().is_none());
        assert_eq!(
            quota::usage(conn, b.id, "acoustid_lookup", now)
                .unwrap()
                .used,
            0
        );

        // The highest id is not handed out again (upstream let a new user inherit orphans).
        let c = users::create(conn, &new_user("c")).unwrap();
        assert!(
            c.id > b.id && b.id > a.id,
            "{}: ids {} {} {}",
            tdb.label(),
            a.id,
            b.id,
            c.id
        );
        assert!(tokens::list_for_user(conn, c.id).unwrap().is_empty());
    });
}

fn new_admin(name: &str) -> NewUser {
    NewUser {
        roles: vec!["admin".to_owned()],
        ..new_user(name)
    }
}

#[test]
fn guarded_changes_keep_the_last_active_holder_of_a_role() {
    use recozik_storage::users::GuardedChange;
    common::on_each_backend("guarded_role", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let root = users::create(conn, &new_admin("root")).unwrap();
        let demote = UserUpdate {
            roles: Some(vec!["user".to_owned()]),
            ..UserUpdate::default()
        };
        let deactivate = UserUpdate {
            is_active: Some(false),
            ..UserUpdate::default()
        };
        for change in [&demote, &deactivate] {
            assert_eq!(
                users::update_keeping_role(conn, root.id, change, "admin").unwrap(),
                GuardedChange::LastHolder,
                "{}",
                tdb.label()
            );
        }
        assert_eq!(
            users::delete_keeping_role(conn, root.id, "admin").unwrap(),
            GuardedChange::LastHolder
        );
        // Changes that keep the role pass; unknown ids are reported.
        let renamed = UserUpdate {
            display_name: Some(Some("Root".to_owned())),
            ..UserUpdate::default()
        };
        assert!(matches!(
            users::update_keeping_role(conn, root.id, &renamed, "admin").unwrap(),
            GuardedChange::Done(_)
        ));
        assert_eq!(
            users::update_keeping_role(conn, 987_654, &demote, "admin").unwrap(),
            GuardedChange::NotFound
        );
        assert_eq!(
            users::delete_keeping_role(conn, 987_654, "admin").unwrap(),
            GuardedChange::NotFound
        );
        // With a second admin one may go.
        let other = users::create(conn, &new_admin("other")).unwrap();
        assert!(matches!(
            users::update_keeping_role(conn, root.id, &demote, "admin").unwrap(),
            GuardedChange::Done(_)
        ));
        assert_eq!(
            users::delete_keeping_role(conn, other.id, "admin").unwrap(),
            GuardedChange::LastHolder
        );
        assert_eq!(users::count_active_with_role(conn, "admin").unwrap(), 1);
    });
}

#[test]
fn two_admins_demoted_at_once_leave_one() {
    use recozik_storage::users::GuardedChange;
    common::on_each_backend("guarded_role_race", |tdb| {
        let db = tdb.auth_sized(4);
        for round in 0..30 {
            let ids: Vec<i64> = {
                let conn = &mut db.conn().unwrap();
                ["a", "b"]
                    .iter()
                    .map(|p| {
                        users::create(conn, &new_admin(&format!("{p}{round}")))
                            .unwrap()
                            .id
                    })
                    .collect()
            };
            let barrier = Arc::new(Barrier::new(2));
            let handles: Vec<_> = ids
                .iter()
                .map(|&id| {
                    let (db, barrier) = (db.clone(), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        let conn = &mut db.conn().unwrap();
                        let demote = UserUpdate {
                            roles: Some(vec!["user".to_owned()]),
                            ..UserUpdate::default()
                        };
                        barrier.wait();
                        users::update_keeping_role(conn, id, &demote, "admin").unwrap()
                    })
                })
                .collect();
            let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let conn = &mut db.conn().unwrap();
            assert_eq!(
                users::count_active_with_role(conn, "admin").unwrap(),
                1,
                "{} round {round}: {outcomes:?}",
                tdb.label()
            );
            assert_eq!(
                outcomes
                    .iter()
                    .filter(|o| **o == GuardedChange::LastHolder)
                    .count(),
                1
            );
            for id in ids {
                users::delete(conn, id).unwrap();
            }
        }
    });
}

#[test]
fn create_if_missing_is_an_upsert() {
    common::on_each_backend("create_if_missing", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let (first, created) = users::create_if_missing(conn, &new_user("admin")).unwrap();
        assert!(created);
        let mut again = new_user("admin");
        again.display_name = Some("changed".into());
        let (second, created) = users::create_if_missing(conn, &again).unwrap();
        assert!(!created);
        assert_eq!(first, second, "the existing row is kept as is");
    });
}

#[test]
fn timestamps_round_trip_as_utc() {
    common::on_each_backend("timestamps", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let before = recozik_storage::now();
        let user = users::create(conn, &new_user("t")).unwrap();
        let after = recozik_storage::now();
        assert!(
            user.created_at >= before && user.created_at <= after,
            "{}",
            tdb.label()
        );
        let at = Utc::now() + TimeDelta::days(3);
        let mut s = new_session(user.id, "t");
        s.refresh_expires_at = at;
        let stored = sessions::create(conn, &s).unwrap();
        let read = sessions::find_by_refresh_digest(conn, "refresh-t")
            .unwrap()
            .unwrap();
        assert_eq!(read, stored);
        assert_eq!(
            read.refresh_expires_at.timestamp_micros(),
            at.timestamp_micros(),
            "{}: microsecond precision, UTC",
            tdb.label()
        );
    });
}

#[test]
fn sessions_lookup_listing_and_purge() {
    common::on_each_backend("sessions_lookup", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let s1 = sessions::create(conn, &new_session(u.id, "1")).unwrap();
        let s2 = sessions::create(conn, &new_session(u.id, "2")).unwrap();
        assert_ne!(s1.family_id, s2.family_id, "each login is its own family");
        let mut old = new_session(u.id, "old");
        old.refresh_expires_at = Utc::now() - TimeDelta::minutes(1);
        old.access_expires_at = Utc::now() - TimeDelta::minutes(2);
        sessions::create(conn, &old).unwrap();

        let found = sessions::find_by_access_digest(conn, "access-1")
            .unwrap()
            .unwrap();
        assert_eq!(found.id, s1.id);
        assert!(found.access_valid_at(Utc::now()));
        let (s, user) = sessions::find_by_access_digest_with_user(conn, "access-2")
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.id, user.id, user.display_name.as_deref()),
            (s2.id, u.id, Some("u display"))
        );
        assert!(
            sessions::find_by_access_digest(conn, "nope")
                .unwrap()
                .is_none()
        );

        let active = sessions::list_active_for_user(conn, u.id, Utc::now()).unwrap();
        assert_eq!(
            active.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![s2.id, s1.id]
        );

        assert_eq!(sessions::purge_expired(conn, Utc::now()).unwrap(), 1);
        assert!(sessions::delete_by_access_digest(conn, "access-1").unwrap());
        assert!(!sessions::delete_by_access_digest(conn, "access-1").unwrap());
        assert_eq!(sessions::delete_for_user(conn, u.id).unwrap(), 1);

        let dup = sessions::create(conn, &new_session(u.id, "x"));
        assert!(dup.is_ok());
        assert!(matches!(
            sessions::create(conn, &new_session(u.id, "x")),
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            sessions::create(conn, &new_session(99_999, "y")),
            Err(StorageError::MissingReference(_))
        ));
    });
}

fn rotation(tag: &str) -> Rotation {
    let now = Utc::now();
    Rotation {
        access_digest: format!("access-{tag}"),
        refresh_digest: format!("refresh-{tag}"),
        access_expires_at: now + TimeDelta::hours(1),
        refresh_expires_at: now + TimeDelta::days(7),
    }
}

#[test]
fn session_rotation_detects_replay() {
    common::on_each_backend("rotation", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let first = sessions::create(conn, &new_session(u.id, "1")).unwrap();
        let now = Utc::now();

        let RotateOutcome::Rotated { old, new } =
            sessions::rotate(conn, "refresh-1", &rotation("2"), now).unwrap()
        else {
            panic!("expected a rotation")
        };
        assert_eq!(old.id, first.id);
        assert!(old.rotated_at.is_some());
        assert_eq!(new.family_id, first.family_id);
        assert_eq!(new.family_started_at, first.family_started_at);
        assert!(
            sessions::find_by_access_digest(conn, "access-1")
                .unwrap()
                .is_none()
        );
        assert!(
            sessions::find_by_access_digest(conn, "access-2")
                .unwrap()
                .is_some()
        );

        // Replaying the old refresh secret is reported; the caller revokes the family.
        let RotateOutcome::Replayed(replayed) =
            sessions::rotate(conn, "refresh-1", &rotation("3"), now).unwrap()
        else {
            panic!("expected a replay")
        };
        assert_eq!(
            sessions::delete_family(conn, &replayed.family_id).unwrap(),
            2
        );
        assert!(
            sessions::find_by_access_digest(conn, "access-2")
                .unwrap()
                .is_none()
        );

        assert_eq!(
            sessions::rotate(conn, "unknown", &rotation("4"), now).unwrap(),
            RotateOutcome::NotFound
        );
        let mut expired = new_session(u.id, "e");
        expired.refresh_expires_at = now - TimeDelta::seconds(1);
        sessions::create(conn, &expired).unwrap();
        assert!(matches!(
            sessions::rotate(conn, "refresh-e", &rotation("5"), now).unwrap(),
            RotateOutcome::Expired(_)
        ));
    });
}

#[test]
fn concurrent_rotation_of_one_secret_has_one_winner() {
    common::on_each_backend("rotation_race", |tdb| {
        let db = tdb.auth_sized(8);
        let u = {
            let conn = &mut db.conn().unwrap();
            let u = users::create(conn, &new_user("u")).unwrap();
            sessions::create(conn, &new_session(u.id, "r")).unwrap();
            u
        };
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let db = db.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let conn = &mut db.conn().unwrap();
                    barrier.wait();
                    sessions::rotate(conn, "refresh-r", &rotation(&format!("n{i}")), Utc::now())
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated { .. }))
            .count();
        let replays = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Replayed(_)))
            .count();
        assert_eq!((winners, replays), (1, 7), "{}", tdb.label());
        let conn = &mut db.conn().unwrap();
        assert_eq!(
            sessions::list_active_for_user(conn, u.id, Utc::now())
                .unwrap()
                .len(),
            1
        );
    });
}

#[test]
fn tokens_are_found_by_digest_with_their_owner() {
    common::on_each_backend("tokens_lookup", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let created = tokens::create(conn, &new_token(u.id, "d1")).unwrap();
        assert_eq!(created.public_id.len(), 32);
        assert_eq!(created.allowed_features, vec!["identify", "audd"]);
        assert_eq!(
            created.quota_limits.get("audd_standard_lookup"),
            Some(&None)
        );
        assert!(created.last_used_at.is_none());

        let (token, owner) = tokens::find_by_digest_with_user(conn, "d1")
            .unwrap()
            .unwrap();
        assert_eq!((token.clone(), owner.id), (created.clone(), u.id));
        assert_eq!(
            tokens::find_by_digest(conn, "d1").unwrap().unwrap(),
            created
        );
        assert_eq!(
            tokens::find_by_public_id(conn, &created.public_id)
                .unwrap()
                .unwrap(),
            created
        );
        assert!(tokens::find_by_digest(conn, "d2").unwrap().is_none());

        assert!(matches!(
            tokens::create(conn, &new_token(u.id, "d1")),
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            tokens::create(conn, &new_token(777_777, "d3")),
            Err(StorageError::MissingReference(_))
        ));

        let mut expiring = new_token(u.id, "d4");
        expiring.expires_at = Some(Utc::now() - TimeDelta::seconds(1));
        let expiring = tokens::create(conn, &expiring).unwrap();
        assert!(expiring.is_expired_at(Utc::now()));
        assert_eq!(tokens::list(conn).unwrap().len(), 2);

        assert!(tokens::delete_by_public_id(conn, &created.public_id).unwrap());
        assert!(!tokens::delete_by_public_id(conn, &created.public_id).unwrap());
        assert!(tokens::find_by_digest(conn, "d1").unwrap().is_none());
    });
}

#[test]
fn token_last_used_is_throttled() {
    common::on_each_backend("token_touch", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let t = tokens::create(conn, &new_token(u.id, "d")).unwrap();
        let now = Utc::now();
        let every = Duration::from_mins(1);
        assert!(tokens::touch_last_used(conn, t.id, now, every).unwrap());
        assert!(!tokens::touch_last_used(conn, t.id, now + TimeDelta::seconds(30), every).unwrap());
        assert!(tokens::touch_last_used(conn, t.id, now + TimeDelta::seconds(61), every).unwrap());
        let stored = tokens::find_by_digest(conn, "d").unwrap().unwrap();
        assert_eq!(
            stored.last_used_at.map(|t| t.timestamp_micros()),
            Some((now + TimeDelta::seconds(61)).timestamp_micros())
        );
    });
}

#[test]
fn seed_tokens_are_replaced_when_the_value_changes() {
    common::on_each_backend("seed_tokens", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("admin")).unwrap();
        let mut seed = new_token(u.id, "old-digest");
        seed.seed = Some("admin".into());
        let first = tokens::upsert_seed(conn, &seed).unwrap();
        // Same value again: same row, metadata refreshed.
        seed.allowed_features = vec!["identify".into(), "audd".into(), "rename".into()];
        let again = tokens::upsert_seed(conn, &seed).unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.allowed_features.len(), 3);
        // A new configured value: the old digest stops working.
        seed.digest = "new-digest".into();
        let replaced = tokens::upsert_seed(conn, &seed).unwrap();
        assert_ne!(replaced.id, first.id);
        assert!(
            tokens::find_by_digest(conn, "old-digest")
                .unwrap()
                .is_none()
        );
        assert_eq!(replaced.seed.as_deref(), Some("admin"));
        // A non-seed token is untouched by seeding.
        tokens::create(conn, &new_token(u.id, "manual")).unwrap();
        assert_eq!(tokens::delete_seed(conn, "admin").unwrap(), 1);
        assert_eq!(tokens::list(conn).unwrap().len(), 1);
        seed.seed = None;
        assert!(matches!(
            tokens::upsert_seed(conn, &seed),
            Err(StorageError::Invalid(_))
        ));
    });
}

#[test]
fn quota_consumes_within_the_limit_and_says_when_it_frees_up() {
    common::on_each_backend("quota_basic", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let t0 = Utc::now();
        let scope = "acoustid_lookup";
        for i in 1..=3 {
            let d = quota::consume(conn, u.id, scope, 1, 3, t0 + TimeDelta::minutes(i)).unwrap();
            assert!(matches!(d, QuotaDecision::Granted { used, limit: 3, .. } if used == i));
        }
        let denied = quota::consume(conn, u.id, scope, 1, 3, t0 + TimeDelta::hours(1)).unwrap();
        let QuotaDecision::Denied {
            used: 3,
            cost: 1,
            limit: 3,
            retry_at: Some(retry_at),
        } = denied
        else {
            panic!("{}: expected a denial, got {denied:?}", tdb.label())
        };
        // The first unit (bucket of t0+1min) leaves the window 24 h after its bucket ends.
        let first_bucket_end = (t0 + TimeDelta::minutes(2)).timestamp() / 60 * 60;
        assert_eq!(
            retry_at.timestamp(),
            first_bucket_end + 24 * 3600,
            "{}",
            tdb.label()
        );
        // Other scopes and users are independent.
        assert!(
            quota::consume(conn, u.id, "musicbrainz_enrich", 1, 3, t0)
                .unwrap()
                .is_granted()
        );
        let v = users::create(conn, &new_user("v")).unwrap();
        assert!(
            quota::consume(conn, v.id, scope, 1, 3, t0)
                .unwrap()
                .is_granted()
        );

        // Just before the window frees: still denied; at retry_at: granted.
        let just_before = retry_at - TimeDelta::seconds(1);
        assert!(
            !quota::consume(conn, u.id, scope, 1, 3, just_before)
                .unwrap()
                .is_granted()
        );
        assert!(
            quota::consume(conn, u.id, scope, 1, 3, retry_at)
                .unwrap()
                .is_granted()
        );
        let usage = quota::usage(conn, u.id, scope, retry_at).unwrap();
        assert_eq!(usage.used, 3);

        // Days later everything has rolled out, and housekeeping removes the rows.
        let later = t0 + TimeDelta::days(3);
        assert_eq!(quota::usage(conn, u.id, scope, later).unwrap().used, 0);
        assert_eq!(quota::reset(conn, v.id, None).unwrap(), 1);
        assert!(quota::purge_expired(conn, later).unwrap() >= 1);
    });
}

#[test]
fn quota_limit_zero_or_cost_above_limit_never_frees() {
    common::on_each_backend("quota_zero", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("u")).unwrap();
        let now = Utc::now();
        assert_eq!(
            quota::consume(conn, u.id, "audd_standard_lookup", 1, 0, now).unwrap(),
            QuotaDecision::Denied {
                used: 0,
                cost: 1,
                limit: 0,
                retry_at: None
            }
        );
        assert!(matches!(
            quota::consume(conn, u.id, "x", 3, 2, now).unwrap(),
            QuotaDecision::Denied { retry_at: None, .. }
        ));
        assert!(matches!(
            quota::consume(conn, u.id, "x", 0, 2, now),
            Err(StorageError::Invalid(_))
        ));
    });
}

#[test]
fn concurrent_quota_consumption_never_overshoots() {
    common::on_each_backend("quota_race", |tdb| {
        let db = tdb.auth_sized(8);
        let user_id = users::create(&mut db.conn().unwrap(), &new_user("u"))
            .unwrap()
            .id;
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let db = db.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let conn: &mut Conn = &mut db.conn().unwrap();
                    barrier.wait();
                    // 8 threads × 12 or 13 attempts = 100 units against a limit of 50.
                    let attempts = if t < 4 { 13 } else { 12 };
                    (0..attempts)
                        .filter(|_| {
                            quota::consume(conn, user_id, "acoustid_lookup", 1, 50, Utc::now())
                                .unwrap()
                                .is_granted()
                        })
                        .count()
                })
            })
            .collect();
        let granted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(granted, 50, "{}", tdb.label());
        let conn = &mut db.conn().unwrap();
        assert_eq!(
            quota::usage(conn, user_id, "acoustid_lookup", Utc::now())
                .unwrap()
                .used,
            50
        );
    });
}

#[test]
fn quota_refunds_give_back_the_newest_units_only() {
    common::on_each_backend("quota_refund", |tdb| {
        let db = tdb.auth();
        let conn = &mut db.conn().unwrap();
        let u = users::create(conn, &new_user("r")).unwrap();
        let t0 = Utc::now();
        let scope = "acoustid_lookup";
        for minute in 0..3 {
            quota::consume(conn, u.id, scope, 1, 3, t0 + TimeDelta::minutes(minute)).unwrap();
        }
        assert!(matches!(
            quota::consume(conn, u.id, scope, 1, 3, t0 + TimeDelta::minutes(4)).unwrap(),
            QuotaDecision::Denied { used: 3, .. }
        ));
        // Two units back: one more use fits, then the limit holds again.
        assert_eq!(
            quota::refund(conn, u.id, scope, 2, t0 + TimeDelta::minutes(5)).unwrap(),
            2,
            "{}",
            tdb.label()
        );
        assert_eq!(
            quota::usage(conn, u.id, scope, t0 + TimeDelta::minutes(5))
                .unwrap()
                .used,
            1,
            "{}",
            tdb.label()
        );
        assert!(matches!(
            quota::consume(conn, u.id, scope, 2, 3, t0 + TimeDelta::minutes(6)).unwrap(),
            QuotaDecision::Granted { used: 3, .. }
        ));
        // Never below zero, and other users are untouched.
        assert_eq!(
            quota::refund(conn, u.id, scope, 10, t0 + TimeDelta::minutes(7)).unwrap(),
            3,
            "{}",
            tdb.label()
        );
        assert_eq!(
            quota::refund(conn, u.id, scope, 1, t0 + TimeDelta::minutes(7)).unwrap(),
            0,
            "{}",
            tdb.label()
        );
        assert_eq!(quota::refund(conn, u.id, scope, 0, t0).unwrap(), 0);
    });
}

#[test]
fn a_failure_on_one_backend_still_runs_the_others_and_names_them() {
    let expected = common::backends("each_backend_probe").len();
    let mut ran = Vec::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        common::on_each_backend("each_backend_probe", |tdb| {
            ran.push(tdb.label());
            panic!("fails on {}", tdb.label());
        });
    }));
    assert!(outcome.is_err(), "the failures must fail the test");
    assert_eq!(ran.len(), expected, "every backend ran: {ran:?}");
}
