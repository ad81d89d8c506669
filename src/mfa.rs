//! Second factors (API.md §10): TOTP codes (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step,
//! each step accepted once) and recovery codes (10, single use, stored hashed), and the
//! authentication-method references they add to a login (RFC 8176 `amr`, and our `acr`).
//! Pure rules: storage and the login flow ask here.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

#[cfg(test)]
use crate::oauth::claims::{ACR_MFA, ACR_PASSWORD, acr_of as acr};
use crate::secret;

/// Seconds per TOTP step (RFC 6238 §4: the default X).
pub const TOTP_STEP_SECONDS: i64 = 30;
const TOTP_DIGITS: usize = 6;
/// Steps either side of now that still count: clocks drift, people type slowly.
const TOTP_SKEW_STEPS: i64 = 1;
/// 160 bits: RFC 4226 §4 recommends the HMAC-SHA-1 output size.
const TOTP_SECRET_BYTES: usize = 20;
pub const RECOVERY_CODE_COUNT: usize = 10;

/// A fresh TOTP secret.
pub fn new_totp_secret() -> Vec<u8> {
    secret::random_bytes::<TOTP_SECRET_BYTES>().to_vec()
}

/// The secret as authenticator apps take it when typed: unpadded RFC 4648 base32.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec())
        .to_encoded()
        .to_string()
}

fn totp(secret: &[u8], issuer: &str, account_name: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_STEP_SECONDS as u64,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account_name.to_owned(),
    )
    .ok()
}

/// The `otpauth://` URI an authenticator app scans (issuer and account name as labels).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account_name: &str) -> String {
    totp(secret, issuer, account_name)
        .map(|totp| totp.get_url())
        .unwrap_or_default()
}

/// The step `code` is valid for at `now` (unix seconds), within ±1 step, if any. The caller
/// accepts it only if the step is later than the last one accepted, so no code works twice.
pub fn totp_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "tessera", "user")?;
    let current = now.div_euclid(TOTP_STEP_SECONDS);
    (current - TOTP_SKEW_STEPS..=current + TOTP_SKEW_STEPS).find(|step| {
        let at = u64::try_from(step * TOTP_STEP_SECONDS).unwrap_or_default();
        bool::from(totp.generate(at).as_bytes().ct_eq(code.as_bytes()))
    })
}

/// Ten fresh recovery codes, as shown once: `xxxxx-xxxxx` in lowercase base32 (50 bits each;
/// a guess also counts toward the per-email login limit).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let text = base32(&secret::random_bytes::<7>()).to_ascii_lowercase();
            format!("{}-{}", &text[..5], &text[5..10])
        })
        .collect()
}

/// What a recovery code is stored as: the hash of its normalized form, so that case,
/// spaces and the dash do not matter when it is typed.
pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secret::hash(&normalized)
}

/// How the second step of a login was passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
    Passkey,
}

/// The first step of a login: a password, or another OpenID provider vouching for the user
/// (an operator provider or an account's SSO connection, API.md §12).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirstFactor {
    #[default]
    Password,
    /// `details` go into the `user.login` event (`method`, and which provider).
    Federated { details: serde_json::Value },
}

impl FirstFactor {
    /// The first step of the login a session's `amr` describes (for stepping up).
    pub fn of_session(amr: &[String]) -> FirstFactor {
        if amr.iter().any(|method| method == FEDERATED) {
            FirstFactor::Federated {
                details: serde_json::json!({}),
            }
        } else {
            FirstFactor::Password
        }
    }

    /// What the `user.login` event says about how the user signed in.
    pub fn login_details(&self) -> serde_json::Value {
        match self {
            FirstFactor::Password => serde_json::json!({}),
            FirstFactor::Federated { details } => details.clone(),
        }
    }
}

/// RFC 8176 has no value for "another provider vouched"; `fed` is the one Microsoft's and
/// others' providers use for it.
pub const FEDERATED: &str = "fed";

/// RFC 8176 method references of a login: its first step (`pwd`, or `fed` through another
/// provider), plus the second factor if one was used (then also `mfa`).
pub fn amr(first: &FirstFactor, second: Option<SecondFactor>) -> Vec<String> {
    let first = match first {
        FirstFactor::Password => "pwd",
        FirstFactor::Federated { .. } => FEDERATED,
    };
    let mut methods = vec![first.to_owned()];
    match second {
        None => return methods,
        // A recovery code is a one-time password too.
        Some(SecondFactor::Totp | SecondFactor::RecoveryCode) => methods.push("otp".to_owned()),
        Some(SecondFactor::Passkey) => methods.push("hwk".to_owned()),
    }
    methods.push("mfa".to_owned());
    methods
}

/// RFC 8176 method references of a password-less passkey sign-in: the key (`hwk`), unlocked
/// on the device by a PIN or biometric (user verification, which every passkey ceremony
/// here requires): two factors (API.md §10).
pub fn passkey_amr() -> Vec<String> {
    vec!["hwk".to_owned(), "mfa".to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1, truncated to 6 digits.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_test_vectors_match_at_their_step() {
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp_step(RFC_SECRET, code, time), Some(time / 30), "{time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let step = 1_234_567_890 / 30;
        let code = "005924";
        assert_eq!(totp_step(RFC_SECRET, code, (step + 1) * 30), Some(step));
        assert_eq!(totp_step(RFC_SECRET, code, (step - 1) * 30), Some(step));
        assert_eq!(totp_step(RFC_SECRET, code, (step + 2) * 30), None);
        assert_eq!(totp_step(RFC_SECRET, code, (step - 2) * 30), None);
    }

    #[test]
    fn malformed_codes_match_nothing() {
        for code in ["", "12345", "1234567", "abcdef", "00592 4"] {
            assert_eq!(totp_step(RFC_SECRET, code, 1_234_567_890), None, "{code:?}");
        }
        assert_eq!(
            totp_step(RFC_SECRET, " 005924 ", 1_234_567_890),
            Some(41_152_263)
        );
    }

    #[test]
    fn secrets_and_uris_are_what_authenticator_apps_read() {
        let secret = new_totp_secret();
        assert_eq!(secret.len(), 20);
        let text = base32(&secret);
        assert_eq!(text.len(), 32, "160 bits in unpadded base32");
        let uri = otpauth_uri(&secret, "Tessera", "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Tessera:ada%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={text}")), "{uri}");
        assert!(uri.contains("issuer=Tessera"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_code_hash(code),
            recovery_code_hash(&format!(" {} ", code.to_uppercase().replace('-', " ")))
        );
    }

    #[test]
    fn amr_and_acr_say_whether_two_factors_were_used() {
        let password = FirstFactor::Password;
        assert_eq!(amr(&password, None), ["pwd"]);
        assert_eq!(acr(&amr(&password, None)), ACR_PASSWORD);
        let both = amr(&password, Some(SecondFactor::Totp));
        assert_eq!(both, ["pwd", "otp", "mfa"]);
        assert_eq!(acr(&both), ACR_MFA);
        assert_eq!(
            amr(&password, Some(SecondFactor::Passkey)),
            ["pwd", "hwk", "mfa"]
        );
        let federated = FirstFactor::Federated {
            details: serde_json::json!({}),
        };
        assert_eq!(amr(&federated, None), ["fed"]);
        assert_eq!(acr(&amr(&federated, None)), ACR_PASSWORD);
        let both = amr(&federated, Some(SecondFactor::Totp));
        assert_eq!(both, ["fed", "otp", "mfa"]);
        assert_eq!(acr(&both), ACR_MFA);
        assert_eq!(FirstFactor::of_session(&both), federated);
        assert_eq!(passkey_amr(), ["hwk", "mfa"]);
        assert_eq!(acr(&passkey_amr()), ACR_MFA);
    }
}
