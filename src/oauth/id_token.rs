//! ID tokens (OIDC Core §2, §3.1.3.6).

use aws_lc_rs::digest::{SHA256, SHA512, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::oauth::signing_alg::SigningAlg;

/// The JOSE `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

#[derive(Clone, Debug, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The account the grant is bound to (API.md §11), as in the access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acc: Option<String>,
}

/// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token, for an ID
/// token signed with RS256 or ES256.
pub fn at_hash(access_token: &str) -> String {
    at_hash_for(access_token, SigningAlg::Rs256)
}

/// `at_hash` under the hash of the ID token's `alg`: SHA-256 for RS256 and ES256, SHA-512
/// for EdDSA over Ed25519 (the hash Ed25519 itself uses, as other OpenID providers do).
pub fn at_hash_for(access_token: &str, alg: SigningAlg) -> String {
    let hash = match alg {
        SigningAlg::Rs256 | SigningAlg::Es256 => digest(&SHA256, access_token.as_bytes()),
        SigningAlg::EdDsa => digest(&SHA512, access_token.as_bytes()),
    };
    let hash = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&hash[..hash.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::at_hash;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // OIDC Core appendix A.3 example.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
