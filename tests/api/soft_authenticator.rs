//! A software WebAuthn authenticator: what a platform authenticator and the browser do
//! between the server's options and the credential the page posts back. It makes ES256
//! discoverable credentials with "none" attestation and signs assertions, written from the
//! WebAuthn spec (§6.1 authenticator data, §6.5 attestation object, §7 client data),
//! independently of the server's library, so the passkey flows run without a browser.
//! Fields are public so that attack tests can play a phishing origin, a cloned key or a
//! forged user handle.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

/// Authenticator data flags (WebAuthn §6.1): user present, user verified, attested data.
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_DATA: u8 = 0x40;

pub struct Credential {
    pub id: Vec<u8>,
    key: EcdsaKeyPair,
    /// The user handle the server gave at creation, returned with each assertion.
    pub user_handle: Vec<u8>,
    /// The signature counter; the next assertion signs this plus one.
    pub counter: u32,
}

pub struct SoftAuthenticator {
    /// The origin the "browser" reports in the client data: the page's origin.
    pub origin: String,
    pub credentials: Vec<Credential>,
    /// The id the next created credential gets, instead of a random one (a key that claims
    /// another user's credential id).
    pub next_id: Option<Vec<u8>>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> SoftAuthenticator {
        SoftAuthenticator {
            origin: origin.to_owned(),
            credentials: Vec::new(),
            next_id: None,
        }
    }

    /// `navigator.credentials.create({publicKey})` for the server's `{publicKey}` options:
    /// a new credential, as `PublicKeyCredential.toJSON()` gives it.
    pub fn create(&mut self, options: &Value) -> Value {
        let key = &options["publicKey"];
        let rp_id = key["rp"]["id"].as_str().expect("rp.id");
        let excluded: Vec<&str> = key["excludeCredentials"]
            .as_array()
            .map(|list| list.iter().filter_map(|c| c["id"].as_str()).collect())
            .unwrap_or_default();
        // WebAuthn §6.3.2 step 3: an authenticator holding an excluded credential refuses.
        assert!(
            self.credentials
                .iter()
                .all(|c| !excluded.contains(&b64(&c.id).as_str())),
            "InvalidStateError: this authenticator has a passkey of this user already"
        );
        let client_data = self.client_data("webauthn.create", key);
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
        let id: Vec<u8> = self
            .next_id
            .take()
            .unwrap_or_else(|| (0..32).map(|_| rand::random::<u8>()).collect());

        // The public key as a COSE_Key (RFC 9053 §7.1.1): EC2, ES256, P-256, x, y.
        let point = pair.public_key().as_ref();
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
        ]));
        let mut auth_data =
            authenticator_data(rp_id, USER_PRESENT | USER_VERIFIED | ATTESTED_DATA, 0);
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&serde_cbor_2::to_vec(&cose).unwrap());
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));

        self.credentials.push(Credential {
            id: id.clone(),
            key: pair,
            user_handle: unb64(key["user"]["id"].as_str().expect("user.id")),
            counter: 0,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&serde_cbor_2::to_vec(&attestation).unwrap()),
                "transports": ["internal"],
            },
        })
    }

    /// `navigator.credentials.get({publicKey})`: an assertion by the allowed credential, or
    /// (allow list empty: a discoverable sign-in) by the newest one.
    pub fn get(&mut self, options: &Value) -> Value {
        let key = &options["publicKey"];
        let rp_id = key["rpId"].as_str().expect("rpId");
        let allowed: Vec<Vec<u8>> = key["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let client_data = self.client_data("webauthn.get", key);
        let credential = self
            .credentials
            .iter_mut()
            .rev()
            .find(|c| allowed.is_empty() || allowed.contains(&c.id))
            .expect("a credential the options allow");
        credential.counter += 1;
        let auth_data = authenticator_data(rp_id, USER_PRESENT | USER_VERIFIED, credential.counter);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = credential
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("signature");
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
        })
    }

    /// The client data the browser signs over (WebAuthn §5.8.1).
    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("challenge");
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }
}

/// RP ID hash, flags and signature counter (WebAuthn §6.1).
fn authenticator_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
    data.push(flags);
    data.extend_from_slice(&counter.to_be_bytes());
    data
}
