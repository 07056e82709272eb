//! Users and tokens created directly through the auth service of an [`AppState`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use recozik_api::AppState;

use super::USER_PASSWORD;

/// A user with `roles` and `features` (e-mail `{username}@example.com`, a display name,
/// password [`USER_PASSWORD`]); returns its id.
pub fn create_user(state: &AppState, username: &str, roles: &[&str], features: &[&str]) -> i64 {
    state
        .auth
        .register(&recozik_auth::NewUserRequest {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            display_name: Some(format!("{username} display")),
            password: USER_PASSWORD.to_owned(),
            roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            quota_limits: recozik_auth::RawQuotaLimits::new(),
        })
        .unwrap()
        .id
}

/// A token for `user_id` with `roles` and `features`; returns the raw value.
pub fn create_token(state: &AppState, user_id: i64, roles: &[&str], features: &[&str]) -> String {
    state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            user_id,
            display_name: "test token".to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..recozik_auth::NewTokenRequest::default()
        })
        .unwrap()
        .token
}

/// A user with the default roles (e-mail `{username}@example.org`, password
/// [`USER_PASSWORD`]) and a token of its own with `features` and `quota` limits. Returns
/// (user id, raw token).
pub fn user_with_token(
    state: &AppState,
    username: &str,
    features: &[&str],
    quota: &[(&str, i64)],
) -> (i64, String) {
    let user = state
        .auth
        .register(&recozik_auth::NewUserRequest {
            username: username.to_owned(),
            email: format!("{username}@example.org"),
            display_name: None,
            password: USER_PASSWORD.to_owned(),
            roles: None,
            allowed_features: Vec::new(),
            quota_limits: std::collections::BTreeMap::default(),
        })
        .unwrap();
    let token = state
        .auth
        .create_token(&recozik_auth::NewTokenRequest {
            token: None,
            user_id: user.id,
            display_name: format!("{username} token"),
            roles: Vec::new(),
            allowed_features: features.iter().map(|f| (*f).to_owned()).collect(),
            quota_limits: quota
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some(*v)))
                .collect(),
            expires_at: None,
        })
        .unwrap();
    (user.id, token.token)
}
