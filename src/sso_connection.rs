//! An account's SSO connection (API.md §12): an upstream OpenID Connect provider that signs in
//! the people of some of the account's verified domains. The rules a connection's fields
//! follow; whether its domains are verified and free is the use case's to ask the store.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Timestamp;
use crate::domain;
use crate::ids::{AccountId, SsoConnectionId};
use crate::role::RoleId;

const MAX_NAME: usize = 100;
const MAX_CLIENT_ID: usize = 255;
const MAX_CLIENT_SECRET: usize = 1024;
const MAX_ISSUER: usize = 2048;
const MAX_DOMAINS: usize = 100;

/// A broken rule: the field's path (`domains[2]`) and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub field: String,
    pub message: String,
}

fn broken(field: impl Into<String>, message: &str) -> Broken {
    Broken {
        field: field.into(),
        message: message.to_owned(),
    }
}

/// A connection as stored, its client secret still sealed.
#[derive(Clone, Debug)]
pub struct SsoConnection {
    pub id: SsoConnectionId,
    pub account_id: AccountId,
    pub name: String,
    /// The upstream's issuer, exactly as the provider names itself.
    pub issuer: String,
    pub client_id: String,
    /// Sealed under the key-encryption key for this connection's id
    /// (`manage::sso_connections::client_secret` opens it).
    pub client_secret_sealed: String,
    /// Lower case, IDNA form, sorted.
    pub domains: Vec<String>,
    pub default_role: RoleId,
    /// Whether a user signed in through the connection becomes a member with `default_role`.
    pub jit: bool,
    /// Whether the people of its domains must sign in through it (no password login).
    pub enforce: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SsoConnection {
    /// Whether the connection may sign in `email`: an address on one of its domains (which
    /// its account verified).
    pub fn vouches_for(&self, email: Option<&str>) -> bool {
        email
            .and_then(domain_of_email)
            .is_some_and(|domain| self.domains.contains(&domain))
    }
}

/// A connection's settings as a request gives them (`POST`), or as a merge patch leaves them
/// (`PATCH`, where `client_secret` is there only when the patch replaces it).
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoInput {
    /// 1 to 100 characters on one line.
    pub name: String,
    /// The provider's issuer: an absolute `https://` URL without query or fragment (its
    /// discovery document is at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// Write-only: never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Domains the account has verified, each on one connection at most.
    pub domains: Vec<String>,
    /// The role a user signed in through the connection joins with (when `jit`).
    #[schema(value_type = String)]
    pub default_role: String,
    #[serde(default)]
    pub jit: bool,
    #[serde(default)]
    pub enforce: bool,
}

impl SsoInput {
    /// The settings a connection has (no secret), for a merge patch to apply to.
    pub fn of(connection: &SsoConnection) -> SsoInput {
        SsoInput {
            name: connection.name.clone(),
            issuer: connection.issuer.clone(),
            client_id: connection.client_id.clone(),
            client_secret: None,
            domains: connection.domains.clone(),
            default_role: connection.default_role.to_string(),
            jit: connection.jit,
            enforce: connection.enforce,
        }
    }

    /// The settings checked and in canonical form (name trimmed, the issuer as given,
    /// domains lower case and sorted); `allow_http`: whether an `http://` issuer may do.
    /// Whether the domains are the account's to route is not looked at here.
    pub fn check(self, allow_http: bool) -> Result<Checked, Broken> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || !crate::text::is_one_line(name) {
            return Err(broken("name", "must be 1 to 100 characters on one line"));
        }
        let issuer =
            parse_issuer(&self.issuer, allow_http).map_err(|message| broken("issuer", message))?;
        if !(1..=MAX_CLIENT_ID).contains(&self.client_id.chars().count())
            || !crate::text::is_one_line(&self.client_id)
        {
            return Err(broken(
                "client_id",
                "must be 1 to 255 characters on one line",
            ));
        }
        if let Some(secret) = &self.client_secret
            && (!(1..=MAX_CLIENT_SECRET).contains(&secret.chars().count())
                || !crate::text::is_one_line(secret))
        {
            return Err(broken(
                "client_secret",
                "must be 1 to 1024 characters on one line",
            ));
        }
        let domains = parse_domains(&self.domains)?;
        let default_role = RoleId::parse(&self.default_role)
            .ok_or_else(|| broken("default_role", "must be a role id"))?;
        Ok(Checked {
            name: name.to_owned(),
            issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            domains,
            default_role,
            jit: self.jit,
            enforce: self.enforce,
        })
    }
}

/// Settings that follow the rules of [`SsoInput::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub domains: Vec<String>,
    pub default_role: RoleId,
    pub jit: bool,
    pub enforce: bool,
}

impl Checked {
    /// The names of the fields that differ from `connection`'s (`client_secret` whenever one
    /// is given: the sealed one cannot be compared).
    pub fn changed_fields(&self, connection: &SsoConnection) -> Vec<&'static str> {
        [
            ("name", self.name != connection.name),
            ("issuer", self.issuer != connection.issuer),
            ("client_id", self.client_id != connection.client_id),
            ("client_secret", self.client_secret.is_some()),
            ("domains", self.domains != connection.domains),
            ("default_role", self.default_role != connection.default_role),
            ("jit", self.jit != connection.jit),
            ("enforce", self.enforce != connection.enforce),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect()
    }
}

/// The issuer as stored: an absolute `https://` URL (`http://` too when `allow_http`) with a
/// host, without credentials, query or fragment, kept exactly as given: the provider's
/// metadata and ID tokens must name the same string byte for byte (OpenID Connect Discovery
/// §4.3), and some issuers end in `/`. Whether its host is public is the use case's to ask
/// (`webhooks::address`).
pub fn parse_issuer(text: &str, allow_http: bool) -> Result<String, &'static str> {
    const SHAPE: &str = "must be an absolute https URL without query or fragment";
    if text.len() > MAX_ISSUER || text.trim() != text {
        return Err(SHAPE);
    }
    let url = Url::parse(text).map_err(|_| SHAPE)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("must be an https URL: this server refuses http issuers"),
        _ => return Err(SHAPE),
    }
    if url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(SHAPE);
    }
    Ok(text.to_owned())
}

/// 1 to 100 domain names, each once, in canonical form and sorted.
fn parse_domains(domains: &[String]) -> Result<Vec<String>, Broken> {
    if domains.is_empty() || domains.len() > MAX_DOMAINS {
        return Err(broken(
            "domains",
            "must list 1 to 100 of the account's verified domains",
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(domains.len());
    for (index, text) in domains.iter().enumerate() {
        let at = |message: &str| broken(format!("domains[{index}]"), message);
        let name = domain::parse_name(text).map_err(at)?;
        if names.contains(&name) {
            return Err(at("is listed twice"));
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// The domain an email address routes by: what follows its last `@`, canonical.
pub fn domain_of_email(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    domain::parse_name(domain).ok()
}

#[cfg(test)]
mod tests {
    use super::{SsoInput, domain_of_email, parse_issuer};

    fn input() -> SsoInput {
        SsoInput {
            name: " Okta ".to_owned(),
            issuer: "https://acme.okta.example/".to_owned(),
            client_id: "abc".to_owned(),
            client_secret: Some("s3cret".to_owned()),
            domains: vec!["B.example".to_owned(), "a.example".to_owned()],
            default_role: "member".to_owned(),
            jit: true,
            enforce: false,
        }
    }

    #[test]
    fn settings_come_out_canonical() {
        let checked = input().check(false).unwrap();
        assert_eq!(checked.name, "Okta");
        assert_eq!(checked.issuer, "https://acme.okta.example/", "as given");
        assert_eq!(checked.domains, ["a.example", "b.example"]);
        assert_eq!(checked.default_role.as_str(), "member");
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        type Breaks = fn(&mut SsoInput);
        let cases: [(Breaks, &str); 8] = [
            (|i| i.name = String::new(), "name"),
            (|i| i.name = "x".repeat(101), "name"),
            (|i| i.client_id = String::new(), "client_id"),
            (
                |i| i.client_secret = Some("x".repeat(1025)),
                "client_secret",
            ),
            (|i| i.domains = Vec::new(), "domains"),
            (|i| i.domains.push("A.example".to_owned()), "domains[2]"),
            (|i| i.domains[0] = "localhost".to_owned(), "domains[0]"),
            (|i| i.default_role = "Not A Role".to_owned(), "default_role"),
        ];
        for (breaks, expected) in cases {
            let mut broken = input();
            breaks(&mut broken);
            assert_eq!(broken.check(true).unwrap_err().field, expected);
        }
    }

    #[test]
    fn issuers_are_https_urls_without_query_or_fragment() {
        assert_eq!(
            parse_issuer("https://login.example.com/tenant/v2.0/", false).as_deref(),
            Ok("https://login.example.com/tenant/v2.0/")
        );
        assert!(parse_issuer("http://127.0.0.1:8080", false).is_err());
        assert_eq!(
            parse_issuer("http://127.0.0.1:8080", true).as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for bad in [
            "https://idp.example/?tenant=1",
            "https://idp.example/#x",
            "https://user:pw@idp.example",
            "ftp://idp.example",
            "idp.example",
            " https://idp.example",
        ] {
            assert!(parse_issuer(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_email_routes_by_its_domain() {
        assert_eq!(
            domain_of_email("Ada@Acme.Example").as_deref(),
            Some("acme.example")
        );
        assert_eq!(domain_of_email("nobody"), None);
    }
}
