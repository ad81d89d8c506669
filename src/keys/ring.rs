//! The key ring every request uses: the active signing key, the verification keys, and the
//! JWKS document, all in memory. It reloads from the database when the published set
//! changes (a rotation on another instance or by the CLI), polling every few seconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::kek::{KekError, KeyEncryptionKey};
use super::signing_key::{PublicJwk, SigningKey, SigningKeyError};
use crate::clock;
use crate::oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, MAX_TOKEN_LIFETIME_SECONDS};
use crate::oauth::id_token::ID_TOKEN_TYP;
use crate::secret;
use crate::store::Store;
use crate::store::Unaudited;
use crate::store::signing_keys::{self, SigningKeyRecord};

/// Verification tolerates this much disagreement between clocks.
const CLOCK_SKEW_SECONDS: i64 = 60;
/// How often instances look for a rotation made elsewhere; the contract allows 10 s.
const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(transparent)]
    SigningKey(#[from] SigningKeyError),
    #[error("key generation task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("no active signing key in the database")]
    NoActiveKey,
}

/// Why an access token was not accepted. Callers answer `invalid_token` for all of them;
/// the variants are for logs and tests.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a well-formed JWT")]
    Malformed,
    #[error("algorithm is not RS256")]
    Algorithm,
    #[error("typ is not at+jwt")]
    Type,
    #[error("signed by an unknown key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// One consistent snapshot of the published keys.
struct KeySet {
    signing: Arc<SigningKey>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Bytes,
    etag: String,
    fingerprint: Vec<(String, Option<i64>)>,
}

pub struct KeyRing {
    kek: KeyEncryptionKey,
    validation: Validation,
    current: ArcSwap<KeySet>,
}

impl KeyRing {
    /// Loads the published keys, generating the first one when there is none.
    pub async fn load(
        store: &Store,
        kek: KeyEncryptionKey,
        issuer: &str,
    ) -> Result<KeyRing, KeysError> {
        let set = match load_set(store, &kek).await? {
            Some(set) => set,
            None => {
                insert_new_key(store, &kek, false).await?;
                load_set(store, &kek).await?.ok_or(KeysError::NoActiveKey)?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = CLOCK_SKEW_SECONDS.unsigned_abs();
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.validate_nbf = true;
        // The audience is the resource's business: /v1 accepts any of this server's tokens,
        // and downstream services check their own.
        validation.validate_aud = false;
        Ok(KeyRing {
            kek,
            validation,
            current: ArcSwap::from_pointee(set),
        })
    }

    /// Reloads if the published keys changed in the database; returns whether they did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, KeysError> {
        let fingerprint =
            signing_keys::published_fingerprint(store.pool(), publication_cutoff()).await?;
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        let set = load_set(store, &self.kek)
            .await?
            .ok_or(KeysError::NoActiveKey)?;
        tracing::info!(
            kid = set.signing.kid(),
            keys = set.verifying.len(),
            "signing keys reloaded"
        );
        self.current.store(Arc::new(set));
        Ok(true)
    }

    /// Polls for changes until `shutdown` fires.
    pub async fn keep_fresh(&self, store: Store, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(REFRESH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(error) = self.refresh(&store).await {
                        tracing::warn!(%error, "could not refresh signing keys");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Rotates (see [`rotate`]) and switches this instance over at once.
    pub async fn rotate(&self, store: &Store) -> Result<PublicJwk, KeysError> {
        let public = rotate(store, &self.kek).await?;
        self.refresh(store).await?;
        Ok(public)
    }

    /// The key that signs new tokens.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.current.load().signing.clone()
    }

    /// The JWKS document and its entity tag.
    pub fn jwks(&self) -> (Bytes, String) {
        let set = self.current.load();
        (set.jwks.clone(), set.etag.clone())
    }

    pub fn key_encryption_key(&self) -> &KeyEncryptionKey {
        &self.kek
    }

    /// Signs an access token (RFC 9068) with the active key.
    pub fn sign_access_token(
        &self,
        claims: &AccessTokenClaims,
    ) -> Result<String, serde_json::Error> {
        self.current.load().signing.sign(ACCESS_TOKEN_TYP, claims)
    }

    /// Verifies an access token of this issuer: RS256 only, `typ: at+jwt`, a published `kid`,
    /// signature, `iss`, `exp`/`nbf` with 60 s of skew.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, VerifyError> {
        self.verify(
            token,
            &[ACCESS_TOKEN_TYP, "application/at+jwt"],
            &self.validation,
        )
    }

    /// Verifies an ID token this server issued, expired or not: what RP-initiated logout
    /// accepts as `id_token_hint` (OIDC RP-Initiated Logout §2).
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenHint, VerifyError> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        self.verify(token, &[ID_TOKEN_TYP], &validation)
    }

    fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        types: &[&str],
        validation: &Validation,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Algorithm);
        }
        let typ = header.typ.as_deref().unwrap_or_default();
        if !types
            .iter()
            .any(|expected| typ.eq_ignore_ascii_case(expected))
        {
            return Err(VerifyError::Type);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let set = self.current.load();
        let key = set.verifying.get(&kid).ok_or(VerifyError::UnknownKey)?;
        jsonwebtoken::decode::<T>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|error| VerifyError::Invalid(error.to_string()))
    }
}

/// What logout needs from an ID token: whom it named, for which client.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: String,
}

/// Makes a new key active at once; the previous ones stay published until every token they
/// signed has expired, and keys past that are deleted. Works without a running server.
pub async fn rotate(store: &Store, kek: &KeyEncryptionKey) -> Result<PublicJwk, KeysError> {
    insert_new_key(store, kek, true).await
}

/// Retired keys published until this moment's cutoff; older ones are gone.
fn publication_cutoff() -> i64 {
    clock::now() - MAX_TOKEN_LIFETIME_SECONDS - CLOCK_SKEW_SECONDS
}

async fn insert_new_key(
    store: &Store,
    kek: &KeyEncryptionKey,
    retire_others: bool,
) -> Result<PublicJwk, KeysError> {
    // RSA generation takes tens to hundreds of milliseconds of CPU.
    let (key, pkcs8) = tokio::task::spawn_blocking(SigningKey::generate).await??;
    let public = key.public_jwk().clone();
    let now = clock::now();
    let record = SigningKeyRecord {
        private_key_encrypted: kek.seal(&pkcs8, &public.kid),
        id: public.kid.clone(),
        modulus: public.n.clone(),
        exponent: public.e.clone(),
        created_at: now,
        retired_at: None,
    };
    let mut change = store.change().await?;
    if retire_others {
        signing_keys::retire_active(&mut *change, now).await?;
        signing_keys::delete_unpublished(&mut *change, publication_cutoff()).await?;
    }
    signing_keys::insert(&mut *change, &record).await?;
    change.commit_unaudited(Unaudited::Keys).await?;
    tracing::info!(kid = %public.kid, "new signing key is active");
    Ok(public)
}

/// Builds a key set from the database; `None` when no key is active.
async fn load_set(store: &Store, kek: &KeyEncryptionKey) -> Result<Option<KeySet>, KeysError> {
    let records = signing_keys::published(store.pool(), publication_cutoff()).await?;
    let Some(active) = records.iter().find(|record| record.retired_at.is_none()) else {
        return Ok(None);
    };
    let public =
        |record: &SigningKeyRecord| PublicJwk::rsa(record.modulus.clone(), record.exponent.clone());
    let pkcs8 = kek.open(&active.private_key_encrypted, &active.id)?;
    let signing = Arc::new(SigningKey::from_pkcs8(&pkcs8, public(active))?);

    let mut verifying = HashMap::new();
    let mut jwks = Vec::new();
    for record in &records {
        let jwk = public(record);
        if jwk.kid != record.id {
            tracing::error!(kid = %record.id, "stored key id does not match its thumbprint; skipped");
            continue;
        }
        if let Ok(key) = DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
            verifying.insert(jwk.kid.clone(), key);
            jwks.push(jwk);
        }
    }
    let jwks =
        Bytes::from(serde_json::to_vec(&serde_json::json!({ "keys": jwks })).unwrap_or_default());
    let etag = format!("\"{}\"", &secret::sha256_hex(&jwks)[..32]);
    let fingerprint = records
        .iter()
        .map(|record| (record.id.clone(), record.retired_at))
        .collect();
    Ok(Some(KeySet {
        signing,
        verifying,
        jwks,
        etag,
        fingerprint,
    }))
}
