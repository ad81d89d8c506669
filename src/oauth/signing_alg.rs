//! The JWS algorithms tokens are signed with (API.md §14): what `TESSERA_SIGNING_ALG` and a
//! client's `access_token_signing_alg` / `id_token_signed_response_alg` name.

use serde::{Deserialize, Serialize};

/// The JWS algorithms a key signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an RSA-2048 key: what every verifier accepts.
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA over P-256 with SHA-256: an order of magnitude faster to sign.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|alg| alg.as_str() == text)
    }

    /// Names of every algorithm, for messages: `RS256, ES256 or EdDSA`.
    pub const NAMES: &'static str = "RS256, ES256 or EdDSA";
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
