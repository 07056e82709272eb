//! Integration tests of `recozik_auth` over real databases: every test runs on SQLite and, when
//! `RECOZIK_TEST_POSTGRES_URL` is set, on PostgreSQL, each run on its own fresh database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)]

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::TimeDelta;
use recozik_auth::principal::{CSRF_COOKIE, REFRESH_COOKIE, SESSION_COOKIE};
use recozik_auth::secret::{TOKEN_PREFIX, digest};
use recozik_auth::{
    Auth, AuthError, AuthMethod, AuthSettings, CredentialSource, ErrorKind, Feature,
    NewTokenRequest, NewUserRequest, PasswordParams, QuotaOutcome, QuotaScope, SameSite, UserPatch,
    ValidationError, check_feature, require_admin, require_session, require_session_admin, seed,
};
use recozik_storage::users::{self, NewUser, QuotaLimits, User};
use recozik_storage::{sessions, tokens};

use common::{on_each_backend, settings};

const PASSWORD: &str = "TestPassword1!";

/// A user written straight to the database, with password [`PASSWORD`].
fn make_user(auth: &Auth, username: &str, roles: &[&str], features: &[&str]) -> User {
    make_user_with(auth, username, roles, features, QuotaLimits::new())
}

fn make_user_with(
    auth: &Auth,
    username: &str,
    roles: &[&str],
    features: &[&str],
    quota: QuotaLimits,
) -> User {
    let mut conn = auth.database().conn().unwrap();
    users::create(
        &mut conn,
        &NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            display_name: Some(format!("{username} display")),
            password_hash: auth.hasher().hash(PASSWORD).unwrap(),
            is_active: true,
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            allowed_features: features.iter().map(|s| (*s).to_owned()).collect(),
            quota_limits: quota,
        },
    )
    .unwrap()
}

fn token_for(auth: &Auth, user_id: i64, roles: &[&str], features: &[&str]) -> String {
    auth.create_token(&NewTokenRequest {
        user_id,
        display_name: "tok".into(),
        roles: roles.iter().map(|s| (*s).to_owned()).collect(),
        allowed_features: features.iter().map(|s| (*s).to_owned()).collect(),
        ..NewTokenRequest::default()
    })
    .unwrap()
    .token
}

fn get(session: Option<&str>, token: Option<&str>) -> CredentialSource<'static> {
    // Leak for brevity in tests: the strings live for the whole test process.
    CredentialSource {
        method: "GET",
        session_cookie: session.map(|s| &*Box::leak(s.to_owned().into_boxed_str())),
        api_token: token.map(|s| &*Box::leak(s.to_owned().into_boxed_str())),
        csrf_cookie: None,
        csrf_header: None,
    }
}

fn limits(pairs: &[(&str, Option<i64>)]) -> QuotaLimits {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

// ------------------------------------------------------------------------------------------
// Sessions, cookies, principals
// ------------------------------------------------------------------------------------------

#[test]
fn login_issues_digested_session_and_principal_carries_display_name_and_email() {
    on_each_backend("login_session", |t| {
        let (auth, _clock) = t.auth(settings());
        let alice = make_user(&auth, "alice", &["user"], &["identify"]);
        let issued = auth.login("alice", PASSWORD, false).unwrap();
        let now = auth.now();
        assert_eq!(
            issued.access_expires_at - now,
            TimeDelta::hours(1),
            "{}",
            t.label()
        );
        assert_eq!(issued.refresh_expires_at - now, TimeDelta::days(7));
        assert_eq!(issued.access_token.len(), 43);
        let body = issued.response();
        assert_eq!(body.username, "alice");
        assert_eq!(body.allowed_features, vec!["identify".to_owned()]);

        // Only digests are stored.
        let mut conn = auth.database().conn().unwrap();
        let row = sessions::find_by_access_digest(&mut conn, &digest(&issued.access_token))
            .unwrap()
            .unwrap();
        assert_eq!(row.refresh_digest, digest(&issued.refresh_token));
        assert_ne!(row.access_digest, issued.access_token);

        let p = auth
            .resolve_principal(&get(Some(&issued.access_token), None))
            .unwrap();
        assert_eq!(p.user_id, alice.id);
        assert_eq!(p.username, "alice");
        assert_eq!(p.email, "alice@example.com");
        assert_eq!(p.display_name.as_deref(), Some("alice display"));
        assert_eq!(p.allowed_features, vec![Feature::Identify]);
        assert!(matches!(p.method, AuthMethod::Session { .. }));
    });
}

#[test]
fn cookies_follow_the_spec_in_dev_and_production() {
    on_each_backend("cookies", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "bob", &[], &[]);
        let issued = auth.login("bob", PASSWORD, true).unwrap();
        let [session, refresh, csrf] = issued.cookies(auth.settings());
        assert_eq!(session.name, SESSION_COOKIE);
        assert_eq!(refresh.name, REFRESH_COOKIE);
        assert_eq!(csrf.name, CSRF_COOKIE);
        assert_eq!(session.max_age_secs, 3600);
        // remember: 30 days; the CSRF cookie lives as long as the refresh cookie.
        assert_eq!(refresh.max_age_secs, 30 * 24 * 3600);
        assert_eq!(csrf.max_age_secs, refresh.max_age_secs);
        assert_eq!(csrf.expires, refresh.expires);
        assert!(session.http_only && refresh.http_only && !csrf.http_only);
        for c in [&session, &refresh, &csrf] {
            assert_eq!(c.path, "/");
            assert!(!c.secure);
            assert_eq!(c.same_site, SameSite::Lax);
        }
        let prod = AuthSettings {
            production_mode: true,
            ..settings()
        };
        for c in issued.cookies(&prod) {
            assert!(c.secure);
            assert_eq!(c.same_site, SameSite::Strict);
        }
        assert_eq!(auth.clear_cookies().len(), 6);
    });
}

#[test]
fn login_failures_unknown_user_and_wrong_password_look_the_same() {
    on_each_backend("login_failures", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "carol", &[], &[]);
        let wrong = auth.login("carol", "WrongPassword1!", false).unwrap_err();
        let unknown = auth.login("nobody", PASSWORD, false).unwrap_err();
        assert!(matches!(wrong, AuthError::InvalidCredentials));
        assert!(matches!(unknown, AuthError::InvalidCredentials));
        assert_eq!(wrong.to_string(), "Invalid credentials");
        assert_eq!(unknown.to_string(), wrong.to_string());
        assert_eq!(wrong.kind(), ErrorKind::Unauthenticated);
        // Case-sensitive usernames.
        assert!(auth.login("Carol", PASSWORD, false).is_err());
    });
}

#[test]
fn unknown_user_costs_as_much_as_a_wrong_password() {
    // Real Argon2 parameters so the hashing dominates; SQLite only (timing, not storage).
    let t = common::sqlite();
    let clock = Arc::new(recozik_auth::ManualClock::starting_now());
    let auth = Auth::with_clock(t.db(2), AuthSettings::default(), clock).unwrap();
    make_user(&auth, "dave", &[], &[]);
    // CPU time of this thread, not wall time: Argon2 is CPU work, and a busy machine (other
    // tests on the same cores) stretches wall time at random.
    let cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or_default(),
            u32::try_from(t.tv_nsec).unwrap_or_default(),
        )
    };
    let cost = |username: &str| {
        let start = cpu();
        let _ = auth.login(username, "WrongPassword1!", false);
        cpu().saturating_sub(start)
    };
    // Interleaved, so that any drift affects both alike.
    let (mut wrong, mut unknown): (Vec<Duration>, Vec<Duration>) =
        (0..9).map(|_| (cost("dave"), cost("nobody"))).unzip();
    wrong.sort();
    unknown.sort();
    let (wrong, unknown) = (wrong[4], unknown[4]);
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.6..1.67).contains(&ratio),
        "unknown {unknown:?} vs wrong {wrong:?}"
    );
    assert!(
        wrong > Duration::from_millis(2),
        "Argon2 did not run: {wrong:?}"
    );
}

#[test]
fn deactivated_users_are_refused_at_login_sessions_and_tokens() {
    on_each_backend("deactivated", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "admin", &["admin"], &[]);
        let eve = make_user(&auth, "eve", &["user"], &[]);
        let issued = auth.login("eve", PASSWORD, false).unwrap();
        let token = token_for(&auth, eve.id, &[], &[]);
        assert!(auth.resolve_token(&token).is_ok());

        let mut conn = auth.database().conn().unwrap();
        users::update(
            &mut conn,
            eve.id,
            &users::UserUpdate {
                is_active: Some(false),
                ..users::UserUpdate::default()
            },
        )
        .unwrap();

        let err = auth.login("eve", PASSWORD, false).unwrap_err();
        assert!(matches!(err, AuthError::UserDisabled), "{}", t.label());
        assert_eq!(err.to_string(), "user_disabled");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        // A wrong password still says "Invalid credentials" (no account-state oracle).
        assert!(matches!(
            auth.login("eve", "nope", false).unwrap_err(),
            AuthError::InvalidCredentials
        ));
        assert!(matches!(
            auth.resolve_principal(&get(Some(&issued.access_token), None)),
            Err(AuthError::UserDisabled)
        ));
        assert!(matches!(
            auth.resolve_token(&token),
            Err(AuthError::UserDisabled)
        ));
        assert!(matches!(
            auth.refresh(Some(&issued.refresh_token)),
            Err(AuthError::UserDisabled | AuthError::InvalidRefreshToken)
        ));
    });
}

#[test]
fn deactivation_through_update_user_purges_sessions() {
    on_each_backend("deactivate_update", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "root", &["admin"], &[]);
        let frank = make_user(&auth, "frank", &["user"], &[]);
        let issued = auth.login("frank", PASSWORD, false).unwrap();
        auth.update_user(
            frank.id,
            &UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        )
        .unwrap();
        assert!(auth.list_user_sessions(frank.id).unwrap().is_empty());
        assert!(matches!(
            auth.resolve_principal(&get(Some(&issued.access_token), None)),
            Err(AuthError::MissingAuth)
        ));
    });
}

#[test]
fn resolution_order_session_first_then_token_with_upstream_texts() {
    on_each_backend("resolution_order", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "admin", &["admin"], &[]);
        let grace = make_user(&auth, "grace", &["user"], &[]);
        let admin_token = token_for(&auth, admin.id, &["admin"], &[]);
        let issued = auth.login("grace", PASSWORD, false).unwrap();

        // Session wins over the token header.
        let p = auth
            .resolve_principal(&get(Some(&issued.access_token), Some(&admin_token)))
            .unwrap();
        assert_eq!(p.user_id, grace.id);
        // Invalid session cookie quietly falls through to the token.
        let p = auth
            .resolve_principal(&get(Some("garbage"), Some(&admin_token)))
            .unwrap();
        assert_eq!(p.user_id, admin.id);
        assert!(matches!(p.method, AuthMethod::Token { .. }));
        assert_eq!(p.display_name.as_deref(), Some("tok"));
        assert_eq!(p.email, "admin@example.com");
        // Nothing.
        let err = auth.resolve_principal(&get(None, None)).unwrap_err();
        assert_eq!(err.to_string(), "Missing auth");
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        let err = auth
            .resolve_principal(&get(Some("garbage"), Some("")))
            .unwrap_err();
        assert_eq!(err.to_string(), "Missing auth");
        // Bad token.
        let err = auth
            .resolve_principal(&get(None, Some("not-a-token")))
            .unwrap_err();
        assert_eq!(err.to_string(), "Invalid API token");
        assert_eq!(err.code(), "invalid_token");
    });
}

#[test]
fn csrf_is_required_for_unsafe_cookie_requests_only() {
    on_each_backend("csrf", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "admin", &["admin"], &[]);
        let token = token_for(&auth, admin.id, &["admin"], &[]);
        let issued = auth.login("admin", PASSWORD, false).unwrap();
        let access = issued.access_token.as_str();
        let csrf = issued.csrf_token.as_str();

        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let mut src = CredentialSource {
                method,
                session_cookie: Some(access),
                ..CredentialSource::default()
            };
            let err = auth.resolve_principal(&src).unwrap_err();
            assert_eq!(err.to_string(), "CSRF token missing or invalid");
            src.csrf_cookie = Some(csrf);
            src.csrf_header = Some("wrong");
            assert!(matches!(
                auth.resolve_principal(&src),
                Err(AuthError::CsrfFailed)
            ));
            src.csrf_header = Some(csrf);
            assert!(auth.resolve_principal(&src).is_ok(), "{method}");
        }
        // Safe methods need no CSRF.
        let src = CredentialSource {
            method: "GET",
            session_cookie: Some(access),
            ..CredentialSource::default()
        };
        assert!(auth.resolve_principal(&src).is_ok());
        // Token requests never need CSRF, even unsafe ones.
        let src = CredentialSource {
            method: "POST",
            api_token: Some(&token),
            ..CredentialSource::default()
        };
        assert!(auth.resolve_principal(&src).is_ok());
    });
}

#[test]
fn session_only_endpoints_check_csrf_first_ignore_tokens_then_roles() {
    on_each_backend("session_only", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "admin", &["admin"], &[]);
        make_user(&auth, "reader", &["readonly"], &[]);
        let token = token_for(&auth, admin.id, &["admin"], &[]);

        // Anonymous POST without CSRF: the CSRF 403 comes first.
        let src = CredentialSource {
            method: "POST",
            ..CredentialSource::default()
        };
        assert!(matches!(
            auth.resolve_session_only(&src),
            Err(AuthError::CsrfFailed)
        ));
        // With CSRF but no session: "Admin required" / "Auth required".
        let src = CredentialSource {
            method: "POST",
            api_token: Some(&token),
            csrf_cookie: Some("x"),
            csrf_header: Some("x"),
            ..CredentialSource::default()
        };
        let none = auth.resolve_session_only(&src).unwrap();
        assert!(none.is_none(), "tokens are ignored on session-only routes");
        assert_eq!(
            require_session_admin(None).unwrap_err().to_string(),
            "Admin required"
        );
        assert_eq!(
            require_session(None).unwrap_err().to_string(),
            "Auth required"
        );

        let reader = auth.login("reader", PASSWORD, false).unwrap();
        let src = CredentialSource {
            method: "GET",
            session_cookie: Some(&reader.access_token),
            ..CredentialSource::default()
        };
        let p = auth.resolve_session_only(&src).unwrap();
        assert!(matches!(
            require_session_admin(p),
            Err(AuthError::AdminRequired)
        ));
        let adm = auth.login("admin", PASSWORD, false).unwrap();
        let src = CredentialSource {
            method: "GET",
            session_cookie: Some(&adm.access_token),
            ..CredentialSource::default()
        };
        let p = require_session_admin(auth.resolve_session_only(&src).unwrap()).unwrap();
        assert_eq!(p.username, "admin");
    });
}

#[test]
fn access_expires_after_one_hour_and_refresh_rotates() {
    on_each_backend("refresh_rotates", |t| {
        let (auth, clock) = t.auth(settings());
        make_user(&auth, "henry", &["user"], &[]);
        let first = auth.login("henry", PASSWORD, false).unwrap();
        clock.advance(TimeDelta::minutes(61));
        assert!(
            matches!(
                auth.resolve_principal(&get(Some(&first.access_token), None)),
                Err(AuthError::MissingAuth)
            ),
            "{}",
            t.label()
        );
        let second = auth.refresh(Some(&first.refresh_token)).unwrap();
        assert_eq!(second.family_id, first.family_id);
        assert_ne!(second.access_token, first.access_token);
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_ne!(second.csrf_token, first.csrf_token);
        assert_eq!(second.refresh_expires_at - auth.now(), TimeDelta::days(7));
        assert!(
            auth.resolve_principal(&get(Some(&second.access_token), None))
                .is_ok()
        );
        // The old access secret is dead even before its expiry.
        let third = auth.refresh(Some(&second.refresh_token)).unwrap();
        assert!(
            auth.resolve_session(&second.access_token)
                .unwrap()
                .is_none()
        );
        assert!(auth.resolve_session(&third.access_token).unwrap().is_some());
        // Missing and unknown refresh secrets.
        assert_eq!(
            auth.refresh(None).unwrap_err().to_string(),
            "Missing refresh token"
        );
        assert_eq!(
            auth.refresh(Some("")).unwrap_err().to_string(),
            "Missing refresh token"
        );
        assert_eq!(
            auth.refresh(Some("unknown")).unwrap_err().to_string(),
            "Invalid refresh token"
        );
    });
}

#[test]
fn replayed_refresh_secret_revokes_the_whole_family() {
    on_each_backend("refresh_replay", |t| {
        let (auth, clock) = t.auth(settings());
        make_user(&auth, "ivy", &["user"], &[]);
        let first = auth.login("ivy", PASSWORD, false).unwrap();
        let other_login = auth.login("ivy", PASSWORD, false).unwrap();
        let second = auth.refresh(Some(&first.refresh_token)).unwrap();

        // Long after the rotation: a replay. The family (including the legitimate new session)
        // is revoked.
        clock.advance(TimeDelta::seconds(30));
        let err = auth.refresh(Some(&first.refresh_token)).unwrap_err();
        assert!(matches!(err, AuthError::RefreshReused), "{}", t.label());
        assert_eq!(err.to_string(), "Invalid refresh token");
        assert_eq!(err.code(), "refresh_reused");
        assert!(
            auth.resolve_session(&second.access_token)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            auth.refresh(Some(&second.refresh_token)),
            Err(AuthError::InvalidRefreshToken)
        ));
        // Another login of the same user is untouched.
        assert!(
            auth.resolve_session(&other_login.access_token)
                .unwrap()
                .is_some()
        );
    });
}

#[test]
fn a_replay_right_after_the_rotation_also_revokes_the_family() {
    on_each_backend("refresh_replay_at_once", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "ike", &["user"], &[]);
        let stolen = auth.login("ike", PASSWORD, false).unwrap();
        // The thief refreshes first and holds the new secrets…
        let thief = auth.refresh(Some(&stolen.refresh_token)).unwrap();
        // …then the victim presents the old secret, with no time in between.
        let err = auth.refresh(Some(&stolen.refresh_token)).unwrap_err();
        assert!(
            matches!(err, AuthError::RefreshReused),
            "{}: {err:?}",
            t.label()
        );
        // Nothing of the family survives: neither the thief's access nor refresh secret.
        assert!(
            auth.resolve_session(&thief.access_token).unwrap().is_none(),
            "{}",
            t.label()
        );
        assert!(matches!(
            auth.refresh(Some(&thief.refresh_token)),
            Err(AuthError::InvalidRefreshToken)
        ));
    });
}

#[test]
fn parallel_refresh_of_one_session_has_one_winner_and_the_replays_revoke_it() {
    on_each_backend("parallel_refresh", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "jack", &["user"], &[]);
        let first = auth.login("jack", PASSWORD, false).unwrap();
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let auth = auth.clone();
                let secret = first.refresh_token.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    auth.refresh(Some(&secret))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{}: {results:?}", t.label());
        for r in &results {
            if let Err(e) = r {
                // A loser saw the rotated secret (and revoked the family), or came after the
                // family was already gone.
                assert!(
                    matches!(e, AuthError::RefreshReused | AuthError::InvalidRefreshToken),
                    "{e:?}"
                );
            }
        }
        // Whoever won, the replays by the others leave no session of this family alive: a
        // concurrent refresh cannot be told apart from a thief's.
        for winner in winners {
            assert!(
                auth.resolve_session(&winner.access_token)
                    .unwrap()
                    .is_none(),
                "{}",
                t.label()
            );
        }
        assert!(
            auth.resolve_session(&first.access_token).unwrap().is_none(),
            "{}",
            t.label()
        );
    });
}

#[test]
fn refresh_expiry_and_absolute_session_age() {
    on_each_backend("refresh_expiry", |t| {
        let (auth, clock) = t.auth(settings());
        make_user(&auth, "kim", &["user"], &[]);
        let s = auth.login("kim", PASSWORD, false).unwrap();
        clock.advance(TimeDelta::days(7) + TimeDelta::seconds(1));
        let err = auth.refresh(Some(&s.refresh_token)).unwrap_err();
        assert_eq!(err.to_string(), "Refresh expired", "{}", t.label());

        // Remember: 30 days.
        let s = auth.login("kim", PASSWORD, true).unwrap();
        clock.advance(TimeDelta::days(29));
        let s = auth.refresh(Some(&s.refresh_token)).unwrap();
        assert!(s.remember);

        // Absolute cap: with a 2-day maximum, refreshing cannot extend the login beyond it.
        let capped = AuthSettings {
            max_session_age_secs: 2 * 24 * 3600,
            ..settings()
        };
        let (auth2, clock2) = t.auth(capped);
        let s = auth2.login("kim", PASSWORD, false).unwrap();
        assert!(s.refresh_expires_at - auth2.now() <= TimeDelta::days(2));
        clock2.advance(TimeDelta::days(1));
        let s = auth2.refresh(Some(&s.refresh_token)).unwrap();
        // (storage stamps the family start with its own clock, a few ms after the manual
        // clock's start, hence the small tolerance)
        assert!(s.refresh_expires_at - auth2.now() <= TimeDelta::days(1) + TimeDelta::seconds(5));
        clock2.advance(TimeDelta::days(1) + TimeDelta::seconds(10));
        assert!(matches!(
            auth2.refresh(Some(&s.refresh_token)),
            Err(AuthError::RefreshExpired)
        ));
    });
}

#[test]
fn logout_ends_the_family_and_tolerates_missing_cookies() {
    on_each_backend("logout", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "lea", &["user"], &[]);
        let a = auth.login("lea", PASSWORD, false).unwrap();
        let b = auth.refresh(Some(&a.refresh_token)).unwrap();
        let other = auth.login("lea", PASSWORD, false).unwrap();
        auth.logout(Some(&b.access_token), Some(&b.refresh_token))
            .unwrap();
        assert!(auth.resolve_session(&b.access_token).unwrap().is_none());
        assert!(auth.refresh(Some(&b.refresh_token)).is_err());
        assert!(auth.resolve_session(&other.access_token).unwrap().is_some());
        auth.logout(None, None).unwrap();
        auth.logout(Some("unknown"), Some("unknown")).unwrap();
        // Logout with only the refresh cookie (access cookie expired).
        auth.logout(None, Some(&other.refresh_token)).unwrap();
        assert!(auth.resolve_session(&other.access_token).unwrap().is_none());
        assert_eq!(auth.purge_expired_sessions().unwrap(), 0);
    });
}

#[test]
fn rehash_on_login_when_parameters_change() {
    on_each_backend("rehash", |t| {
        let (auth, _clock) = t.auth(settings());
        let user = make_user(&auth, "max", &["user"], &[]);
        let stronger = AuthSettings {
            password: PasswordParams {
                memory_kib: 128,
                iterations: 2,
                parallelism: 1,
            },
            ..settings()
        };
        let auth2 = Auth::new(auth.database().clone(), stronger).unwrap();
        auth2.login("max", PASSWORD, false).unwrap();
        let mut conn = auth.database().conn().unwrap();
        let stored = users::get(&mut conn, user.id).unwrap().unwrap();
        assert_ne!(stored.password_hash, user.password_hash, "{}", t.label());
        assert!(stored.password_hash.contains("m=128,t=2,p=1"));
        assert!(!auth2.hasher().needs_rehash(&stored.password_hash));
        // Both services still accept the password.
        auth.login("max", PASSWORD, false).unwrap();
    });
}

#[test]
fn change_and_reset_password() {
    on_each_backend("passwords", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "root", &["admin"], &[]);
        let nina = make_user(&auth, "nina", &["user"], &[]);
        let token = token_for(&auth, nina.id, &[], &[]);
        let s = auth.login("nina", PASSWORD, false).unwrap();

        let err = auth
            .change_password(nina.id, "wrong", "Str0ngPassw0rd!")
            .unwrap_err();
        assert_eq!(err.to_string(), "Invalid credentials");
        let err = auth.change_password(nina.id, PASSWORD, "weak").unwrap_err();
        assert_eq!(err.to_string(), "Password must be at least 12 characters");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(matches!(
            auth.change_password(999_999, PASSWORD, "Str0ngPassw0rd!"),
            Err(AuthError::InvalidCredentials)
        ));
        auth.change_password(nina.id, PASSWORD, "Str0ngPassw0rd!")
            .unwrap();
        // Every session is gone, tokens are kept.
        assert!(auth.resolve_session(&s.access_token).unwrap().is_none());
        assert!(auth.resolve_token(&token).is_ok());
        assert!(auth.login("nina", PASSWORD, false).is_err());
        let s = auth.login("nina", "Str0ngPassw0rd!", false).unwrap();

        assert!(matches!(
            auth.reset_password(999_999, "Str0ngPassw0rd!"),
            Err(AuthError::UserNotFound)
        ));
        assert!(matches!(
            auth.reset_password(nina.id, "weak"),
            Err(AuthError::Validation(ValidationError::WeakPassword(_)))
        ));
        auth.reset_password(nina.id, "An0ther-Passw0rd").unwrap();
        assert!(auth.resolve_session(&s.access_token).unwrap().is_none());
        auth.login("nina", "An0ther-Passw0rd", false).unwrap();
    });
}

// ------------------------------------------------------------------------------------------
// API tokens
// ------------------------------------------------------------------------------------------

#[test]
fn generated_tokens_are_shown_once_stored_as_digest_listed_with_id_and_hint() {
    on_each_backend("token_generated", |t| {
        let (auth, _clock) = t.auth(settings());
        let owner = make_user(&auth, "olga", &["user"], &[]);
        let created = auth
            .create_token(&NewTokenRequest {
                user_id: owner.id,
                display_name: "  olga's tok ".into(),
                roles: vec!["user".into()],
                allowed_features: vec!["rename".into(), "identify".into(), "identify".into()],
                quota_limits: limits(&[("acoustid_lookup", Some(1))]),
                ..NewTokenRequest::default()
            })
            .unwrap();
        assert!(created.token.starts_with(TOKEN_PREFIX), "{}", t.label());
        assert!(created.token.len() >= 40);
        let last4: String = created
            .token
            .chars()
            .skip(created.token.len() - 4)
            .collect();
        assert_eq!(created.info.token_hint, format!("****{last4}"));
        assert_eq!(created.info.display_name, "olga's tok");
        assert_eq!(created.info.allowed_features, vec!["identify", "rename"]);

        let listed = auth.list_tokens().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, created.info.id);
        assert_eq!(listed[0].token_hint, created.info.token_hint);
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains(&created.token));

        let mut conn = auth.database().conn().unwrap();
        let row = tokens::find_by_public_id(&mut conn, &created.info.id)
            .unwrap()
            .unwrap();
        assert_eq!(row.digest, digest(&created.token));
        assert_eq!(auth.list_user_tokens(owner.id).unwrap().len(), 1);

        let p = auth.resolve_token(&created.token).unwrap();
        assert_eq!(p.user_id, owner.id);
        assert_eq!(p.allowed_features, vec![Feature::Identify, Feature::Rename]);
        assert_eq!(p.quota_limit(QuotaScope::AcoustidLookup), Some(1));
    });
}

#[test]
fn chosen_token_values_duplicates_and_production_minimum() {
    on_each_backend("token_chosen", |t| {
        let (auth, _clock) = t.auth(settings());
        let owner = make_user(&auth, "pat", &["user"], &[]);
        let req = |value: &str| NewTokenRequest {
            token: Some(value.to_owned()),
            user_id: owner.id,
            display_name: "chosen".into(),
            ..NewTokenRequest::default()
        };
        // Dev mode: short values accepted.
        let c = auth.create_token(&req("abc")).unwrap();
        assert_eq!(c.token, "abc");
        assert_eq!(c.info.token_hint, "****abc");
        assert!(auth.resolve_token("abc").is_ok());
        // Duplicates are rejected.
        let err = auth.create_token(&req("abc")).unwrap_err();
        assert!(matches!(err, AuthError::DuplicateToken), "{}", t.label());
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(matches!(
            auth.create_token(&req("has space")),
            Err(AuthError::Validation(
                ValidationError::TokenInvalidCharacters
            ))
        ));

        let prod = AuthSettings {
            production_mode: true,
            admin_token: "x".repeat(32),
            admin_password: "Str0ngPassw0rd!".into(),
            ..settings()
        };
        let auth_prod = Auth::new(auth.database().clone(), prod).unwrap();
        let err = auth_prod.create_token(&req(&"y".repeat(23))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Token must be at least 24 characters in production mode"
        );
        auth_prod.create_token(&req(&"y".repeat(24))).unwrap();
        // Generated values are always fine.
        let mut gen_req = req("");
        gen_req.token = None;
        auth_prod.create_token(&gen_req).unwrap();
    });
}

#[test]
fn token_revocation_expiry_and_last_used() {
    on_each_backend("token_lifecycle", |t| {
        let (auth, clock) = t.auth(settings());
        let owner = make_user(&auth, "quinn", &["user"], &[]);
        let c = auth
            .create_token(&NewTokenRequest {
                user_id: owner.id,
                display_name: "t".into(),
                expires_at: Some(auth.now() + TimeDelta::hours(2)),
                ..NewTokenRequest::default()
            })
            .unwrap();
        assert!(c.info.last_used_at.is_none());
        auth.resolve_token(&c.token).unwrap();
        let used = auth.list_tokens().unwrap()[0].last_used_at.unwrap();
        assert_eq!(used, auth.now(), "{}", t.label());
        // Not rewritten within the interval, rewritten after it.
        clock.advance(TimeDelta::seconds(30));
        auth.resolve_token(&c.token).unwrap();
        assert_eq!(auth.list_tokens().unwrap()[0].last_used_at, Some(used));
        clock.advance(TimeDelta::seconds(31));
        auth.resolve_token(&c.token).unwrap();
        assert_eq!(
            auth.list_tokens().unwrap()[0].last_used_at,
            Some(auth.now())
        );
        // Expiry.
        clock.advance(TimeDelta::hours(2));
        assert!(matches!(
            auth.resolve_token(&c.token),
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            auth.create_token(&NewTokenRequest {
                user_id: owner.id,
                display_name: "t".into(),
                expires_at: Some(auth.now() - TimeDelta::seconds(1)),
                ..NewTokenRequest::default()
            }),
            Err(AuthError::Validation(ValidationError::ExpiryInPast))
        ));
        // Revocation by public id.
        let d = token_for(&auth, owner.id, &[], &[]);
        let id = auth
            .list_tokens()
            .unwrap()
            .into_iter()
            .find(|i| i.token_hint.ends_with(&d[d.len() - 4..]))
            .unwrap()
            .id;
        auth.revoke_token(&id).unwrap();
        assert!(matches!(
            auth.resolve_token(&d),
            Err(AuthError::InvalidToken)
        ));
        let err = auth.revoke_token(&id).unwrap_err();
        assert_eq!(err.to_string(), "Token not found");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn token_roles_never_exceed_the_owner() {
    on_each_backend("token_roles", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "admin", &["admin", "operator"], &[]);
        let user = make_user(&auth, "rita", &["user"], &[]);
        let err = auth
            .create_token(&NewTokenRequest {
                user_id: user.id,
                display_name: "escalate".into(),
                roles: vec!["admin".into()],
                ..NewTokenRequest::default()
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Role 'admin' is not held by the token's owner"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        // An admin token loses admin when its owner is demoted.
        let tok = token_for(&auth, admin.id, &["admin", "operator"], &[]);
        let p = auth.resolve_token(&tok).unwrap();
        assert!(p.is_admin(), "{}", t.label());
        assert!(require_admin(&p).is_ok());
        make_user(&auth, "other_admin", &["admin"], &[]);
        auth.update_user(
            admin.id,
            &UserPatch {
                roles: Some(vec!["operator".into()]),
                ..UserPatch::default()
            },
        )
        .unwrap();
        let p = auth.resolve_token(&tok).unwrap();
        assert_eq!(p.roles, vec!["operator".to_owned()]);
        let err = require_admin(&p).unwrap_err();
        assert_eq!(err.to_string(), "Admin only");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
    });
}

#[test]
fn an_admin_owner_holds_every_role_for_its_tokens() {
    on_each_backend("token_admin_roles", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "root", &["admin"], &[]);
        // What the dashboard's token panel sends for an admin's own read-only token.
        let created = auth
            .create_token(&NewTokenRequest {
                user_id: admin.id,
                display_name: "dashboard".into(),
                roles: vec!["readonly".into(), "operator".into()],
                ..NewTokenRequest::default()
            })
            .unwrap_or_else(|e| panic!("{}: {e}", t.label()));
        let p = auth.resolve_token(&created.token).unwrap();
        assert_eq!(
            p.roles,
            vec!["readonly".to_owned(), "operator".to_owned()],
            "{}",
            t.label()
        );
        assert!(!p.is_admin(), "a readonly token of an admin is no admin");
    });
}

#[test]
fn token_features_never_exceed_the_owner() {
    on_each_backend("token_features", |t| {
        let (auth, _clock) = t.auth(settings());
        let owner = make_user(&auth, "fay", &["user"], &["identify", "musicbrainz_enrich"]);
        let request = |features: &[&str]| NewTokenRequest {
            user_id: owner.id,
            display_name: "tok".into(),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..NewTokenRequest::default()
        };
        let err = auth
            .create_token(&request(&["identify", "audd"]))
            .unwrap_err();
        assert_eq!(err.code(), "feature_not_held_by_owner", "{}", t.label());
        assert_eq!(
            err.to_string(),
            "Feature 'audd' is not held by the token's owner"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        let allowed = auth.create_token(&request(&["identify"])).unwrap();
        assert_eq!(allowed.info.allowed_features, vec!["identify".to_owned()]);

        // An empty list ("every feature") means every feature of the owner, stored as such.
        let all = auth.create_token(&request(&[])).unwrap();
        assert_eq!(
            all.info.allowed_features,
            vec!["identify".to_owned(), "musicbrainz_enrich".to_owned()]
        );
        let p = auth.resolve_token(&all.token).unwrap();
        assert!(check_feature(&p, Feature::Identify).is_ok());
        assert!(check_feature(&p, Feature::Audd).is_err());

        // An owner with every feature may hand out any of them.
        let free = make_user(&auth, "gus", &["user"], &[]);
        assert!(
            auth.create_token(&NewTokenRequest {
                user_id: free.id,
                ..request(&["audd"])
            })
            .is_ok()
        );
    });
}

#[test]
fn token_creation_checks_owner_then_features_then_scopes() {
    on_each_backend("token_validation", |t| {
        let (auth, _clock) = t.auth(settings());
        let owner = make_user(&auth, "sam", &["user"], &[]);
        let mut req = NewTokenRequest {
            user_id: 424_242,
            display_name: "x".into(),
            allowed_features: vec!["teleport".into()],
            ..NewTokenRequest::default()
        };
        let err = auth.create_token(&req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "User with ID 424242 not found",
            "{}",
            t.label()
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
        req.user_id = owner.id;
        let err = auth.create_token(&req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown feature 'teleport'. Valid options: audd, identify, identify_batch, musicbrainz_enrich, rename"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        req.allowed_features = vec!["identify".into()];
        req.quota_limits = limits(&[("bogus", Some(1))]);
        let err = auth.create_token(&req).unwrap_err();
        assert_eq!(err.code(), "unknown_quota_scope");
        req.quota_limits = limits(&[("acoustid_lookup", Some(-1))]);
        assert_eq!(
            auth.create_token(&req).unwrap_err().code(),
            "negative_quota_limit"
        );
        req.quota_limits = QuotaLimits::new();
        req.roles = vec!["bad role".into()];
        assert_eq!(auth.create_token(&req).unwrap_err().code(), "invalid_role");
        req.roles = vec![];
        req.display_name = "  ".into();
        assert_eq!(
            auth.create_token(&req).unwrap_err().code(),
            "display_name_required"
        );
        assert!(auth.list_tokens().unwrap().is_empty());
    });
}

#[test]
fn deleting_a_user_deletes_their_tokens_and_sessions() {
    on_each_backend("delete_user", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "admin", &["admin"], &[]);
        let tina = make_user(&auth, "tina", &["user"], &[]);
        let tok = token_for(&auth, tina.id, &[], &[]);
        let s = auth.login("tina", PASSWORD, false).unwrap();
        auth.delete_user(tina.id).unwrap();
        assert!(matches!(
            auth.resolve_token(&tok),
            Err(AuthError::InvalidToken)
        ));
        assert!(auth.resolve_session(&s.access_token).unwrap().is_none());
        assert!(auth.list_user_tokens(tina.id).unwrap().is_empty());
        assert!(matches!(
            auth.delete_user(tina.id),
            Err(AuthError::UserNotFound)
        ));
        assert!(matches!(
            auth.get_user(tina.id),
            Err(AuthError::UserNotFound)
        ));
        // A new user never inherits the id (and so never the tokens).
        let new = make_user(&auth, "tina2", &["user"], &[]);
        assert_ne!(new.id, tina.id, "{}", t.label());
    });
}

#[test]
fn features_empty_means_all_and_restricted_lists_deny() {
    on_each_backend("features", |t| {
        let (auth, _clock) = t.auth(settings());
        let u = make_user(&auth, "uma", &["user"], &["bogus_stored_value"]);
        let all = token_for(&auth, u.id, &[], &[]);
        let only_rename = token_for(&auth, u.id, &[], &["rename"]);
        let p = auth.resolve_token(&all).unwrap();
        for f in Feature::ALL {
            assert!(check_feature(&p, f).is_ok(), "{}", t.label());
        }
        let p = auth.resolve_token(&only_rename).unwrap();
        assert_eq!(p.allowed_feature_names(), vec!["rename"]);
        let err = check_feature(&p, Feature::Identify).unwrap_err();
        assert_eq!(err.to_string(), "identify not permitted for this token");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        // A session user whose stored list holds an unknown value: ignored, no error.
        let s = auth.login("uma", PASSWORD, false).unwrap();
        let p = auth.resolve_session(&s.access_token).unwrap().unwrap();
        assert!(p.allowed_features.is_empty());
    });
}

// ------------------------------------------------------------------------------------------
// Users
// ------------------------------------------------------------------------------------------

#[test]
fn register_validates_every_field() {
    on_each_backend("register", |t| {
        let (auth, _clock) = t.auth(settings());
        make_user(&auth, "admin", &["admin"], &[]);
        let good = NewUserRequest {
            username: "charlie".into(),
            email: "Charlie@Example.com".into(),
            display_name: Some("Charlie".into()),
            password: "Str0ngPassw0rd!".into(),
            roles: Some(vec!["operator".into()]),
            allowed_features: vec!["identify".into()],
            quota_limits: limits(&[("acoustid_lookup", Some(100))]),
        };
        let created = auth.register(&good).unwrap();
        assert_eq!(created.email, "charlie@example.com", "{}", t.label());
        assert_eq!(created.roles, vec!["operator"]);
        assert!(created.id > 0);
        assert!(auth.login("charlie", "Str0ngPassw0rd!", false).is_ok());

        let err = auth.register(&good).unwrap_err();
        assert_eq!(err.to_string(), "Username already exists");
        let with = |f: &dyn Fn(&mut NewUserRequest)| {
            let mut r = good.clone();
            r.username = "dana".into();
            f(&mut r);
            auth.register(&r).unwrap_err()
        };
        for weak in ["short", "nouppercase123!", "NoDigits!"] {
            let err = with(&|r| r.password = weak.into());
            assert!(err.to_string().starts_with("Password must"), "{err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        assert_eq!(
            with(&|r| r.email = String::new()).to_string(),
            "Email is required"
        );
        assert_eq!(
            with(&|r| r.email = "nope".into()).to_string(),
            "Invalid email format"
        );
        assert_eq!(
            with(&|r| r.allowed_features = vec!["x".into()]).code(),
            "unknown_feature"
        );
        assert_eq!(
            with(&|r| r.quota_limits = limits(&[("x", None)])).code(),
            "unknown_quota_scope"
        );
        assert_eq!(
            with(&|r| r.roles = Some(vec![" ".repeat(3) + "a b"])).code(),
            "invalid_role"
        );
        assert_eq!(
            with(&|r| r.username = " ".into()).code(),
            "invalid_username"
        );
        let err = with(&|r| r.email = "CHARLIE@example.com".into());
        assert_eq!(err.to_string(), "Email or username already exists");

        // Default role.
        let mut r = good.clone();
        r.username = "erin".into();
        r.email = "erin@example.com".into();
        r.roles = None;
        assert_eq!(auth.register(&r).unwrap().roles, vec!["user"]);
    });
}

#[test]
fn update_user_validates_and_protects_the_last_admin() {
    on_each_backend("update_user", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(&auth, "admin", &["admin"], &[]);
        let bob = make_user(&auth, "bob", &["user"], &[]);
        let info = auth
            .update_user(
                bob.id,
                &UserPatch {
                    email: Some("Bob2@Example.com".into()),
                    display_name: Some("Bobby".into()),
                    is_active: Some(true),
                    roles: Some(vec!["operator".into(), "readonly".into()]),
                    allowed_features: Some(vec!["rename".into(), "identify".into()]),
                    quota_limits: Some(limits(&[("musicbrainz_enrich", Some(5))])),
                },
            )
            .unwrap();
        assert_eq!(info.email, "bob2@example.com", "{}", t.label());
        assert_eq!(info.display_name.as_deref(), Some("Bobby"));
        assert_eq!(info.allowed_features, vec!["identify", "rename"]);
        // Clearing the display name.
        let info = auth
            .update_user(
                bob.id,
                &UserPatch {
                    display_name: Some(String::new()),
                    ..UserPatch::default()
                },
            )
            .unwrap();
        assert_eq!(info.display_name, None);

        let bad = |p: UserPatch| auth.update_user(bob.id, &p).unwrap_err();
        assert_eq!(
            bad(UserPatch {
                email: Some(String::new()),
                ..UserPatch::default()
            })
            .to_string(),
            "Email is required"
        );
        assert_eq!(
            bad(UserPatch {
                email: Some("admin@example.com".into()),
                ..UserPatch::default()
            })
            .to_string(),
            "Email already exists"
        );
        assert_eq!(
            bad(UserPatch {
                allowed_features: Some(vec!["nope".into()]),
                ..UserPatch::default()
            })
            .code(),
            "unknown_feature"
        );
        assert!(matches!(
            auth.update_user(999_999, &UserPatch::default()),
            Err(AuthError::UserNotFound)
        ));

        // The last active admin cannot be demoted, deactivated or deleted.
        for patch in [
            UserPatch {
                roles: Some(vec!["user".into()]),
                ..UserPatch::default()
            },
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        ] {
            let err = auth.update_user(admin.id, &patch).unwrap_err();
            assert_eq!(err.code(), "last_admin");
        }
        assert_eq!(auth.delete_user(admin.id).unwrap_err().code(), "last_admin");
        // With a second admin it is allowed.
        auth.update_user(
            bob.id,
            &UserPatch {
                roles: Some(vec!["admin".into()]),
                ..UserPatch::default()
            },
        )
        .unwrap();
        auth.delete_user(admin.id).unwrap();

        // Listing is bounded.
        assert_eq!(auth.list_users(-5, -5).unwrap().len(), 1);
        assert_eq!(auth.get_user(bob.id).unwrap().username, "bob");
    });
}

/// Two admins removed at the same instant by two requests (demotion, deactivation or
/// deletion, in every pairing): whatever the interleaving, one active admin remains.
#[test]
fn racing_admin_removals_never_leave_zero_active_admins() {
    #[derive(Clone, Copy, Debug)]
    enum Removal {
        Demote,
        Deactivate,
        Delete,
    }
    fn remove(auth: &Auth, id: i64, how: Removal) -> Result<(), AuthError> {
        match how {
            Removal::Demote => auth
                .update_user(
                    id,
                    &UserPatch {
                        roles: Some(vec!["user".into()]),
                        ..UserPatch::default()
                    },
                )
                .map(drop),
            Removal::Deactivate => auth
                .update_user(
                    id,
                    &UserPatch {
                        is_active: Some(false),
                        ..UserPatch::default()
                    },
                )
                .map(drop),
            Removal::Delete => auth.delete_user(id),
        }
    }
    let pairs = [
        (Removal::Demote, Removal::Demote),
        (Removal::Demote, Removal::Deactivate),
        (Removal::Deactivate, Removal::Deactivate),
        (Removal::Delete, Removal::Demote),
        (Removal::Delete, Removal::Delete),
    ];
    on_each_backend("admin_race", |t| {
        let (auth, _clock) = t.auth(settings());
        for round in 0..40 {
            let (first_way, second_way) = pairs[round % pairs.len()];
            let first = make_user(&auth, &format!("a{round}"), &["admin"], &[]);
            let second = make_user(&auth, &format!("b{round}"), &["admin"], &[]);
            let barrier = Arc::new(Barrier::new(2));
            let handles: Vec<_> = [(first.id, first_way), (second.id, second_way)]
                .into_iter()
                .map(|(id, how)| {
                    let (auth, barrier) = (auth.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        remove(&auth, id, how)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let mut conn = auth.database().conn().unwrap();
            let admins = users::count_active_with_role(&mut conn, "admin").unwrap();
            assert_eq!(
                admins,
                1,
                "{} round {round} ({first_way:?}, {second_way:?}): {results:?}",
                t.label()
            );
            let refused = results
                .iter()
                .filter(|r| matches!(r, Err(AuthError::Validation(ValidationError::LastAdmin))))
                .count();
            assert_eq!(refused, 1, "{}: {results:?}", t.label());
            // Back to zero admins before the next round: take the survivor out of the way
            // directly (the auth crate would refuse).
            for id in [first.id, second.id] {
                users::delete(&mut conn, id).unwrap();
            }
        }
    });
}

#[test]
fn admin_session_listing_and_revocation() {
    on_each_backend("admin_sessions", |t| {
        let (auth, _clock) = t.auth(settings());
        let v = make_user(&auth, "vera", &["user"], &[]);
        let a = auth.login("vera", PASSWORD, false).unwrap();
        auth.login("vera", PASSWORD, true).unwrap();
        auth.refresh(Some(&a.refresh_token)).unwrap();
        let list = auth.list_user_sessions(v.id).unwrap();
        assert_eq!(list.len(), 2, "{}: rotated rows are not listed", t.label());
        assert!(list.iter().any(|s| s.remember));
        assert_eq!(auth.revoke_user_sessions(v.id).unwrap(), 3);
        assert!(auth.list_user_sessions(v.id).unwrap().is_empty());
        assert!(matches!(
            auth.list_user_sessions(999),
            Err(AuthError::UserNotFound)
        ));
        assert!(matches!(
            auth.revoke_user_sessions(999),
            Err(AuthError::UserNotFound)
        ));
    });
}

// ------------------------------------------------------------------------------------------
// Quotas
// ------------------------------------------------------------------------------------------

#[test]
fn quota_limits_come_from_token_else_user_and_denials_say_scope_and_reset() {
    on_each_backend("quota_sources", |t| {
        let (auth, clock) = t.auth(settings());
        let w = make_user_with(
            &auth,
            "walt",
            &["user"],
            &[],
            limits(&[
                ("acoustid_lookup", Some(2)),
                ("musicbrainz_enrich", Some(5)),
            ]),
        );
        // Session: the user's limits are enforced (upstream never did).
        let s = auth.login("walt", PASSWORD, false).unwrap();
        let p = auth.resolve_session(&s.access_token).unwrap().unwrap();
        assert_eq!(
            auth.consume_quota(&p, QuotaScope::AcoustidLookup, 1)
                .unwrap(),
            QuotaOutcome::Granted { used: 1, limit: 2 },
            "{}",
            t.label()
        );
        auth.consume_quota(&p, QuotaScope::AcoustidLookup, 1)
            .unwrap();
        let err = auth
            .consume_quota(&p, QuotaScope::AcoustidLookup, 1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Quota exceeded for acoustid_lookup: 3 > 2 (rolling 24h window)"
        );
        assert_eq!(err.kind(), ErrorKind::Limited);
        let AuthError::QuotaExceeded {
            scope, resets_at, ..
        } = err
        else {
            panic!("wrong error");
        };
        assert_eq!(scope, QuotaScope::AcoustidLookup);
        let resets_at = resets_at.unwrap();
        assert!(resets_at > auth.now() + TimeDelta::hours(23));
        assert!(resets_at <= auth.now() + TimeDelta::hours(24) + TimeDelta::minutes(2));
        // Unlimited scope: nothing recorded.
        assert_eq!(
            auth.consume_quota(&p, QuotaScope::AuddStandardLookup, 1)
                .unwrap(),
            QuotaOutcome::Unlimited
        );
        assert_eq!(
            auth.quota_usage(w.id, QuotaScope::AuddStandardLookup)
                .unwrap()
                .0,
            0
        );

        // Token: its own limit where set (the smaller of token and user), else the user's.
        let tok = auth
            .create_token(&NewTokenRequest {
                user_id: w.id,
                display_name: "t".into(),
                quota_limits: limits(&[
                    ("musicbrainz_enrich", Some(1)),
                    ("audd_standard_lookup", Some(0)),
                ]),
                ..NewTokenRequest::default()
            })
            .unwrap();
        let p = auth.resolve_token(&tok.token).unwrap();
        assert_eq!(p.quota_limit(QuotaScope::MusicbrainzEnrich), Some(1));
        assert_eq!(p.quota_limit(QuotaScope::AcoustidLookup), Some(2));
        // A limit on the standard AudD scope closes the enterprise one, which has none.
        assert_eq!(p.quota_limit(QuotaScope::AuddEnterpriseLookup), Some(0));
        // Usage is per user: the token shares the session's counter.
        assert!(
            auth.consume_quota(&p, QuotaScope::AcoustidLookup, 1)
                .is_err()
        );
        // A limit of 0 blocks the scope, with no reset time.
        let err = auth
            .consume_quota(&p, QuotaScope::AuddStandardLookup, 1)
            .unwrap_err();
        assert!(matches!(
            err,
            AuthError::QuotaExceeded {
                resets_at: None,
                limit: 0,
                ..
            }
        ));
        auth.consume_quota(&p, QuotaScope::MusicbrainzEnrich, 1)
            .unwrap();
        assert!(
            auth.consume_quota(&p, QuotaScope::MusicbrainzEnrich, 1)
                .is_err()
        );
        // A token cannot raise the user's limit.
        let loose = auth
            .create_token(&NewTokenRequest {
                user_id: w.id,
                display_name: "t2".into(),
                quota_limits: limits(&[("acoustid_lookup", Some(100))]),
                ..NewTokenRequest::default()
            })
            .unwrap();
        assert_eq!(
            auth.resolve_token(&loose.token)
                .unwrap()
                .quota_limit(QuotaScope::AcoustidLookup),
            Some(2)
        );

        // The window rolls.
        clock.advance(TimeDelta::hours(24) + TimeDelta::minutes(2));
        auth.consume_quota(&p, QuotaScope::AcoustidLookup, 1)
            .unwrap();
        auth.reset_quota(w.id, None).unwrap();
    });
}

#[test]
fn parallel_quota_consumption_never_exceeds_the_limit() {
    on_each_backend("parallel_quota", |t| {
        let (auth, _clock) = t.auth(settings());
        let u = make_user_with(
            &auth,
            "xena",
            &["user"],
            &[],
            limits(&[("acoustid_lookup", Some(10))]),
        );
        let s = auth.login("xena", PASSWORD, false).unwrap();
        let p = auth.resolve_session(&s.access_token).unwrap().unwrap();
        let threads = 6;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let auth = auth.clone();
                let p = p.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut granted = 0;
                    for _ in 0..5 {
                        match auth.consume_quota(&p, QuotaScope::AcoustidLookup, 1) {
                            Ok(_) => granted += 1,
                            Err(AuthError::QuotaExceeded { .. }) => {}
                            Err(e) => panic!("unexpected error: {e:?}"),
                        }
                    }
                    granted
                })
            })
            .collect();
        let total: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 10, "{}", t.label());
        assert_eq!(
            auth.quota_usage(u.id, QuotaScope::AcoustidLookup)
                .unwrap()
                .0,
            10
        );
    });
}

// ------------------------------------------------------------------------------------------
// Seeding
// ------------------------------------------------------------------------------------------

#[test]
fn seeding_creates_admin_and_token_and_is_idempotent() {
    on_each_backend("seed_basic", |t| {
        let s = AuthSettings {
            admin_token: "test-admin".into(),
            admin_password: "DevPassword1!".into(),
            musicbrainz_enabled: false,
            ..settings()
        };
        let (auth, _clock) = t.auth(s.clone());
        let r1 = auth.seed().unwrap();
        assert!(r1.admin_user_created, "{}", t.label());
        assert!(r1.readonly_user_id.is_none());
        let p = auth.resolve_token("test-admin").unwrap();
        assert_eq!(p.username, "admin");
        assert_eq!(p.email, "admin@localhost");
        assert!(p.is_admin());
        assert_eq!(
            p.allowed_feature_names(),
            vec!["identify", "identify_batch", "rename"]
        );
        let admin = auth.get_user(r1.admin_user_id).unwrap();
        assert_eq!(admin.display_name.as_deref(), Some("Administrator"));
        assert_eq!(admin.allowed_features.len(), 5);
        auth.login("admin", "DevPassword1!", false).unwrap();

        // Second run: nothing new, the admin password is not changed.
        let changed_pw = AuthSettings {
            admin_password: "OtherPassword1!".into(),
            ..s.clone()
        };
        let r2 = seed(auth.database(), &changed_pw).unwrap();
        assert!(!r2.admin_user_created);
        assert_eq!(r2.admin_user_id, r1.admin_user_id);
        assert_eq!(r2.admin_token_id, r1.admin_token_id);
        assert_eq!(auth.list_tokens().unwrap().len(), 1);
        auth.login("admin", "DevPassword1!", false).unwrap();
        assert_eq!(
            auth.list_tokens().unwrap()[0].seed.as_deref(),
            Some("admin")
        );
    });
}

#[test]
fn the_readonly_token_is_metered_on_every_paid_audd_endpoint() {
    on_each_backend("seed_readonly_audd", |t| {
        let s = AuthSettings {
            admin_token: "admin".into(),
            readonly_token: Some("readonly".into()),
            readonly_quota_audd_standard: Some(3),
            audd_enabled: true,
            ..settings()
        };
        let (auth, _clock) = t.auth(s.clone());
        auth.seed().unwrap();
        let p = auth.resolve_token("readonly").unwrap();
        // No enterprise quota configured: the enterprise endpoint is closed, not unlimited.
        assert_eq!(
            p.quota_limit(QuotaScope::AuddEnterpriseLookup),
            Some(0),
            "{}",
            t.label()
        );
        let err = auth
            .consume_quota(&p, QuotaScope::AuddEnterpriseLookup, 1)
            .unwrap_err();
        assert_eq!(err.code(), "quota_exceeded");

        // With READONLY_QUOTA_AUDD_ENTERPRISE, its own limit.
        let with_enterprise = AuthSettings {
            readonly_quota_audd_enterprise: Some(2),
            ..s
        };
        seed(auth.database(), &with_enterprise).unwrap();
        let p = auth.resolve_token("readonly").unwrap();
        assert_eq!(p.quota_limit(QuotaScope::AuddEnterpriseLookup), Some(2));
        assert_eq!(p.quota_limit(QuotaScope::AuddStandardLookup), Some(3));
    });
}

#[test]
fn a_limit_on_one_audd_endpoint_closes_the_other_unless_it_has_its_own() {
    on_each_backend("audd_scopes_together", |t| {
        let (auth, _clock) = t.auth(settings());
        // What the dashboard's user editor can set: the standard scope only.
        let limited = make_user_with(
            &auth,
            "lena",
            &["user"],
            &[],
            limits(&[("audd_standard_lookup", Some(5)), ("acoustid_lookup", None)]),
        );
        let s = auth.login("lena", PASSWORD, false).unwrap();
        let p = auth.resolve_session(&s.access_token).unwrap().unwrap();
        assert_eq!(
            p.quota_limit(QuotaScope::AuddEnterpriseLookup),
            Some(0),
            "{}",
            t.label()
        );
        assert!(
            auth.consume_quota(&p, QuotaScope::AuddEnterpriseLookup, 1)
                .is_err()
        );
        // The same through a token whose own limit is on the enterprise scope only.
        let tok = auth
            .create_token(&NewTokenRequest {
                user_id: limited.id,
                display_name: "t".into(),
                quota_limits: limits(&[("audd_enterprise_lookup", Some(1))]),
                ..NewTokenRequest::default()
            })
            .unwrap();
        let p = auth.resolve_token(&tok.token).unwrap();
        assert_eq!(p.quota_limit(QuotaScope::AuddEnterpriseLookup), Some(1));
        assert_eq!(p.quota_limit(QuotaScope::AuddStandardLookup), Some(5));
        // No AudD limit at all: both endpoints stay unlimited; other scopes are unaffected.
        make_user_with(
            &auth,
            "max",
            &["user"],
            &[],
            limits(&[("acoustid_lookup", Some(1))]),
        );
        let s = auth.login("max", PASSWORD, false).unwrap();
        let p = auth.resolve_session(&s.access_token).unwrap().unwrap();
        assert_eq!(p.quota_limit(QuotaScope::AuddStandardLookup), None);
        assert_eq!(p.quota_limit(QuotaScope::AuddEnterpriseLookup), None);
        assert_eq!(p.quota_limit(QuotaScope::MusicbrainzEnrich), None);
    });
}

#[test]
fn seeding_readonly_user_token_quotas_and_removal() {
    on_each_backend("seed_readonly", |t| {
        let s = AuthSettings {
            admin_token: "admin".into(),
            readonly_token: Some("readonly".into()),
            readonly_quota_acoustid: Some(7),
            readonly_quota_audd_standard: Some(3),
            audd_enabled: true,
            ..settings()
        };
        let (auth, _clock) = t.auth(s.clone());
        let r = auth.seed().unwrap();
        assert!(r.readonly_user_created, "{}", t.label());
        let p = auth.resolve_token("readonly").unwrap();
        assert_eq!(p.username, "readonly");
        assert_eq!(p.roles, vec!["readonly"]);
        assert!(!p.is_admin());
        assert_eq!(
            p.allowed_feature_names(),
            vec!["audd", "identify", "musicbrainz_enrich"]
        );
        assert_eq!(p.quota_limit(QuotaScope::AcoustidLookup), Some(7));
        assert_eq!(p.quota_limit(QuotaScope::AuddStandardLookup), Some(3));
        assert_eq!(p.quota_limit(QuotaScope::MusicbrainzEnrich), None);
        assert!(require_admin(&p).is_err());
        // Nobody can log in as the readonly user.
        assert!(auth.login("readonly", "", false).is_err());

        // Unsetting READONLY_TOKEN removes its token (the user stays).
        let unset = AuthSettings {
            readonly_token: None,
            ..s
        };
        let r = seed(auth.database(), &unset).unwrap();
        assert_eq!(r.removed_seed_tokens, 1);
        assert!(matches!(
            auth.resolve_token("readonly"),
            Err(AuthError::InvalidToken)
        ));
        assert!(auth.resolve_token("admin").is_ok());
    });
}

#[test]
fn changing_the_configured_admin_token_retires_the_old_value() {
    on_each_backend("seed_rotate", |t| {
        let (auth, _clock) = t.auth(AuthSettings {
            admin_token: "first-admin-token".into(),
            ..settings()
        });
        auth.seed().unwrap();
        assert!(auth.resolve_token("first-admin-token").is_ok());
        let second = AuthSettings {
            admin_token: "second-admin-token".into(),
            ..settings()
        };
        seed(auth.database(), &second).unwrap();
        assert!(
            matches!(
                auth.resolve_token("first-admin-token"),
                Err(AuthError::InvalidToken)
            ),
            "{}",
            t.label()
        );
        assert!(auth.resolve_token("second-admin-token").unwrap().is_admin());
        assert_eq!(auth.list_tokens().unwrap().len(), 1);
    });
}

#[test]
fn seeding_updates_an_existing_token_with_the_admin_value_to_gain_audd() {
    on_each_backend("seed_gains_audd", |t| {
        let (auth, _clock) = t.auth(settings());
        let admin = make_user(
            &auth,
            "admin",
            &["admin"],
            &Feature::ALL.map(Feature::as_str),
        );
        auth.create_token(&NewTokenRequest {
            token: Some("test-admin".into()),
            user_id: admin.id,
            display_name: "pre-existing".into(),
            roles: vec!["admin".into()],
            allowed_features: vec!["identify".into()],
            ..NewTokenRequest::default()
        })
        .unwrap();
        let s = AuthSettings {
            admin_token: "test-admin".into(),
            audd_enabled: true,
            musicbrainz_enabled: false,
            ..settings()
        };
        seed(auth.database(), &s).unwrap();
        let p = auth.resolve_token("test-admin").unwrap();
        assert!(p.allows(Feature::Audd), "{}", t.label());
        assert!(p.allowed_features.contains(&Feature::Audd));
        assert_eq!(auth.list_tokens().unwrap().len(), 1);
    });
}

#[test]
fn production_seeding_refuses_default_secrets_before_writing() {
    on_each_backend("seed_production", |t| {
        let db = t.db(2);
        let prod = AuthSettings {
            production_mode: true,
            ..settings()
        };
        let err = seed(&db, &prod).unwrap_err();
        assert!(
            matches!(err, AuthError::InsecureSettings(_)),
            "{}",
            t.label()
        );
        assert!(err.to_string().contains("RECOZIK_WEB_ADMIN_TOKEN"));
        let mut conn = db.conn().unwrap();
        assert_eq!(users::count(&mut conn).unwrap(), 0);
        let ok = AuthSettings {
            admin_token: "z".repeat(40),
            admin_password: "Str0ngPassw0rd!".into(),
            ..prod
        };
        seed(&db, &ok).unwrap();
    });
}

#[test]
fn parallel_seeding_from_threads_creates_one_of_everything() {
    on_each_backend("seed_threads", |t| {
        let s = AuthSettings {
            admin_token: "parallel-admin".into(),
            readonly_token: Some("parallel-readonly".into()),
            ..settings()
        };
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let db = t.db(2);
                let s = s.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    seed(&db, &s)
                })
            })
            .collect();
        let reports: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for r in &reports {
            assert!(r.is_ok(), "{}: {r:?}", t.label());
        }
        let created = reports
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.admin_user_created))
            .count();
        assert_eq!(created, 1);
        let (auth, _clock) = t.auth(s);
        assert_eq!(auth.list_users(100, 0).unwrap().len(), 2);
        assert_eq!(auth.list_tokens().unwrap().len(), 2);
        assert!(auth.resolve_token("parallel-admin").unwrap().is_admin());
        assert!(auth.resolve_token("parallel-readonly").is_ok());
    });
}

const CHILD_URL_ENV: &str = "RECOZIK_AUTH_SEED_CHILD_URL";

/// What each child process of [`parallel_seeding_from_processes`] does.
fn child_seed(url: &str) {
    let db = recozik_storage::Database::connect(url, &common::pool_options(2)).unwrap();
    recozik_storage::migrate(&db, recozik_storage::Schema::Auth).unwrap();
    let s = AuthSettings {
        admin_token: "process-admin".into(),
        readonly_token: Some("process-readonly".into()),
        ..settings()
    };
    seed(&db, &s).unwrap();
}

#[test]
fn parallel_seeding_from_processes() {
    // The children are this same test, re-run with the database to seed in the environment.
    if let Ok(url) = std::env::var(CHILD_URL_ENV) {
        child_seed(&url);
        return;
    }
    on_each_backend("seed_processes", |t| {
        // The database is neither created nor migrated beforehand: the children race on both.
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(&exe)
                    .args(["parallel_seeding_from_processes", "--exact", "--nocapture"])
                    .env(CHILD_URL_ENV, t.url())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}: child failed:\n{}\n{}",
                t.label(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (auth, _clock) = t.auth(settings());
        assert_eq!(auth.list_users(100, 0).unwrap().len(), 2);
        assert_eq!(auth.list_tokens().unwrap().len(), 2);
        assert!(auth.resolve_token("process-admin").unwrap().is_admin());
        assert!(auth.resolve_token("process-readonly").is_ok());
    });
}
