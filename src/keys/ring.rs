//! The key ring every request uses: the active signing key of each algorithm in use, the
//! verification keys, and the JWKS document, all in memory. It reloads from the database
//! when the published set changes (a rotation on another instance or by the CLI, a key of a
//! new algorithm), polling every few seconds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::kek::{KekError, KeyEncryptionKey};
use super::signing_key::{PublicJwk, PublicKey, SigningKey, SigningKeyError};
use crate::clock;
use crate::oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, MAX_TOKEN_LIFETIME_SECONDS};
use crate::oauth::id_token::ID_TOKEN_TYP;
use crate::oauth::signing_alg::SigningAlg;
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
    #[error("no active signing key of the server's algorithm in the database")]
    NoActiveKey,
}

/// Why an access token was not accepted. Callers answer `invalid_token` for all of them;
/// the variants are for logs and tests.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a well-formed JWT")]
    Malformed,
    #[error("alg is not the algorithm of the key its kid names")]
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
    /// The newest active key of each algorithm in use.
    signing: HashMap<SigningAlg, Arc<SigningKey>>,
    /// Every published key by `kid`, with the one algorithm it verifies.
    verifying: HashMap<String, (SigningAlg, DecodingKey)>,
    /// What the JWKS publishes, newest first.
    published: Vec<PublicJwk>,
    jwks: Bytes,
    etag: String,
    fingerprint: Vec<(String, Option<i64>)>,
}

pub struct KeyRing {
    kek: KeyEncryptionKey,
    /// The algorithm of the server's own key (`TESSERA_SIGNING_ALG`), which signs for every
    /// client that asks for none.
    default_alg: SigningAlg,
    /// Access-token validation for each algorithm, built once.
    validations: HashMap<SigningAlg, Validation>,
    current: ArcSwap<KeySet>,
    /// Held while a key of a new algorithm is made, so that one instance makes one.
    making: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// Loads the published keys, generating a key of `default_alg` when none is active.
    pub async fn load(
        store: &Store,
        kek: KeyEncryptionKey,
        issuer: &str,
        default_alg: SigningAlg,
    ) -> Result<KeyRing, KeysError> {
        let mut set = load_set(store, &kek).await?;
        if !set.signing.contains_key(&default_alg) {
            insert_new_key(store, &kek, default_alg, false).await?;
            set = load_set(store, &kek).await?;
        }
        let validations = SigningAlg::ALL
            .into_iter()
            .map(|alg| (alg, access_token_validation(alg, issuer)))
            .collect();
        Ok(KeyRing {
            kek,
            default_alg,
            validations,
            current: ArcSwap::from_pointee(set),
            making: tokio::sync::Mutex::new(()),
        })
    }

    /// Reloads if the published keys changed in the database; returns whether they did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, KeysError> {
        let fingerprint =
            signing_keys::published_fingerprint(store.pool(), publication_cutoff()).await?;
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        let set = load_set(store, &self.kek).await?;
        if !set.signing.contains_key(&self.default_alg) {
            return Err(KeysError::NoActiveKey);
        }
        tracing::info!(
            algorithms = ?set.signing.keys().collect::<Vec<_>>(),
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

    /// Rotates the server's algorithm (see [`rotate`]) and switches this instance over at
    /// once.
    pub async fn rotate(&self, store: &Store) -> Result<PublicJwk, KeysError> {
        self.rotate_algorithm(store, self.default_alg).await
    }

    /// Rotates `alg` alone (see [`rotate`]) and switches this instance over at once.
    pub async fn rotate_algorithm(
        &self,
        store: &Store,
        alg: SigningAlg,
    ) -> Result<PublicJwk, KeysError> {
        let public = rotate(store, &self.kek, alg).await?;
        self.refresh(store).await?;
        Ok(public)
    }

    /// The algorithm of the server's own key.
    pub fn default_alg(&self) -> SigningAlg {
        self.default_alg
    }

    /// The key that signs with `alg` (the server's algorithm when `None`). A key of an
    /// algorithm not yet in use is made here, when first needed, and published from then on;
    /// one another instance made is picked up first.
    pub async fn signing_key_for(
        &self,
        store: &Store,
        alg: Option<SigningAlg>,
    ) -> Result<Arc<SigningKey>, KeysError> {
        let alg = alg.unwrap_or(self.default_alg);
        if let Some(key) = self.current.load().signing.get(&alg) {
            return Ok(key.clone());
        }
        let _making = self.making.lock().await;
        self.refresh(store).await?;
        if let Some(key) = self.current.load().signing.get(&alg) {
            return Ok(key.clone());
        }
        insert_new_key(store, &self.kek, alg, false).await?;
        self.refresh(store).await?;
        self.current
            .load()
            .signing
            .get(&alg)
            .cloned()
            .ok_or(KeysError::NoActiveKey)
    }

    /// Makes sure each of `algs` has a key, so that the JWKS publishes it before the first
    /// token it signs: what registering a client that asks for an algorithm does. A failure
    /// is logged; signing tries again when the key is needed.
    pub async fn publish(&self, store: &Store, algs: impl IntoIterator<Item = SigningAlg>) {
        for alg in algs {
            if let Err(error) = self.signing_key_for(store, Some(alg)).await {
                tracing::error!(%error, %alg, "could not make a signing key");
            }
        }
    }

    /// The key of the server's algorithm, which signs for every client that asks for none.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        let set = self.current.load();
        // A set without it is never stored: `load` makes one and `refresh` refuses such a set.
        match set.signing.get(&self.default_alg) {
            Some(key) => key.clone(),
            None => std::process::abort(),
        }
    }

    /// Signs an access token (RFC 9068) with the key of the server's algorithm.
    pub fn sign_access_token(
        &self,
        claims: &AccessTokenClaims,
    ) -> Result<String, serde_json::Error> {
        self.signing_key().sign(ACCESS_TOKEN_TYP, claims)
    }

    /// The JWKS document and its entity tag.
    pub fn jwks(&self) -> (Bytes, String) {
        let set = self.current.load();
        (set.jwks.clone(), set.etag.clone())
    }

    /// The JWKS document of the published keys of `algorithms` (those that verify one
    /// client's tokens) and its entity tag.
    pub fn jwks_of(&self, algorithms: &[SigningAlg]) -> (Bytes, String) {
        let set = self.current.load();
        let keys: Vec<&PublicJwk> = set
            .published
            .iter()
            .filter(|jwk| algorithms.iter().any(|alg| alg.as_str() == jwk.alg))
            .collect();
        jwks_document(&keys)
    }

    pub fn key_encryption_key(&self) -> &KeyEncryptionKey {
        &self.kek
    }

    /// Verifies an access token of this issuer: `typ: at+jwt`, a published `kid` whose
    /// algorithm is the header's `alg`, signature, `iss`, `exp`/`nbf` with 60 s of skew.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, VerifyError> {
        self.verify(token, &[ACCESS_TOKEN_TYP, "application/at+jwt"], |alg| {
            Cow::Borrowed(&self.validations[&alg])
        })
    }

    /// Verifies an ID token this server issued, expired or not: what RP-initiated logout
    /// accepts as `id_token_hint` (OIDC RP-Initiated Logout §2).
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenHint, VerifyError> {
        self.verify(token, &[ID_TOKEN_TYP], |alg| {
            let mut validation = self.validations[&alg].clone();
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.set_required_spec_claims(&["iss", "sub", "aud"]);
            Cow::Owned(validation)
        })
    }

    /// The header names a published `kid` and exactly that key's algorithm: a token cannot
    /// pick how it is checked (no `none`, no HMAC, no other algorithm over a key's bytes).
    fn verify<'a, T: serde::de::DeserializeOwned>(
        &'a self,
        token: &str,
        types: &[&str],
        validation: impl FnOnce(SigningAlg) -> Cow<'a, Validation>,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let typ = header.typ.as_deref().unwrap_or_default();
        if !types
            .iter()
            .any(|expected| typ.eq_ignore_ascii_case(expected))
        {
            return Err(VerifyError::Type);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let set = self.current.load();
        let (alg, key) = set.verifying.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != jwt_algorithm(*alg) {
            return Err(VerifyError::Algorithm);
        }
        jsonwebtoken::decode::<T>(token, key, &validation(*alg))
            .map(|data| data.claims)
            .map_err(|error| VerifyError::Invalid(error.to_string()))
    }
}

fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

fn access_token_validation(alg: SigningAlg, issuer: &str) -> Validation {
    let mut validation = Validation::new(jwt_algorithm(alg));
    validation.leeway = CLOCK_SKEW_SECONDS.unsigned_abs();
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    validation.validate_nbf = true;
    // The audience is the resource's business: /v1 accepts any of this server's tokens,
    // and downstream services check their own.
    validation.validate_aud = false;
    validation
}

/// What logout needs from an ID token: whom it named, for which client.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: String,
}

/// Makes a new key of `alg` active at once; the previous ones of that algorithm stay
/// published until every token they signed has expired, and keys past that are deleted.
/// Keys of other algorithms go on signing. Works without a running server.
pub async fn rotate(
    store: &Store,
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
) -> Result<PublicJwk, KeysError> {
    insert_new_key(store, kek, alg, true).await
}

/// Makes a key of `alg` unless one is active: what registering a client that asks for `alg`
/// does without a running server (the CLI). Returns whether it made one.
pub async fn ensure(
    store: &Store,
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
) -> Result<bool, KeysError> {
    let set = load_set(store, kek).await?;
    if set.signing.contains_key(&alg) {
        return Ok(false);
    }
    insert_new_key(store, kek, alg, false).await?;
    Ok(true)
}

/// Retired keys published until this moment's cutoff; older ones are gone.
fn publication_cutoff() -> i64 {
    clock::now() - MAX_TOKEN_LIFETIME_SECONDS - CLOCK_SKEW_SECONDS
}

async fn insert_new_key(
    store: &Store,
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
    retire_others: bool,
) -> Result<PublicJwk, KeysError> {
    // RSA generation takes tens to hundreds of milliseconds of CPU.
    let (key, pkcs8) = tokio::task::spawn_blocking(move || SigningKey::generate_for(alg)).await??;
    let public = key.public_jwk().clone();
    let now = clock::now();
    let record = SigningKeyRecord {
        private_key_encrypted: kek.seal(&pkcs8, &public.kid),
        id: public.kid.clone(),
        algorithm: alg.as_str().to_owned(),
        modulus: Some(public.n.clone()).filter(|n| !n.is_empty()),
        exponent: Some(public.e.clone()).filter(|e| !e.is_empty()),
        x: public.x.clone(),
        y: public.y.clone(),
        created_at: now,
        retired_at: None,
    };
    let mut change = store.change().await?;
    if retire_others {
        signing_keys::retire_active(&mut *change, alg.as_str(), now).await?;
        signing_keys::delete_unpublished(&mut *change, publication_cutoff()).await?;
    }
    signing_keys::insert(&mut *change, &record).await?;
    change.commit_unaudited(Unaudited::Keys).await?;
    tracing::info!(kid = %public.kid, %alg, "new signing key is active");
    Ok(public)
}

/// The public key stored beside a record; `None` for a row that does not hold its
/// algorithm's members.
fn public_key(record: &SigningKeyRecord) -> Option<PublicKey> {
    let value = |member: &Option<String>| member.clone();
    match SigningAlg::parse(&record.algorithm)? {
        SigningAlg::Rs256 => Some(PublicKey::Rsa {
            n: value(&record.modulus)?,
            e: value(&record.exponent)?,
        }),
        SigningAlg::Es256 => Some(PublicKey::P256 {
            x: value(&record.x)?,
            y: value(&record.y)?,
        }),
        SigningAlg::EdDsa => Some(PublicKey::Ed25519 {
            x: value(&record.x)?,
        }),
    }
}

fn decoding_key(jwk: &PublicJwk) -> Option<DecodingKey> {
    let member = |value: &Option<String>| value.clone().unwrap_or_default();
    match jwk.kty {
        "RSA" => DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok(),
        "EC" => DecodingKey::from_ec_components(&member(&jwk.x), &member(&jwk.y)).ok(),
        "OKP" => DecodingKey::from_ed_components(&member(&jwk.x)).ok(),
        _ => None,
    }
}

fn jwks_document(keys: &[&PublicJwk]) -> (Bytes, String) {
    let jwks =
        Bytes::from(serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default());
    let etag = format!("\"{}\"", &secret::sha256_hex(&jwks)[..32]);
    (jwks, etag)
}

/// Builds a key set from the database: every published key, and the newest active key of
/// each algorithm parsed once for signing.
async fn load_set(store: &Store, kek: &KeyEncryptionKey) -> Result<KeySet, KeysError> {
    let records = signing_keys::published(store.pool(), publication_cutoff()).await?;
    let mut signing = HashMap::new();
    let mut verifying = HashMap::new();
    let mut published = Vec::new();
    for record in &records {
        let Some(public) = public_key(record) else {
            tracing::error!(kid = %record.id, "stored key lacks its public members; skipped");
            continue;
        };
        let jwk = public.jwk();
        if jwk.kid != record.id {
            tracing::error!(kid = %record.id, "stored key id does not match its thumbprint; skipped");
            continue;
        }
        let alg = public.alg();
        if record.retired_at.is_none() && !signing.contains_key(&alg) {
            let pkcs8 = kek.open(&record.private_key_encrypted, &record.id)?;
            signing.insert(alg, Arc::new(SigningKey::from_pkcs8(&pkcs8, &public)?));
        }
        if let Some(key) = decoding_key(&jwk) {
            verifying.insert(jwk.kid.clone(), (alg, key));
            published.push(jwk);
        }
    }
    let (jwks, etag) = jwks_document(&published.iter().collect::<Vec<_>>());
    let fingerprint = records
        .iter()
        .map(|record| (record.id.clone(), record.retired_at))
        .collect();
    Ok(KeySet {
        signing,
        verifying,
        published,
        jwks,
        etag,
        fingerprint,
    })
}
