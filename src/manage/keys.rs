//! Rotating the signing key of one algorithm, by a superadmin (`POST /v1/admin/keys/rotate`, on the serving
//! instance's key ring) or the operator (`tessera keys rotate`, with the key-encryption key
//! alone): the new key is committed by `keys`, then `signing_key.rotated` is recorded.

use serde::Serialize;
use serde_json::json;

use crate::audit::{Action, Origin};
use crate::clock;
use crate::keys::{self, KeyEncryptionKey, KeyRing, KeysError, PublicJwk, SigningAlg};
use crate::store::Store;

/// A signing key just made active, as both the API and the CLI show it: the public JWK and
/// `active: true`.
#[derive(Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub key: PublicJwk,
    pub active: bool,
}

/// Rotates `alg` (the server's algorithm when `None`) on this instance's ring (it switches
/// over at once; others within seconds).
pub async fn rotate(
    store: &Store,
    ring: &KeyRing,
    alg: Option<SigningAlg>,
    origin: Origin<'_>,
) -> Result<RotatedKey, KeysError> {
    let key = ring
        .rotate_algorithm(store, alg.unwrap_or(ring.default_alg()))
        .await?;
    record(store, key, origin).await
}

/// Rotates without a running server: serving instances pick the key up within seconds.
pub async fn rotate_offline(
    store: &Store,
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
    origin: Origin<'_>,
) -> Result<RotatedKey, KeysError> {
    let key = keys::rotate(store, kek, alg).await?;
    record(store, key, origin).await
}

/// Records a rotation that the key ring committed (in a transaction of its own).
async fn record(
    store: &Store,
    key: PublicJwk,
    origin: Origin<'_>,
) -> Result<RotatedKey, KeysError> {
    let details = json!({"alg": key.alg});
    let event = origin.event(
        None,
        Action::SigningKeyRotated,
        "signing_key",
        &key.kid,
        details,
    );
    store.record_events(&[event], clock::now()).await?;
    Ok(RotatedKey { key, active: true })
}
