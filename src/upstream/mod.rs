//! Tessera as a relying party (API.md §12): signing users in through another OpenID
//! provider, either one the operator configured (`[[identity_providers]]`) or an account's SSO
//! connection. `discovery` reads the provider's metadata and keys, `flow` builds the
//! authorization request (state, nonce, PKCE) and redeems the code (the `oauth2` crate),
//! `id_token` checks what comes back. What the upstream user then signs in as is
//! `manage::identities`' to decide.

pub mod discovery;
pub mod flow;
pub mod id_token;

use serde::Deserialize;

pub use discovery::Directory;
pub use flow::Authorization;

/// The scopes asked for when a provider names none (API.md §12).
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// An operator's provider from `tessera.toml`:
///
/// ```toml
/// [[identity_providers]]
/// id = "google"
/// name = "Google"
/// issuer = "https://accounts.google.com"
/// client_id = "…"
/// client_secret = "…"
/// scopes = ["openid", "email", "profile"]   # or "openid email profile"; the default
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// In the login URLs (`/login/idp/{id}`) and on linked identities: `[a-z0-9_-]{1,32}`.
    pub id: String,
    /// Shown as "Continue with {name}".
    pub name: String,
    /// Compared byte for byte with the metadata's and the ID tokens' `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "default_scopes", deserialize_with = "scope_list")]
    pub scopes: Vec<String>,
}

/// [`DEFAULT_SCOPES`], owned.
pub fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES
        .iter()
        .map(|scope| (*scope).to_owned())
        .collect()
}

/// `scopes` as an array or a space-separated string.
fn scope_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Scopes::deserialize(deserializer)? {
        Scopes::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
        Scopes::List(list) => list,
    })
}

impl IdentityProvider {
    /// Checks one provider's settings; the reason names the field.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = (1..=32).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if !id_ok {
            return Err(format!("id `{}` must match [a-z0-9_-]{{1,32}}", self.id));
        }
        let name_length = self.name.trim().chars().count();
        if name_length == 0 || name_length > 100 || self.name.chars().any(char::is_control) {
            return Err(format!("{}: name must be 1 to 100 characters", self.id));
        }
        match url::Url::parse(&self.issuer) {
            Ok(url)
                if matches!(url.scheme(), "https" | "http")
                    && url.query().is_none()
                    && url.fragment().is_none() => {}
            _ => {
                return Err(format!(
                    "{}: issuer must be an absolute http(s) URL without query or fragment",
                    self.id
                ));
            }
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return Err(format!(
                "{}: client_id and client_secret are required",
                self.id
            ));
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err(format!("{}: scopes must include openid", self.id));
        }
        Ok(())
    }

    /// What the relying party needs of it.
    pub fn relying_party(&self) -> RelyingParty<'_> {
        RelyingParty {
            issuer: &self.issuer,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            scopes: &self.scopes,
            guarded: false,
        }
    }
}

/// One provider as the relying party sees it: where, who we are there, what we ask for.
#[derive(Clone, Copy, Debug)]
pub struct RelyingParty<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scopes: &'a [String],
    /// Whether the provider's URLs came from an account admin rather than the operator:
    /// then requests go only to public addresses when the server blocks private ones.
    pub guarded: bool,
}

/// Why signing in through a provider failed. The user sees a sentence per kind; the detail
/// goes to the log only (it may quote the provider).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider could not be reached, or answered with a server error.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered something this server must not accept: metadata or an ID token
    /// that fails a check, a refused code.
    #[error("the provider's answer was refused: {0}")]
    Invalid(String),
    /// The user cancelled or the provider refused the sign-in (an `error` on the callback).
    #[error("the provider refused the sign-in: {0}")]
    Denied(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(toml_text: &str) -> Result<IdentityProvider, String> {
        toml::from_str(toml_text).map_err(|error: toml::de::Error| error.to_string())
    }

    const GOOD: &str = r#"
        id = "corp"
        name = "Corp"
        issuer = "https://id.example.com"
        client_id = "tessera"
        client_secret = "s3cret"
    "#;

    #[test]
    fn scopes_default_and_take_a_string_or_a_list() {
        let parsed = provider(GOOD).unwrap();
        assert_eq!(parsed.scopes, ["openid", "email", "profile"]);
        parsed.validate().unwrap();
        let text = provider(&format!("{GOOD}\nscopes = \"openid email\"")).unwrap();
        assert_eq!(text.scopes, ["openid", "email"]);
        let list = provider(&format!("{GOOD}\nscopes = [\"openid\"]")).unwrap();
        assert_eq!(list.scopes, ["openid"]);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        assert!(provider(&format!("{GOOD}\ncolour = \"blue\"")).is_err());
        let no_openid = provider(&format!("{GOOD}\nscopes = \"email\"")).unwrap();
        assert!(no_openid.validate().unwrap_err().contains("openid"));
        let mut bad_id = provider(GOOD).unwrap();
        bad_id.id = "Corp!".into();
        assert!(bad_id.validate().unwrap_err().contains("id"));
        let mut bad_issuer = provider(GOOD).unwrap();
        bad_issuer.issuer = "id.example.com".into();
        assert!(bad_issuer.validate().unwrap_err().contains("issuer"));
    }
}
