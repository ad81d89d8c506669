//! Token signing keys of each algorithm (RS256, ES256, EdDSA): generation, encryption at rest, the in-memory key ring every request
//! signs and verifies with, and the JWKS document built from it.

mod kek;
mod ring;
mod signing_key;

pub use crate::oauth::signing_alg::SigningAlg;
pub use kek::{KekError, KeyEncryptionKey, SealingKey};
pub use ring::{IdTokenHint, KeyRing, KeysError, VerifyError, ensure, rotate};
pub use signing_key::{PublicJwk, SigningKey};
