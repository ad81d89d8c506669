//! One signing key of one algorithm (API.md §14): RS256 (RSA-2048, generated with `rsa`),
//! ES256 (P-256) or EdDSA (Ed25519), parsed once into an aws-lc key pair (parsing per
//! signature would cost more than the signature), identified by its RFC 7638 thumbprint.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;

use crate::oauth::signing_alg::SigningAlg;

const RSA_BITS: usize = 2048;
/// A P-256 coordinate's length; an uncompressed point is `04 ‖ x ‖ y`.
const P256_COORDINATE_LEN: usize = 32;

/// The public half as a JWK, the way the JWKS publishes it: `n`/`e` for RSA, `crv`/`x`/`y`
/// for EC, `crv`/`x` for OKP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// RSA's modulus and exponent; empty (and not published) for other key types.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub n: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub e: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// The public members of a key as stored beside it (base64url, as published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    Rsa { n: String, e: String },
    P256 { x: String, y: String },
    Ed25519 { x: String },
}

impl PublicKey {
    pub fn alg(&self) -> SigningAlg {
        match self {
            PublicKey::Rsa { .. } => SigningAlg::Rs256,
            PublicKey::P256 { .. } => SigningAlg::Es256,
            PublicKey::Ed25519 { .. } => SigningAlg::EdDsa,
        }
    }

    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no
    /// whitespace (RFC 8037 §2 for OKP).
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicKey::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            PublicKey::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicKey::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
    }

    pub fn jwk(&self) -> PublicJwk {
        let alg = self.alg().as_str();
        let kid = self.thumbprint();
        let jwk = |kty, crv| PublicJwk {
            kty,
            use_: "sig",
            alg,
            kid,
            crv,
            n: String::new(),
            e: String::new(),
            x: None,
            y: None,
        };
        match self.clone() {
            PublicKey::Rsa { n, e } => PublicJwk {
                n,
                e,
                ..jwk("RSA", None)
            },
            PublicKey::P256 { x, y } => PublicJwk {
                x: Some(x),
                y: Some(y),
                ..jwk("EC", Some("P-256"))
            },
            PublicKey::Ed25519 { x } => PublicJwk {
                x: Some(x),
                ..jwk("OKP", Some("Ed25519"))
            },
        }
    }

    /// The public key an aws-lc key pair holds, in the same encoding.
    fn of_pair(pair: &Pair) -> PublicKey {
        match pair {
            Pair::Rsa(pair) => PublicKey::Rsa {
                n: URL_SAFE_NO_PAD.encode(
                    pair.public_key()
                        .modulus()
                        .big_endian_without_leading_zero(),
                ),
                e: URL_SAFE_NO_PAD.encode(
                    pair.public_key()
                        .exponent()
                        .big_endian_without_leading_zero(),
                ),
            },
            Pair::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len().min(P256_COORDINATE_LEN));
                PublicKey::P256 {
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                }
            }
            Pair::Ed(pair) => PublicKey::Ed25519 {
                x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            },
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct SigningKey {
    public: PublicJwk,
    alg: SigningAlg,
    pair: Pair,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("the private key is not a valid PKCS#8 key of its algorithm")]
    Parse,
    #[error("the private key does not match its published public key")]
    Mismatch,
}

impl SigningKey {
    /// Generates a new RSA-2048 key: [`SigningKey::generate_for`] RS256.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), SigningKeyError> {
        SigningKey::generate_for(SigningAlg::Rs256)
    }

    /// Generates a new key of `alg`; returns it with its PKCS#8 DER for sealing. CPU-heavy
    /// for RSA: call from a blocking thread.
    pub fn generate_for(alg: SigningAlg) -> Result<(SigningKey, Vec<u8>), SigningKeyError> {
        let failed = |error: &dyn std::fmt::Display| SigningKeyError::Generate(error.to_string());
        let rng = SystemRandom::new();
        let (der, public) = match alg {
            SigningAlg::Rs256 => {
                let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
                    .map_err(|error| failed(&error))?;
                let der = private.to_pkcs8_der().map_err(|error| failed(&error))?;
                let public = PublicKey::Rsa {
                    n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                    e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
                };
                (der.as_bytes().to_vec(), public)
            }
            SigningAlg::Es256 => {
                let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|error| failed(&error))?;
                let pair = parse(alg, der.as_ref())?;
                (der.as_ref().to_vec(), PublicKey::of_pair(&pair))
            }
            SigningAlg::EdDsa => {
                let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|error| failed(&error))?;
                let pair = parse(alg, der.as_ref())?;
                (der.as_ref().to_vec(), PublicKey::of_pair(&pair))
            }
        };
        let key = SigningKey::from_pkcs8(&der, &public)?;
        Ok((key, der))
    }

    /// Parses a stored key, checking that it belongs to the public key stored beside it.
    pub fn from_pkcs8(der: &[u8], public: &PublicKey) -> Result<SigningKey, SigningKeyError> {
        let alg = public.alg();
        let pair = parse(alg, der)?;
        if PublicKey::of_pair(&pair) != *public {
            return Err(SigningKeyError::Mismatch);
        }
        Ok(SigningKey {
            public: public.jwk(),
            alg,
            pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// A compact JWS (RFC 7515) over `claims` with header `{alg, typ, kid}`.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, serde_json::Error> {
        let header =
            serde_json::json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.public.kid});
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let signature = self.signature(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
        Ok(jws)
    }

    fn signature(&self, message: &[u8]) -> Vec<u8> {
        // Signing with a key that parsed cannot fail short of an RNG failure.
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                if pair
                    .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .is_err()
                {
                    std::process::abort();
                }
                signature
            }
            Pair::Ec(pair) => match pair.sign(&self.rng, message) {
                Ok(signature) => signature.as_ref().to_vec(),
                Err(_) => std::process::abort(),
            },
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

fn parse(alg: SigningAlg, der: &[u8]) -> Result<Pair, SigningKeyError> {
    let pair = match alg {
        SigningAlg::Rs256 => RsaKeyPair::from_pkcs8(der).map(Pair::Rsa).ok(),
        SigningAlg::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(Pair::Ec)
            .ok(),
        SigningAlg::EdDsa => Ed25519KeyPair::from_pkcs8(der).map(Pair::Ed).ok(),
    };
    pair.ok_or(SigningKeyError::Parse)
}

#[cfg(test)]
mod tests {
    use super::{PublicKey, SigningAlg, SigningKey};

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = PublicKey::Rsa {
            n: n.into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.jwk().kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn okp_thumbprint_matches_rfc8037_example() {
        // RFC 8037 appendix A.3.
        let key = PublicKey::Ed25519 {
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        };
        assert_eq!(
            key.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn every_algorithm_generates_a_key_that_parses_back() {
        for alg in SigningAlg::ALL {
            let (key, der) = SigningKey::generate_for(alg).unwrap();
            assert_eq!(key.alg(), alg);
            assert_eq!(key.public_jwk().alg, alg.as_str());
            let public = match alg {
                SigningAlg::Rs256 => PublicKey::Rsa {
                    n: key.public_jwk().n.clone(),
                    e: key.public_jwk().e.clone(),
                },
                SigningAlg::Es256 => PublicKey::P256 {
                    x: key.public_jwk().x.clone().unwrap(),
                    y: key.public_jwk().y.clone().unwrap(),
                },
                SigningAlg::EdDsa => PublicKey::Ed25519 {
                    x: key.public_jwk().x.clone().unwrap(),
                },
            };
            let parsed = SigningKey::from_pkcs8(&der, &public).unwrap();
            assert_eq!(parsed.kid(), key.kid());
            let jws = parsed
                .sign("JWT", &serde_json::json!({"sub": "x"}))
                .unwrap();
            assert_eq!(jws.split('.').count(), 3);
        }
        let (_, der) = SigningKey::generate_for(SigningAlg::Es256).unwrap();
        let (other, _) = SigningKey::generate_for(SigningAlg::Es256).unwrap();
        let other_public = PublicKey::P256 {
            x: other.public_jwk().x.clone().unwrap(),
            y: other.public_jwk().y.clone().unwrap(),
        };
        assert!(SigningKey::from_pkcs8(&der, &other_public).is_err());
    }
}
