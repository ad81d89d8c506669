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

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://id.example.com";
    const CLIENT: &str = "tessera";
    const NONCE: &str = "n-0S6_WzA2Mj";

    struct Provider {
        keys: JwkSet,
        encoding: EncodingKey,
    }

    fn provider(kid: Option<&str>) -> Provider {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        });
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        Provider {
            keys: serde_json::from_value(json!({ "keys": [jwk] })).unwrap(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        }
    }

    fn claims() -> Value {
        let now = crate::clock::now();
        json!({
            "iss": ISSUER, "sub": "248289761001", "aud": CLIENT, "iat": now, "exp": now + 300,
            "nonce": NONCE, "email": " Jane@Example.com ", "email_verified": true, "name": "Jane",
        })
    }

    fn sign(provider: &Provider, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &provider.encoding).unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: CLIENT,
            nonce: NONCE,
        }
    }

    #[test]
    fn a_good_token_names_its_user() {
        let provider = provider(Some("k1"));
        let user = verify(
            &sign(&provider, Some("k1"), &claims()),
            &provider.keys,
            expected(),
        )
        .unwrap();
        assert_eq!(user.subject, "248289761001");
        assert_eq!(user.email.as_deref(), Some("jane@example.com"));
        assert!(user.email_verified);
        // Without a kid, the one published key.
        let single = verify(
            &sign(&provider, None, &claims()),
            &provider.keys,
            expected(),
        );
        assert!(single.is_ok());
    }

    #[test]
    fn each_check_refuses_on_its_own() {
        let provider = provider(Some("k1"));
        let refused = |claims: Value| {
            verify(
                &sign(&provider, Some("k1"), &claims),
                &provider.keys,
                expected(),
            )
        };
        let mut wrong = claims();
        wrong["iss"] = json!("https://other.example.com");
        assert!(refused(wrong).is_err(), "issuer");
        let mut wrong = claims();
        wrong["aud"] = json!("someone-else");
        assert!(refused(wrong).is_err(), "audience");
        let mut wrong = claims();
        wrong["aud"] = json!([CLIENT, "someone-else"]);
        assert!(
            refused(wrong.clone()).is_err(),
            "several audiences without azp"
        );
        wrong["azp"] = json!(CLIENT);
        assert!(refused(wrong).is_ok(), "several audiences, azp is us");
        let mut wrong = claims();
        wrong["exp"] = json!(crate::clock::now() - 120);
        assert!(refused(wrong).is_err(), "expired beyond the skew");
        let mut wrong = claims();
        wrong["nonce"] = json!("another");
        assert!(refused(wrong).is_err(), "nonce");
        let mut wrong = claims();
        wrong.as_object_mut().unwrap().remove("nonce");
        assert!(refused(wrong).is_err(), "no nonce");
        let mut string_flag = claims();
        string_flag["email_verified"] = json!("false");
        assert!(!refused(string_flag).unwrap().email_verified);
    }

    #[test]
    fn keys_must_be_the_providers() {
        let provider = provider(Some("k1"));
        let stranger = self::provider(Some("k1"));
        let forged = sign(&stranger, Some("k1"), &claims());
        assert!(matches!(
            verify(&forged, &provider.keys, expected()),
            Err(IdTokenError::Invalid(_))
        ));
        let unknown = sign(&provider, Some("k2"), &claims());
        assert_eq!(
            verify(&unknown, &provider.keys, expected()),
            Err(IdTokenError::UnknownKey)
        );
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"client secret"),
        )
        .unwrap();
        assert!(verify(&hmac, &provider.keys, expected()).is_err());
    }
}
