//! The key-encryption key (KEK): AES-256-GCM over private signing keys, webhook and TOTP
//! secrets, and SSO connections' client secrets.
//! It comes from `TESSERA_KEY_ENCRYPTION_KEY`, else from the `kek` file in the keys
//! directory, which is created (mode 0600) on first start, and only then: never beside a
//! database that already holds values sealed under another key. Every instance of a
//! deployment must share it. List cursors are sealed, and the local file store's URLs signed,
//! under keys derived from it (HKDF-SHA256), never under the KEK itself.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::secret::random_bytes;
use crate::store::Store;

/// Sealed values are `v1.` followed by base64url(nonce ‖ ciphertext ‖ tag).
const VERSION_PREFIX: &str = "v1.";

/// HKDF `info` of the cursor key; a new version of cursors would take a new string.
const CURSOR_KEY_INFO: &[u8] = b"tessera cursor v1";

/// HKDF `info` of the key that signs the local file store's URLs.
const FILES_KEY_INFO: &[u8] = b"tessera files url v1";

pub struct KeyEncryptionKey {
    key: SealingKey,
    /// Seals `/v1` list cursors, which clients hold: a key of its own, so that nothing
    /// handed to clients is sealed under the key that guards private keys and secrets.
    cursor_key: SealingKey,
    /// HMAC-SHA256 over the local file store's presigned URLs (`files`).
    files_key: hmac::Key,
}

/// An AES-256-GCM key that seals short values with a context (associated data).
pub struct SealingKey {
    key: LessSafeKey,
}

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("cannot read or create the key-encryption key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the key-encryption key file {0} does not hold base64 of 32 bytes")]
    Malformed(String),
    #[error("a sealed value could not be decrypted: wrong key-encryption key or corrupt data")]
    Open,
    #[error(
        "refusing to create a new key-encryption key: {0} is missing but the database holds \
         keys sealed under an existing one; restore that file from the backup made with this \
         database (or set TESSERA_KEY_ENCRYPTION_KEY)"
    )]
    Missing(String),
    #[error("cannot check the database for sealed keys: {0}")]
    Database(#[from] sqlx::Error),
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> KeyEncryptionKey {
        KeyEncryptionKey {
            key: SealingKey::from_bytes(bytes),
            cursor_key: SealingKey::from_bytes(&derive(bytes, CURSOR_KEY_INFO)),
            files_key: hmac::Key::new(hmac::HMAC_SHA256, &derive(bytes, FILES_KEY_INFO)),
        }
    }

    /// The key that seals list cursors, derived once when the KEK is loaded.
    pub fn cursor_key(&self) -> &SealingKey {
        &self.cursor_key
    }

    /// The key that signs the local file store's URLs, derived once when the KEK is loaded.
    pub fn files_key(&self) -> &hmac::Key {
        &self.files_key
    }

    /// Encrypts `plaintext`; `context` (e.g. the key id) must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        self.key.seal(plaintext, context)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, KekError> {
        self.key.open(sealed, context)
    }

    /// [`KeyEncryptionKey::load`] for the deployment whose database is `store`: a missing
    /// `kek` file is created only while the database holds nothing sealed. After a restore
    /// without the file, a new key could open none of the stored keys, and the file it left
    /// behind would stand in the way of the right one.
    pub async fn load_for(
        store: &Store,
        configured: Option<&[u8; 32]>,
        keys_dir: &Path,
    ) -> Result<KeyEncryptionKey, KekError> {
        let path = keys_dir.join("kek");
        let missing = configured.is_none()
            && matches!(std::fs::metadata(&path),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound);
        if missing && store.holds_sealed_data().await? {
            return Err(KekError::Missing(path.display().to_string()));
        }
        KeyEncryptionKey::load(configured, keys_dir)
    }

    /// The configured key, else the `kek` file in `keys_dir`, created on first use.
    pub fn load(
        configured: Option<&[u8; 32]>,
        keys_dir: &Path,
    ) -> Result<KeyEncryptionKey, KekError> {
        if let Some(bytes) = configured {
            return Ok(KeyEncryptionKey::from_bytes(bytes));
        }
        let path = keys_dir.join("kek");
        let file_error = |source| KekError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| KekError::Malformed(path.display().to_string()))?;
                Ok(KeyEncryptionKey::from_bytes(&bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(keys_dir).map_err(file_error)?;
                let bytes = random_bytes::<32>();
                write_private_file(&path, STANDARD.encode(bytes).as_bytes()).map_err(file_error)?;
                tracing::info!(path = %path.display(), "generated a new key-encryption key");
                Ok(KeyEncryptionKey::from_bytes(&bytes))
            }
            Err(error) => Err(file_error(error)),
        }
    }
}

/// HKDF-SHA256 (RFC 5869) of the KEK with no salt: the KEK is already uniformly random.
fn derive(kek: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut derived = [0; 32];
    // Expanding 32 bytes from SHA-256 is within HKDF's limit, so this cannot fail.
    if Salt::new(HKDF_SHA256, &[])
        .extract(kek)
        .expand(&[info], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut derived))
        .is_err()
    {
        std::process::abort();
    }
    derived
}

impl SealingKey {
    fn from_bytes(bytes: &[u8; 32]) -> SealingKey {
        // A 32-byte slice is exactly what AES-256 takes, so this cannot fail.
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| std::process::abort());
        SealingKey {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Encrypts `plaintext`; `context` must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut in_out = plaintext.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        // Sealing only fails for inputs beyond GCM's 64 GiB limit.
        if self
            .key
            .seal_in_place_append_tag(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .is_err()
        {
            std::process::abort();
        }
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&in_out);
        format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, KekError> {
        let encoded = sealed.strip_prefix(VERSION_PREFIX).ok_or(KekError::Open)?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| KekError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(KekError::Open);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| KekError::Open)?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| KekError::Open)?;
        Ok(plaintext.to_vec())
    }
}

/// Creates `path` readable and writable by its owner only; fails if it already exists.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::{CURSOR_KEY_INFO, FILES_KEY_INFO, KeyEncryptionKey, derive};

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let kek = KeyEncryptionKey::from_bytes(&[7; 32]);
        let sealed = kek.seal(b"private key", "kid-1");
        assert!(sealed.starts_with("v1."));
        assert_eq!(kek.open(&sealed, "kid-1").unwrap(), b"private key");
        assert!(kek.open(&sealed, "kid-2").is_err());
        assert!(
            KeyEncryptionKey::from_bytes(&[8; 32])
                .open(&sealed, "kid-1")
                .is_err()
        );
        assert!(kek.open("v1.AAAA", "kid-1").is_err());
        assert_ne!(
            sealed,
            kek.seal(b"private key", "kid-1"),
            "nonces must differ"
        );
    }

    #[test]
    fn cursors_are_sealed_under_a_key_of_their_own() {
        let bytes = [7; 32];
        let derived = derive(&bytes, CURSOR_KEY_INFO);
        assert_ne!(derived, bytes);
        assert_eq!(derived, derive(&bytes, CURSOR_KEY_INFO), "deterministic");
        assert_ne!(derived, derive(&[8; 32], CURSOR_KEY_INFO));
        assert_ne!(derived, derive(&bytes, FILES_KEY_INFO));

        let kek = KeyEncryptionKey::from_bytes(&bytes);
        let cursor = kek.cursor_key().seal(b"1700000000:usr_1", "cursor:members");
        assert_eq!(
            kek.cursor_key().open(&cursor, "cursor:members").unwrap(),
            b"1700000000:usr_1"
        );
        assert!(kek.open(&cursor, "cursor:members").is_err());
        let under_kek = kek.seal(b"1700000000:usr_1", "cursor:members");
        assert!(kek.cursor_key().open(&under_kek, "cursor:members").is_err());
    }

    #[test]
    fn the_kek_file_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyEncryptionKey::load(None, dir.path()).unwrap();
        let sealed = first.seal(b"x", "c");
        let second = KeyEncryptionKey::load(None, dir.path()).unwrap();
        assert_eq!(second.open(&sealed, "c").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("kek"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
