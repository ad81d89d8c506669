//! Token signing keys: generation, encryption at rest, the in-memory key ring every request
//! signs and verifies with, and the JWKS document built from it.

mod kek;
mod ring;
mod signing_key;

pub use kek::{KekError, KeyEncryptionKey, SealingKey};
pub use ring::{IdTokenHint, KeyRing, KeysError, VerifyError, rotate};
pub use signing_key::{PublicJwk, SigningKey};
