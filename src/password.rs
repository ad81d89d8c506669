//! Human passwords: argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane).
//! Hashing costs ~15 ms of a core, so it always runs on the blocking pool, never on the
//! async workers, and only through a [`Hasher`], which bounds how many run at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

/// How long a request waits for a hashing slot by default before it is turned away.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// What a caller turned away for lack of a slot is told to wait, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hashing,
    #[error("password hashing task failed")]
    Join(#[from] tokio::task::JoinError),
    /// Every hashing slot stayed taken for the whole wait: the server is overloaded.
    #[error("too many password hashes in progress")]
    Busy,
}

/// Twice the cores: enough to keep every core busy while some hashes wait on memory.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2)
}

/// The one way to hash and verify passwords: at most `concurrency` argon2 computations run
/// at once, and a request that cannot start one within `wait` fails with
/// [`PasswordError::Busy`] (a 503) instead of queueing behind a flood of guesses. Cheap to
/// clone; clones share the bound.
#[derive(Clone, Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Default for Hasher {
    fn default() -> Hasher {
        Hasher::new(default_concurrency(), DEFAULT_WAIT)
    }
}

impl Hasher {
    pub fn new(concurrency: usize, wait: Duration) -> Hasher {
        Hasher {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
        }
    }

    /// Takes one hashing slot, waiting at most the configured time. `hash` and `verify`
    /// take theirs here; public so that a test can occupy the slots.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        // `timeout` polls the acquisition once before looking at the clock, so a free slot
        // is taken even with a zero wait.
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(PasswordError::Busy),
        }
    }

    /// Hashes a password into a PHC string, off the async runtime.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let slot = self.slot().await?;
        // The slot moves into the blocking task: a request dropped mid-hash (the client went
        // away) must not free it while the computation still runs.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| PasswordError::Hashing)
        })
        .await?
    }

    /// Checks a password against a stored PHC string, off the async runtime. With no stored
    /// hash (unknown user, or no password set) it verifies against a dummy hash so that the
    /// answer takes the same time either way.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let slot = self.slot().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _slot = slot;
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
    use std::time::Duration;

    use super::{Hasher, PasswordError, check_strength};

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
        let hasher = Hasher::default();
        let stored = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn no_slot_within_the_wait_is_busy() {
        let hasher = Hasher::new(1, Duration::ZERO);
        let held = hasher.slot().await.unwrap();
        assert!(matches!(
            hasher.verify("x".into(), None).await,
            Err(PasswordError::Busy)
        ));
        assert!(matches!(
            hasher.hash("x".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert!(!hasher.verify("x".into(), None).await.unwrap());
    }
}
