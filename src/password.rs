//! Human passwords: argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane).
//! Hashing costs ~15 ms of a core, so it always runs on the blocking pool, never on the
//! async workers.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hashing,
    #[error("password hashing task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes a password into a PHC string, off the async runtime.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| PasswordError::Hashing)
    })
    .await?
}

/// Checks a password against a stored PHC string, off the async runtime. With no stored hash
/// (unknown user, or no password set) it verifies against a dummy hash so that the answer
/// takes the same time either way.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    Ok(tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await?)
}

/// Passwords nobody should pick, one per line, lower case; `#` lines are comments.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// The password policy for signup and reset (NIST SP 800-63B §5.1.1.2): 8 to 256
/// characters, not a commonly used password, not the account's own email address. The error
/// is a sentence to show the user.
pub fn check_strength(password: &str, email: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err("Choose a password of at least 8 characters.");
    }
    if length > MAX_LENGTH {
        return Err("Choose a password of at most 256 characters.");
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .any(|common| common == lowered)
    {
        return Err("This password is too common. Choose one that is harder to guess.");
    }
    if lowered == email.trim().to_lowercase() {
        return Err("Your password must not be your email address.");
    }
    Ok(())
}

/// argon2id hash of a random string, with the same parameters as real hashes.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0qQb1cUXfTgR3bPMcJzZIaUzYl+9lwIaW6ZTu2T0lTQ";

#[cfg(test)]
mod tests {
    use super::{check_strength, hash, verify};

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_strength("short1!", "ada@example.com").is_err());
        assert!(check_strength(&"x".repeat(257), "ada@example.com").is_err());
        assert!(check_strength("Password123", "ada@example.com").is_err());
        assert!(check_strength("qwertyuiop", "ada@example.com").is_err());
        assert!(check_strength("Ada@Example.com", "ada@example.com").is_err());
        assert!(check_strength("correct horse battery", "ada@example.com").is_ok());
        assert!(check_strength(&"é".repeat(256), "ada@example.com").is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(stored)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
