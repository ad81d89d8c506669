//! Server-generated secrets (client secrets, API keys, codes, refresh tokens, links):
//! 256 random bits, base64url, stored only as a SHA-256 digest and compared in constant time.
//! Human passwords are not secrets of this kind; they live in `password`.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's RNG only fails if the OS has no entropy source, which no server survives.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    bytes
}

/// A fresh 256-bit secret, base64url without padding (43 characters).
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The digest stored in place of a secret: lowercase hex of SHA-256.
pub fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Lowercase hex of SHA-256; also the content fingerprint behind ETags.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes))
}

/// Whether `secret` hashes to `stored_hash`, without leaking where they differ.
pub fn verify(secret: &str, stored_hash: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::{generate, hash, verify};

    #[test]
    fn generated_secrets_are_url_safe_and_distinct() {
        let a = generate();
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, generate());
    }

    #[test]
    fn secrets_verify_only_against_their_own_hash() {
        let secret = generate();
        let stored = hash(&secret);
        assert_eq!(stored.len(), 64);
        assert!(verify(&secret, &stored));
        assert!(!verify(&generate(), &stored));
        assert!(!verify(&secret, ""));
    }
}
