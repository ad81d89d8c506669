//! Passkeys (WebAuthn, API.md §10) as the relying party sees them: the options a browser
//! needs to create or use one, and the checks of what it sends back, by `webauthn-rs`
//! (kanidm's library). Pure rules: where a ceremony's state waits between its two requests
//! and where the credentials live is the caller's business (`manage::passkeys`).
//!
//! The relying party is this server's host name: a passkey made on `id.example.com` works
//! on every issuer of that host. Browsers refuse WebAuthn on IP addresses, so an issuer
//! such as `http://127.0.0.1:8080` has no passkeys ([`RelyingParty::for_issuer`] is `None`).

use ulid::Ulid;
use url::Url;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::config::Issuer;
use crate::ids::UserId;

/// What authenticators show next to the user's name.
const RP_NAME: &str = "Tessera";

pub use webauthn_rs::prelude::{AuthenticationResult, WebauthnError};

/// A passkey ceremony's outcome was refused: forged, replayed, for another origin, from an
/// unknown or cloned authenticator, or without user verification.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(#[from] WebauthnError);

pub struct RelyingParty {
    webauthn: Webauthn,
}

impl RelyingParty {
    /// The relying party of `issuer`'s host; `None` when the host is an IP address.
    pub fn for_issuer(issuer: &Issuer) -> Option<RelyingParty> {
        let url = Url::parse(issuer.as_str()).ok()?;
        let rp_id = url.domain()?.to_owned();
        let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .ok()?
            .rp_name(RP_NAME)
            .build()
            .ok()?;
        Some(RelyingParty { webauthn })
    }

    /// The options to create a passkey for `user_id` (shown as `email` and `name`), other
    /// than the ones in `existing`. A passkey here is a discoverable credential with user
    /// verification: the same one serves as a second factor and for password-less sign-in.
    pub fn start_registration(
        &self,
        user_id: &UserId,
        email: &str,
        name: &str,
        existing: &[Passkey],
    ) -> Result<(CreationChallengeResponse, PasskeyRegistration), Refused> {
        let exclude = existing.iter().map(|key| key.cred_id().clone()).collect();
        let (mut options, state) = self.webauthn.start_passkey_registration(
            user_handle(user_id),
            email,
            if name.is_empty() { email } else { name },
            Some(exclude),
        )?;
        // webauthn-rs leaves the key's residency to the authenticator; without a resident
        // key a security key could not offer it for a sign-in that starts with no email.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        Ok((options, state))
    }

    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, Refused> {
        Ok(self
            .webauthn
            .finish_passkey_registration(credential, state)?)
    }

    /// The options to prove one of `passkeys` (a second factor after the password).
    pub fn start_authentication(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(RequestChallengeResponse, PasskeyAuthentication), Refused> {
        Ok(self.webauthn.start_passkey_authentication(passkeys)?)
    }

    pub fn finish_authentication(
        &self,
        credential: &PublicKeyCredential,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, Refused> {
        Ok(self
            .webauthn
            .finish_passkey_authentication(credential, state)?)
    }

    /// The options of a sign-in that starts with no email: the browser offers the passkeys
    /// it has for this host, and the one chosen says whose it is.
    pub fn start_sign_in(
        &self,
    ) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), Refused> {
        let (mut options, state) = self.webauthn.start_discoverable_authentication()?;
        // The library asks for conditional mediation (autofill); our button asks at once.
        options.mediation = None;
        Ok((options, state))
    }

    /// Whose passkey signed `credential`, by the user handle it carries.
    pub fn claimed_user(credential: &PublicKeyCredential) -> Option<UserId> {
        let handle = credential.get_user_unique_id()?;
        let handle = Uuid::from_slice(handle).ok()?;
        UserId::parse(&format!(
            "{}{}",
            UserId::PREFIX,
            Ulid::from(handle.as_u128())
        ))
    }

    pub fn finish_sign_in(
        &self,
        credential: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkeys: &[Passkey],
    ) -> Result<AuthenticationResult, Refused> {
        let keys: Vec<DiscoverableKey> = passkeys.iter().map(DiscoverableKey::from).collect();
        Ok(self
            .webauthn
            .finish_discoverable_authentication(credential, state, &keys)?)
    }
}

/// The WebAuthn user handle of a user: its ULID's 16 bytes (no personal data, stable).
fn user_handle(user_id: &UserId) -> Uuid {
    let ulid = user_id
        .as_str()
        .strip_prefix(UserId::PREFIX)
        .and_then(|text| Ulid::from_string(text).ok())
        .unwrap_or_default();
    Uuid::from_u128(ulid.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_issuer_has_a_relying_party_and_an_ip_issuer_none() {
        let issuer = |text| Issuer::parse(text).unwrap();
        assert!(RelyingParty::for_issuer(&issuer("https://id.example.com/tessera")).is_some());
        assert!(RelyingParty::for_issuer(&issuer("http://localhost:8080")).is_some());
        assert!(RelyingParty::for_issuer(&issuer("http://127.0.0.1:8080")).is_none());
        assert!(RelyingParty::for_issuer(&issuer("http://[::1]:8080")).is_none());
    }

    #[test]
    fn registration_asks_for_a_discoverable_user_verified_credential() {
        let rp =
            RelyingParty::for_issuer(&Issuer::parse("https://id.example.com").unwrap()).unwrap();
        let user_id = UserId::generate();
        let (options, _) = rp
            .start_registration(&user_id, "ada@example.com", "Ada", &[])
            .unwrap();
        let json = serde_json::to_value(&options).unwrap();
        let key = &json["publicKey"];
        assert_eq!(key["rp"]["id"], "id.example.com");
        assert_eq!(key["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(
            key["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(key["user"]["name"], "ada@example.com");
        // The user handle is the user's id, and reads back as it.
        let handle = key["user"]["id"].as_str().unwrap();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, handle)
                .unwrap();
        assert_eq!(Uuid::from_slice(&bytes).unwrap(), user_handle(&user_id));
    }
}
