//! One RS256 signing key: generated with `rsa`, parsed once into an aws-lc key pair (parsing
//! per signature would cost more than the signature), identified by its RFC 7638 thumbprint.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;

const RSA_BITS: usize = 2048;

/// The public half as a JWK, the way the JWKS publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl PublicJwk {
    pub fn rsa(n: String, e: String) -> PublicJwk {
        PublicJwk {
            kty: "RSA",
            use_: "sig",
            alg: "RS256",
            kid: thumbprint(&n, &e),
            n,
            e,
        }
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

pub struct SigningKey {
    public: PublicJwk,
    pair: RsaKeyPair,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("the private key is not a valid PKCS#8 RSA key")]
    Parse,
    #[error("the private key does not match its published public key")]
    Mismatch,
}

impl SigningKey {
    /// Generates a new RSA-2048 key; returns it with its PKCS#8 DER for sealing. CPU-heavy:
    /// call from a blocking thread.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), SigningKeyError> {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
            .map_err(|error| SigningKeyError::Generate(error.to_string()))?;
        let der = private
            .to_pkcs8_der()
            .map_err(|error| SigningKeyError::Generate(error.to_string()))?;
        let public = PublicJwk::rsa(
            URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        );
        let key = SigningKey::from_pkcs8(der.as_bytes(), public)?;
        Ok((key, der.as_bytes().to_vec()))
    }

    /// Parses a stored key, checking that it belongs to the public key stored beside it.
    pub fn from_pkcs8(der: &[u8], public: PublicJwk) -> Result<SigningKey, SigningKeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| SigningKeyError::Parse)?;
        let modulus = pair.public_key().modulus();
        if URL_SAFE_NO_PAD.encode(modulus.big_endian_without_leading_zero()) != public.n {
            return Err(SigningKeyError::Mismatch);
        }
        Ok(SigningKey {
            public,
            pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// A compact JWS (RFC 7515) over `claims` with header `{alg: RS256, typ, kid}`.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, serde_json::Error> {
        let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": self.public.kid});
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        // Signing with a key that parsed cannot fail short of an RNG failure.
        if self
            .pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, jws.as_bytes(), &mut signature)
            .is_err()
        {
            std::process::abort();
        }
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
        Ok(jws)
    }
}

#[cfg(test)]
mod tests {
    use super::{PublicJwk, thumbprint};

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(
            PublicJwk::rsa(n.into(), "AQAB".into()).kid,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
