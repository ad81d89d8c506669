//! Outgoing webhooks (Standard Webhooks): the `whsec_` signing secrets, signatures, the
//! event filter, which URLs an account may configure, and (`delivery`) the worker that
//! drains the `webhook_deliveries` outbox. No HTTP handlers here; they live in `http::v1`.

pub mod address;
pub mod delivery;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ids::AccountId;
use crate::keys::{KekError, KeyEncryptionKey};

/// How long the previous secret keeps signing after a rotation.
pub const PREVIOUS_SECRET_SECONDS: i64 = 24 * 60 * 60;

const SECRET_PREFIX: &str = "whsec_";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// 44 base62 characters: about 262 bits, and (being a multiple of 4 with no `+`, `/` or `=`)
/// also valid standard base64 of 33 bytes, which is what Standard Webhooks libraries decode.
const SECRET_LENGTH: usize = 44;

/// A webhook signing secret, `whsec_` followed by base64 of the HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn generate() -> Secret {
        let mut text = String::from(SECRET_PREFIX);
        while text.len() < SECRET_PREFIX.len() + SECRET_LENGTH {
            // Rejection sampling keeps every character uniform: 248 = 4 × 62.
            for byte in crate::secret::random_bytes::<64>() {
                if byte < 248 && text.len() < SECRET_PREFIX.len() + SECRET_LENGTH {
                    text.push(char::from(SECRET_ALPHABET[usize::from(byte % 62)]));
                }
            }
        }
        Secret(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the base64-decoded part after `whsec_`.
    fn key(&self) -> Option<Vec<u8>> {
        STANDARD.decode(self.0.strip_prefix(SECRET_PREFIX)?).ok()
    }

    /// Seals the secret under the key-encryption key, bound to its account.
    pub fn seal(&self, kek: &KeyEncryptionKey, account_id: &AccountId) -> String {
        kek.seal(self.0.as_bytes(), &seal_context(account_id))
    }

    pub fn open(
        kek: &KeyEncryptionKey,
        sealed: &str,
        account_id: &AccountId,
    ) -> Result<Secret, KekError> {
        let bytes = kek.open(sealed, &seal_context(account_id))?;
        String::from_utf8(bytes)
            .ok()
            .filter(|text| text.starts_with(SECRET_PREFIX))
            .map(Secret)
            .ok_or(KekError::Open)
    }

    /// One Standard Webhooks signature, `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key().unwrap_or_default());
        let mut context = hmac::Context::with_key(&key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

fn seal_context(account_id: &AccountId) -> String {
    format!("webhook-secret:{account_id}")
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an event passes a webhook's filter; `None` lets every event through.
pub fn wants(events: Option<&[String]>, action: &str) -> bool {
    events.is_none_or(|events| events.iter().any(|event| event == action))
}

/// Every audit action Tessera records (API.md §8), the names a webhook filter may use.
pub const ACTIONS: &[&str] = &[
    "account.created",
    "account.updated",
    "account.deleted",
    "member.added",
    "member.role_changed",
    "member.removed",
    "invite.created",
    "invite.accepted",
    "invite.declined",
    "invite.revoked",
    "client.created",
    "client.updated",
    "client.deleted",
    "client.secret_rotated",
    "api_key.created",
    "api_key.rolled",
    "api_key.revoked",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "user.created",
    "user.updated",
    "user.disabled",
    "user.enabled",
    "user.login",
    "user.login_failed",
    "signing_key.rotated",
];

/// Whether `text` names an audit action Tessera records: a filter naming anything else
/// would silently never match, so it is refused instead.
pub fn is_known_action(text: &str) -> bool {
    ACTIONS.contains(&text)
}

#[cfg(test)]
mod tests {
    use super::{Secret, is_known_action, signature_header, wants};
    use crate::ids::AccountId;
    use crate::keys::KeyEncryptionKey;

    #[test]
    fn secrets_are_url_safe_base64_of_enough_bytes() {
        let secret = Secret::generate();
        let body = secret.as_str().strip_prefix("whsec_").unwrap();
        assert_eq!(body.len(), 44);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(secret.key().unwrap().len(), 33);
        assert_ne!(secret, Secret::generate());
    }

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks reference implementations' tests.
        let secret = Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures() {
        let (a, b) = (Secret::generate(), Secret::generate());
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1, "{}");
        assert_eq!(
            header,
            format!("{} {}", a.sign("msg_1", 1, "{}"), b.sign("msg_1", 1, "{}"))
        );
    }

    #[test]
    fn sealed_secrets_open_only_for_their_account() {
        let kek = KeyEncryptionKey::from_bytes(&[3; 32]);
        let account = AccountId::generate();
        let secret = Secret::generate();
        let sealed = secret.seal(&kek, &account);
        assert_eq!(Secret::open(&kek, &sealed, &account).unwrap(), secret);
        assert!(Secret::open(&kek, &sealed, &AccountId::generate()).is_err());
    }

    #[test]
    fn filters_and_action_names() {
        assert!(wants(None, "member.added"));
        let events = vec!["member.added".to_owned()];
        assert!(wants(Some(&events), "member.added"));
        assert!(!wants(Some(&events), "member.removed"));
        assert!(is_known_action("api_key.created"));
        assert!(!is_known_action("member"));
        assert!(!is_known_action("Member.added"));
        assert!(!is_known_action("member.added.x"));
        assert!(!is_known_action(".added"));
        assert!(
            !is_known_action("member.promoted"),
            "well-formed but unknown"
        );
    }
}
