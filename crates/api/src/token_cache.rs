//! A short-lived, in-memory memo of resolved API tokens.
//!
//! Resolving a token is one indexed query, but on a busy server that query and the hand-over to
//! a blocking thread dominate the cost of small requests. Remembering the principal of a token
//! for a couple of seconds removes both. Keys are token digests, never raw tokens. Every
//! administrative write on this instance clears the memo; changes made through another instance
//! take effect here within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use recozik_auth::Principal;

/// Beyond this many entries the memo is emptied rather than grown.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Principal)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn get(&self, token: &str) -> Option<Principal> {
        if !self.enabled() {
            return None;
        }
        let key = recozik_auth::secret::digest(token);
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key)
            .filter(|(stored, _)| stored.elapsed() < self.ttl)
            .map(|(_, principal)| principal.clone())
    }

    pub fn put(&self, token: &str, principal: &Principal) {
        if !self.enabled() {
            return;
        }
        let key = recozik_auth::secret::digest(token);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), principal.clone()));
        }
    }

    /// Forgets everything (after any change to users or tokens).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            user_id: 1,
            username: "u".to_owned(),
            email: "u@example.com".to_owned(),
            display_name: None,
            roles: vec![],
            allowed_features: vec![],
            quota_limits: std::collections::BTreeMap::new(),
            method: recozik_auth::AuthMethod::Token {
                token_id: "t".to_owned(),
            },
        }
    }

    #[test]
    fn entries_expire_and_clear() {
        let cache = TokenCache::new(Duration::from_millis(50));
        cache.put("secret", &principal());
        assert_eq!(cache.get("secret").map(|p| p.user_id), Some(1));
        assert!(cache.get("other").is_none());
        cache.clear();
        assert!(cache.get("secret").is_none());
        cache.put("secret", &principal());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("secret").is_none(), "expired");
    }

    #[test]
    fn a_zero_ttl_disables_it() {
        let cache = TokenCache::new(Duration::ZERO);
        cache.put("secret", &principal());
        assert!(cache.get("secret").is_none());
    }
}
