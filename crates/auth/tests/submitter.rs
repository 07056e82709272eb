//! `Auth::recheck_submitter`: the rules a job's submitter must still meet when the job runs,
//! on every backend (SQLite always, PostgreSQL when `RECOZIK_TEST_POSTGRES_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use recozik_auth::{
    NewTokenRequest, NewUserRequest, RecheckError, SubmittedVia, Submitter, UserPatch,
};

use common::{on_each_backend, settings};

const PASSWORD: &str = "TestPassword1!";

#[test]
fn a_submitter_is_rechecked_against_the_auth_database_as_it_is_now() {
    on_each_backend("recheck_submitter", |backend| {
        let label = backend.label();
        let (auth, clock) = backend.auth(settings());
        let user = auth
            .register(&NewUserRequest {
                username: "submitter".to_owned(),
                email: "submitter@example.com".to_owned(),
                display_name: None,
                password: PASSWORD.to_owned(),
                roles: None,
                allowed_features: vec!["identify".to_owned()],
                quota_limits: recozik_auth::RawQuotaLimits::default(),
            })
            .unwrap();
        let expiring = auth
            .create_token(&NewTokenRequest {
                user_id: user.id,
                display_name: "expiring".to_owned(),
                expires_at: Some(auth.now() + TimeDelta::hours(1)),
                ..NewTokenRequest::default()
            })
            .unwrap();
        let revoked = auth
            .create_token(&NewTokenRequest {
                user_id: user.id,
                display_name: "revoked".to_owned(),
                ..NewTokenRequest::default()
            })
            .unwrap();
        let by_token = |token_id: &str| Submitter {
            user_id: user.id,
            via: SubmittedVia::Token {
                token_id: token_id.to_owned(),
            },
        };
        let session = auth.login("submitter", PASSWORD, false).unwrap();
        let by_session = Submitter {
            user_id: user.id,
            via: SubmittedVia::Session {
                session_id: session.session_id,
                family_id: session.family_id.clone(),
            },
        };

        // Still valid: the principal is rebuilt as the request would have resolved it.
        let principal = auth
            .recheck_submitter(&by_token(&expiring.info.id))
            .unwrap();
        assert_eq!(principal.user_id, user.id, "{label}");
        assert_eq!(Submitter::of(&principal), by_token(&expiring.info.id));
        let principal = auth.recheck_submitter(&by_session).unwrap();
        assert_eq!(Submitter::of(&principal), by_session, "{label}");

        // A revoked token, an expired one, a token of someone else.
        auth.revoke_token(&revoked.info.id).unwrap();
        let refused = auth.recheck_submitter(&by_token(&revoked.info.id));
        assert!(
            matches!(refused, Err(RecheckError::TokenRevoked)),
            "{label}"
        );
        clock.advance(TimeDelta::hours(2));
        let refused = auth.recheck_submitter(&by_token(&expiring.info.id));
        assert!(
            matches!(refused, Err(RecheckError::TokenExpired)),
            "{label}"
        );
        assert_eq!(
            refused.err().map(|e| e.to_string()).as_deref(),
            Some("The API token that submitted this job has expired")
        );

        // A logout does not stop a session's jobs; a deactivated or deleted user does.
        auth.logout(Some(&session.access_token), Some(&session.refresh_token))
            .unwrap();
        assert!(auth.recheck_submitter(&by_session).is_ok(), "{label}");
        auth.update_user(
            user.id,
            &UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        )
        .unwrap();
        let refused = auth.recheck_submitter(&by_session);
        assert!(
            matches!(refused, Err(RecheckError::UserDisabled)),
            "{label}"
        );
        assert!(refused.is_err_and(|e| e.is_refusal()));
        auth.delete_user(user.id).unwrap();
        let refused = auth.recheck_submitter(&by_session);
        assert!(matches!(refused, Err(RecheckError::UserGone)), "{label}");
    });
}
