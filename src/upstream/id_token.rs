//! Checks an upstream ID token (OpenID Connect Core §3.1.3.7): signed by one of the
//! provider's published keys with an asymmetric algorithm, issued by the provider for this
//! client (`aud`, and `azp` when there are several audiences), not expired (60 s of skew),
//! carrying the nonce of this login.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::identity::UpstreamUser;

/// The algorithms an upstream may sign with: never HMAC (its key would be our client
/// secret, which an upstream must not be able to mint tokens with) and never `none`.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Same skew as for our own tokens (API.md §3).
const LEEWAY_SECONDS: u64 = 60;

/// What one login is waiting for.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
}

/// Why an ID token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    /// Its `kid` is not among the keys at hand: they may be stale.
    #[error("signed with a key the provider does not publish")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// A string or an array (jsonwebtoken checks ours is in it).
    aud: serde_json::Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Verified>,
    #[serde(default)]
    name: Option<String>,
}

/// Some providers send `email_verified` as the string `"true"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Verified {
    Flag(bool),
    Text(String),
}

/// Checks `token` against `keys` and what the login expects.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    expected: Expected<'_>,
) -> Result<UpstreamUser, IdTokenError> {
    let invalid = |reason: &str| IdTokenError::Invalid(reason.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(IdTokenError::Invalid(format!(
            "signed with {:?}, which is not accepted",
            header.alg
        )));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid).ok_or(IdTokenError::UnknownKey)?,
        // Without a `kid` the provider must publish exactly one key (OIDC Core §10.1).
        None => match keys.keys.as_slice() {
            [only] => only,
            [] => return Err(IdTokenError::UnknownKey),
            _ => return Err(invalid("no kid, and the provider publishes several keys")),
        },
    };
    if jwk
        .common
        .key_algorithm
        .is_some_and(|algorithm| algorithm.to_string() != format!("{:?}", header.alg))
    {
        return Err(invalid("the key is published for another algorithm"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("the provider's key is unusable"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    validation.leeway = LEEWAY_SECONDS;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|error| IdTokenError::Invalid(format!("rejected: {error}")))?
        .claims;
    let several_audiences = claims.aud.as_array().is_some_and(|list| list.len() > 1);
    if several_audiences && claims.azp.as_deref() != Some(expected.client_id) {
        return Err(invalid("several audiences and azp is not this client"));
    }
    if let Some(azp) = &claims.azp
        && azp != expected.client_id
    {
        return Err(invalid("azp is another client"));
    }
    let nonce_matches = claims
        .nonce
        .as_deref()
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_matches {
        return Err(invalid("the nonce is not this login's"));
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(invalid("sub is empty or longer than 255 characters"));
    }
    Ok(UpstreamUser {
        issuer: expected.issuer.to_owned(),
        subject: claims.sub,
        email: claims
            .email
            .map(|email| email.trim().to_lowercase())
            .filter(|email| !email.is_empty()),
        email_verified: match claims.email_verified {
            Some(Verified::Flag(flag)) => flag,
            Some(Verified::Text(text)) => text == "true",
            None => false,
        },
        name: claims.name.filter(|name| !name.trim().is_empty()),
    })
}
