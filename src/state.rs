//! What every handler can reach: configuration, storage, keys and prebuilt documents.
//! One reference count to clone: every layer a request passes clones it.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use bytes::Bytes;

use crate::config::{Config, Issuer};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::passkey::RelyingParty;
use crate::password::Hasher;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl AppState {
    pub fn new(parts: Parts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What an [`AppState`] holds.
pub struct Parts {
    pub config: Arc<Config>,
    pub issuer: Arc<Issuer>,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub documents: Arc<Documents>,
    pub metrics: Arc<Metrics>,
    /// Every password hash and check goes through it (bounded concurrency).
    pub hasher: Hasher,
    /// The WebAuthn relying party of the issuer's host; none on an IP address.
    pub passkeys: Option<Arc<RelyingParty>>,
    /// Identity providers' metadata and keys, for signing in through them.
    pub upstreams: Arc<crate::upstream::Directory>,
    /// Accounts' files: a local directory or an S3 bucket.
    pub files: Arc<crate::files::Files>,
    /// Refresh rotations waiting for the writer.
    pub rotations: Arc<crate::tokens::Rotations>,
}

impl Parts {
    /// The narrow view the grant flows (`tokens`) take.
    pub fn issuance(&self) -> crate::tokens::Issuance<'_> {
        crate::tokens::Issuance {
            store: &self.store,
            keys: &self.keys,
            issuer: self.issuer.as_str(),
            rotations: &self.rotations,
        }
    }

    /// What `manage::files` needs besides the store.
    pub fn file_storage(&self) -> crate::manage::files::Storage<'_> {
        crate::manage::files::Storage {
            files: &self.files,
            kek: self.keys.key_encryption_key(),
            url_ttl_seconds: i64::try_from(self.config.files_url_ttl.as_secs()).unwrap_or(900),
        }
    }

    /// The relying party for `manage::passkeys`, if passkeys work here.
    pub fn relying_party(&self) -> Option<&RelyingParty> {
        self.passkeys.as_deref()
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<KeyRing> {
    fn from_ref(state: &AppState) -> Arc<KeyRing> {
        state.keys.clone()
    }
}

/// The metadata document, rendered once at start-up with its `ETag`.
pub struct Documents {
    pub metadata: Bytes,
    pub metadata_etag: String,
}

impl Documents {
    pub fn new(issuer: &str) -> Documents {
        let metadata = Bytes::from(crate::oauth::discovery::metadata(issuer).to_string());
        let metadata_etag = format!("\"{}\"", &crate::secret::sha256_hex(&metadata)[..32]);
        Documents {
            metadata,
            metadata_etag,
        }
    }
}
