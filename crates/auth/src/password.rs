//! Passwords: Argon2id hashing and verification, strength rules, e-mail and username rules.
//!
//! Hashing and verifying cost tens of milliseconds of CPU by design. Every function here is
//! synchronous: async callers must run them (and the `Auth` methods that call them: login,
//! register, change-password, reset-password, seeding) on a blocking thread
//! (`tokio::task::spawn_blocking` / `actix_web::web::block`), never on the executor.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AuthError, ValidationError};
use crate::settings::PasswordParams;

/// Length of the Argon2 output in bytes.
const OUTPUT_LEN: usize = 32;

/// Longest accepted password, in characters (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Hashes and verifies passwords with fixed Argon2id parameters. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: PasswordParams,
    /// A hash of a random password, verified against when the user is unknown so that an
    /// unknown username costs the same as a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds a hasher (and computes its dummy hash, one Argon2 run).
    pub fn new(params: PasswordParams) -> Result<Self, AuthError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|e| AuthError::Internal(format!("invalid Argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let mut hasher = Self {
            argon,
            params,
            dummy_hash: String::new(),
        };
        hasher.dummy_hash = hasher.hash(&crate::secret::random_secret(32))?;
        Ok(hasher)
    }

    /// The parameters in use.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password` with a fresh
    /// 16-byte salt. Blocking.
    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash is a mismatch, never
    /// an error. The stored hash's own parameters are used (so old hashes keep verifying after
    /// the parameters change). Blocking.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            // Still spend the usual time.
            self.verify_dummy(password);
            return false;
        }
        if let Ok(parsed) = PasswordHash::new(hash) {
            self.argon
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        } else {
            self.verify_dummy(password);
            false
        }
    }

    /// Verifies against the dummy hash and discards the result: equalises timing when there
    /// is no user to check. Blocking.
    pub fn verify_dummy(&self, password: &str) {
        if let Ok(parsed) = PasswordHash::new(&self.dummy_hash) {
            let truncated: String = password.chars().take(MAX_PASSWORD_CHARS).collect();
            let _ = self.argon.verify_password(truncated.as_bytes(), &parsed);
        }
    }

    /// Whether `hash` was made with other parameters (algorithm, version, costs or output
    /// length) than the current ones, so it should be replaced after a successful login.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        if parsed.algorithm.as_str() != Algorithm::Argon2id.ident().as_str()
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        stored.m_cost() != self.params.memory_kib
            || stored.t_cost() != self.params.iterations
            || stored.p_cost() != self.params.parallelism
            || parsed.hash.map(|h| h.len()) != Some(OUTPUT_LEN)
    }
}

/// The password strength rules (register, change-password, admin reset; not the seeded admin
/// outside production). The first failing rule is returned. Character classes are Unicode-aware
/// and the length counts characters (code points).
pub fn check_password_strength(password: &str) -> Result<(), ValidationError> {
    let count = password.chars().count();
    if count < 12 {
        return Err(ValidationError::WeakPassword(
            "Password must be at least 12 characters",
        ));
    }
    if count > MAX_PASSWORD_CHARS {
        return Err(ValidationError::WeakPassword(
            "Password must be at most 1024 characters",
        ));
    }
    if !password.chars().any(char::is_uppercase) {
        return Err(ValidationError::WeakPassword(
            "Password must include an uppercase letter",
        ));
    }
    if !password.chars().any(char::is_lowercase) {
        return Err(ValidationError::WeakPassword(
            "Password must include a lowercase letter",
        ));
    }
    if !password.chars().any(char::is_numeric) {
        return Err(ValidationError::WeakPassword(
            "Password must include a digit",
        ));
    }
    if password.chars().all(char::is_alphanumeric) {
        return Err(ValidationError::WeakPassword(
            "Password must include a symbol",
        ));
    }
    Ok(())
}

/// Validates and normalises an e-mail: surrounding whitespace is trimmed; blank gives
/// "Email is required"; otherwise it must be `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`
/// (whole string; unlike upstream a trailing newline is not accepted). Returned lower-cased.
pub fn normalize_email(email: &str) -> Result<String, ValidationError> {
    let email = email.trim();
    if email.is_empty() {
        return Err(ValidationError::EmailRequired);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(ValidationError::InvalidEmail);
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'));
    let domain_ok = match domain.rsplit_once('.') {
        Some((host, tld)) => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                && tld.len() >= 2
                && tld.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    };
    if local_ok && domain_ok {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(ValidationError::InvalidEmail)
    }
}

/// Validates a username: trimmed, 1–150 characters, no whitespace or control characters.
/// Case is kept (usernames are case-sensitive).
pub fn normalize_username(username: &str) -> Result<String, ValidationError> {
    let name = username.trim();
    let count = name.chars().count();
    if count == 0 || count > 150 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::InvalidUsername);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(PasswordParams::insecure_for_tests()).unwrap()
    }

    #[test]
    fn hash_is_argon2id_phc_and_verifies() {
        let h = cheap();
        let phc = h.hash("Correct horse 1!").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify("Correct horse 1!", &phc));
        assert!(!h.verify("Correct horse 2!", &phc));
        assert!(!h.verify("x", "not a phc string"));
        assert!(!h.needs_rehash(&phc));
    }

    #[test]
    fn default_params_are_owasp_minimum() {
        let h = PasswordHasher::new(PasswordParams::default()).unwrap();
        let phc = h.hash("pw").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    }

    #[test]
    fn changed_params_need_rehash_but_still_verify() {
        let old = cheap();
        let phc = old.hash("Secret-pass-1").unwrap();
        let new = PasswordHasher::new(PasswordParams {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert!(new.needs_rehash(&phc));
        assert!(new.verify("Secret-pass-1", &phc));
        assert!(new.needs_rehash("garbage"));
    }

    #[test]
    fn strength_rules_in_order_with_upstream_texts() {
        let msg = |p: &str| check_password_strength(p).unwrap_err().to_string();
        assert_eq!(msg("short"), "Password must be at least 12 characters");
        assert_eq!(
            msg("nouppercase123!"),
            "Password must include an uppercase letter"
        );
        assert_eq!(
            msg("NOLOWERCASE123!"),
            "Password must include a lowercase letter"
        );
        assert_eq!(msg("NoDigitsHere!!"), "Password must include a digit");
        assert_eq!(msg("NoSymbols12345"), "Password must include a symbol");
        assert_eq!(msg("NoDigits!"), "Password must be at least 12 characters");
        assert!(check_password_strength("Str0ngPassw0rd!").is_ok());
        // Unicode-aware: Greek letters count as upper/lower case; length counts code points.
        assert!(check_password_strength("Ωμέγαλφάβητο1!").is_ok());
        assert_eq!(msg("Ωμέγα1!"), "Password must be at least 12 characters");
        assert!(check_password_strength(&format!("Aa1!{}", "x".repeat(1100))).is_err());
    }

    #[test]
    fn email_rules() {
        assert_eq!(normalize_email(""), Err(ValidationError::EmailRequired));
        assert_eq!(normalize_email("   "), Err(ValidationError::EmailRequired));
        assert_eq!(
            normalize_email("Bob@Example.COM").unwrap(),
            "bob@example.com"
        );
        assert_eq!(
            normalize_email("a.b+c@sub.example.co").unwrap(),
            "a.b+c@sub.example.co"
        );
        for bad in [
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bob@example.c",
            "bob@example.c0m",
            "bob@@example.com",
            "b ob@example.com",
            "admin@localhost",
            "a@b.co\nx",
        ] {
            assert_eq!(
                normalize_email(bad),
                Err(ValidationError::InvalidEmail),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn username_rules() {
        assert_eq!(normalize_username(" alice ").unwrap(), "alice");
        assert!(normalize_username("").is_err());
        assert!(normalize_username("   ").is_err());
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("a\u{7}").is_err());
        assert!(normalize_username(&"x".repeat(151)).is_err());
    }
}
