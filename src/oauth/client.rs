//! OAuth clients (relying parties): what they may do, and the rules a registration must
//! satisfy, shared by the CLI, the REST API and dynamic registration (RFC 7591).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Timestamp;
use crate::ids::{AccountId, ClientId};
use crate::oauth::scope;
use crate::oauth::signing_alg::SigningAlg;
use crate::validation::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    pub fn parse(text: &str) -> Option<GrantType> {
        GrantType::ALL
            .into_iter()
            .find(|grant| grant.as_str() == text)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: no secret, PKCE required.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<AuthMethod> {
        AuthMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == text)
    }

    pub fn is_public(self) -> bool {
        self == AuthMethod::None
    }
}

/// Whether `/oauth2/authorize` has the user pick one of their accounts for this client when
/// the request names none (API.md §11).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccountSelection {
    /// Only `prompt=select_account` shows the picker, which then offers to go on without one.
    #[default]
    None,
    /// The app can use an account; as `none`, the picker comes with `prompt=select_account`.
    Optional,
    /// The app needs an account: the picker, unless the request names one.
    Required,
}

impl AccountSelection {
    pub const ALL: [AccountSelection; 3] = [
        AccountSelection::None,
        AccountSelection::Optional,
        AccountSelection::Required,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountSelection::None => "none",
            AccountSelection::Optional => "optional",
            AccountSelection::Required => "required",
        }
    }

    pub fn parse(text: &str) -> Option<AccountSelection> {
        AccountSelection::ALL
            .into_iter()
            .find(|selection| selection.as_str() == text)
    }
}

/// Access tokens live 15 minutes unless the client says otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECONDS: i64 = 900;
pub const DEFAULT_REFRESH_TOKEN_TTL_SECONDS: i64 = 30 * 86_400;
const MAX_REFRESH_TOKEN_TTL_SECONDS: i64 = 365 * 86_400;
const MAX_REUSE_GRACE_SECONDS: i64 = 60;
const MAX_ALLOWED_AUDIENCES: usize = 50;

/// An audience value: a URI or a name, 1 to 512 visible ASCII characters.
fn is_valid_audience(audience: &str) -> bool {
    (1..=512).contains(&audience.len()) && audience.bytes().all(|b| b.is_ascii_graphic())
}

/// What a client is registered with; validated by [`ClientSettings::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientSettings {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: AuthMethod,
    pub scopes: Vec<String>,
    pub access_token_ttl_seconds: i64,
    pub refresh_token_ttl_seconds: i64,
    pub refresh_reuse_grace_seconds: i64,
    /// Audiences besides its own id that token exchange may name for this client (RFC 8693
    /// `audience`); another client's id only when listed here.
    pub allowed_audiences: Vec<String>,
    /// Whether `/oauth2/authorize` has the user pick an account (API.md §11).
    pub account_selection: AccountSelection,
    /// The algorithm of the client's access tokens (API.md §14); `None`: the server's.
    pub access_token_signing_alg: Option<SigningAlg>,
    /// The algorithm of the client's ID tokens (OIDC Dynamic Client Registration §2);
    /// `None`: the server's.
    pub id_token_signed_response_alg: Option<SigningAlg>,
}

impl ClientSettings {
    /// The defaults of `tessera clients create`: confidential unless `public`.
    pub fn with_defaults(name: String, public: bool) -> ClientSettings {
        let mut grant_types = vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ];
        if !public {
            grant_types.push(GrantType::ClientCredentials);
        }
        ClientSettings {
            name,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            allowed_origins: Vec::new(),
            grant_types,
            token_endpoint_auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            scopes: scope::SUPPORTED.iter().map(|s| (*s).to_owned()).collect(),
            access_token_ttl_seconds: DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
            refresh_token_ttl_seconds: DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
            refresh_reuse_grace_seconds: 0,
            allowed_audiences: Vec::new(),
            account_selection: AccountSelection::None,
            access_token_signing_alg: None,
            id_token_signed_response_alg: None,
        }
    }

    /// The algorithms this client asked for, besides the server's.
    pub fn signing_algs(&self) -> impl Iterator<Item = SigningAlg> {
        self.access_token_signing_alg
            .into_iter()
            .chain(self.id_token_signed_response_alg)
    }

    /// Every rule a registration breaks, as `(field, message)` pairs; empty when valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail =
            |field: &'static str, message: String| errors.push(FieldError { field, message });

        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            fail("name", "must be 1 to 200 characters".into());
        } else if !crate::text::is_one_line(&self.name) {
            fail("name", "must be one line without control characters".into());
        }
        for uri in &self.redirect_uris {
            if let Err(message) = check_redirect_uri(uri) {
                fail("redirect_uris", format!("{uri}: {message}"));
            }
        }
        for uri in &self.post_logout_redirect_uris {
            if let Err(message) = check_redirect_uri(uri) {
                fail("post_logout_redirect_uris", format!("{uri}: {message}"));
            }
        }
        for origin in &self.allowed_origins {
            if let Err(message) = check_origin(origin) {
                fail("allowed_origins", format!("{origin}: {message}"));
            }
        }
        if self.grant_types.is_empty() {
            fail("grant_types", "must name at least one grant type".into());
        }
        // No redirect URI yet is fine: such a client cannot finish a code flow until one is
        // registered (authorize shows an error page for an unregistered redirect_uri).
        let has = |grant| self.grant_types.contains(&grant);
        if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
            fail(
                "grant_types",
                "refresh_token needs authorization_code".into(),
            );
        }
        if has(GrantType::ClientCredentials) && self.token_endpoint_auth_method.is_public() {
            fail(
                "grant_types",
                "client_credentials needs a confidential client".into(),
            );
        }
        for scope in &self.scopes {
            if !scope::is_valid_token(scope) {
                fail("scopes", format!("{scope:?} is not a valid scope token"));
            }
        }
        if !(60..=crate::oauth::claims::MAX_TOKEN_LIFETIME_SECONDS)
            .contains(&self.access_token_ttl_seconds)
        {
            fail(
                "access_token_ttl_seconds",
                "must be between 60 and 86400".into(),
            );
        }
        if !(60..=MAX_REFRESH_TOKEN_TTL_SECONDS).contains(&self.refresh_token_ttl_seconds) {
            fail(
                "refresh_token_ttl_seconds",
                "must be between 60 and 31536000".into(),
            );
        }
        if self.allowed_audiences.len() > MAX_ALLOWED_AUDIENCES {
            fail(
                "allowed_audiences",
                format!("at most {MAX_ALLOWED_AUDIENCES} audiences"),
            );
        }
        for audience in &self.allowed_audiences {
            if !is_valid_audience(audience) {
                fail(
                    "allowed_audiences",
                    format!("{audience:?} must be 1 to 512 printable characters"),
                );
            }
        }
        if !(0..=MAX_REUSE_GRACE_SECONDS).contains(&self.refresh_reuse_grace_seconds) {
            fail(
                "refresh_reuse_grace_seconds",
                "must be between 0 and 60".into(),
            );
        }
        errors
    }

    /// [`ClientSettings::validate`], plus RFC 7591 §2: a client registering itself for a
    /// redirect-based grant must register its redirect URIs, as no admin adds them later.
    pub fn validate_dynamic_registration(&self) -> Vec<FieldError> {
        let mut errors = self.validate();
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            errors.push(FieldError {
                field: "redirect_uris",
                message: "the authorization_code grant needs at least one".into(),
            });
        }
        errors
    }
}

/// Redirect URIs are compared as exact strings, so they must be registered absolute, without
/// a fragment, in the form a URL parser prints them, and over https unless on loopback.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    // RFC 9700 §4.1.3: exact matching only. A `*` would be compared literally, yet reads as a
    // wildcard to whoever registers it; refused so that nobody believes a pattern works.
    if uri.contains('*') || uri.contains("%2A") || uri.contains("%2a") {
        return Err("must not contain `*`: redirect URIs match exactly, without wildcards".into());
    }
    let url = Url::parse(uri).map_err(|_| "must be an absolute URL".to_owned())?;
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    check_transport(&url)?;
    if url.as_str() != uri {
        return Err(format!(
            "must be registered in normalized form: {}",
            url.as_str()
        ));
    }
    Ok(())
}

/// An origin is `scheme://host[:port]` with nothing after it (a browser's `Origin` header).
fn check_origin(origin: &str) -> Result<(), String> {
    let url = Url::parse(origin)
        .map_err(|_| "must be an origin such as https://app.example.com".to_owned())?;
    check_transport(&url)?;
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || origin.ends_with('/')
    {
        return Err("must be an origin: scheme, host and optional port only".into());
    }
    Ok(())
}

fn check_transport(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url) => Ok(()),
        "http" => Err("must use https unless the host is localhost, 127.0.0.1 or [::1]".into()),
        _ => Err("must use https (or http on loopback)".into()),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// A registered client as stored (what adapters show is `manage::clients::ClientView`).
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub settings: ClientSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub secret_hash: Option<String>,
    /// Registered itself through `/oauth2/register`.
    pub self_registered: bool,
    /// Trusted by the operator: its users see no consent page. Set by the CLI (its default)
    /// or a superadmin, never by a tenant.
    pub first_party: bool,
    /// Whether the owning account (and every ancestor) is active, loaded with the client: a
    /// suspended account's client gets no tokens for itself.
    pub account_active: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.settings.token_endpoint_auth_method.is_public()
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }

    /// Exact string comparison, like redirect URIs.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.settings
            .post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// RFC 8693 `audience`: the client's own id, or one it registered (API.md §5).
    pub fn may_address(&self, audience: &str) -> bool {
        audience == self.client_id.as_str()
            || self
                .settings
                .allowed_audiences
                .iter()
                .any(|allowed| allowed == audience)
    }

    /// Exact string comparison, as RFC 6749 §3.1.2.3 and OAuth 2.1 require.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.settings
            .redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }
}

/// A registered client with the CLI defaults and one redirect URI, for protocol unit tests.
#[cfg(test)]
pub(crate) fn sample(public: bool) -> Client {
    let mut settings = ClientSettings::with_defaults("App".into(), public);
    settings.redirect_uris = vec!["https://app.example.com/cb".into()];
    Client {
        client_id: ClientId::generate(),
        account_id: AccountId::generate(),
        settings,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        secret_hash: None,
        self_registered: false,
        first_party: true,
        account_active: true,
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthMethod, ClientSettings, GrantType};

    fn settings() -> ClientSettings {
        let mut settings = ClientSettings::with_defaults("App".into(), false);
        settings.redirect_uris = vec!["https://app.example.com/callback".into()];
        settings
    }

    fn fields(settings: &ClientSettings) -> Vec<&'static str> {
        settings
            .validate()
            .into_iter()
            .map(|error| error.field)
            .collect()
    }

    #[test]
    fn defaults_with_a_redirect_uri_are_valid() {
        assert!(settings().validate().is_empty());
        let mut public = ClientSettings::with_defaults("SPA".into(), true);
        public.redirect_uris = vec!["http://localhost:3000/cb".into()];
        assert!(public.validate().is_empty(), "{:?}", public.validate());
        assert!(!public.grant_types.contains(&GrantType::ClientCredentials));
    }

    #[test]
    fn defaults_without_a_redirect_uri_are_valid_except_for_dynamic_registration() {
        for public in [false, true] {
            let s = ClientSettings::with_defaults("App".into(), public);
            assert!(s.redirect_uris.is_empty());
            assert!(s.validate().is_empty(), "{:?}", s.validate());
            assert_eq!(
                s.validate_dynamic_registration()
                    .into_iter()
                    .map(|error| error.field)
                    .collect::<Vec<_>>(),
                ["redirect_uris"]
            );
        }
        let mut s = settings();
        assert!(s.validate_dynamic_registration().is_empty());
        s.grant_types = vec![GrantType::ClientCredentials];
        s.redirect_uris.clear();
        assert!(s.validate_dynamic_registration().is_empty());
    }

    #[test]
    fn redirect_uris_must_be_absolute_https_or_loopback_and_normalized() {
        for (uri, ok) in [
            ("https://app.example.com/cb", true),
            ("http://127.0.0.1:8080/cb", true),
            ("http://[::1]/cb", true),
            ("http://localhost/cb", true),
            ("http://app.example.com/cb", false),
            ("https://app.example.com/cb#frag", false),
            ("/cb", false),
            ("https://app.example.com", false),
            ("https://app.example.com/", true),
            ("HTTPS://APP.example.com/cb", false),
            ("https://*.example.com/cb", false),
            ("https://app.example.com/*", false),
            ("https://app.example.com/cb?next=*", false),
        ] {
            let mut s = settings();
            s.redirect_uris = vec![uri.into()];
            assert_eq!(s.validate().is_empty(), ok, "{uri}: {:?}", s.validate());
        }
    }

    #[test]
    fn grants_must_fit_the_client_type() {
        let mut s = settings();
        s.token_endpoint_auth_method = AuthMethod::None;
        assert_eq!(fields(&s), ["grant_types"]);
        let mut s = settings();
        s.grant_types = vec![GrantType::RefreshToken];
        assert_eq!(fields(&s), ["grant_types"]);
        let mut s = settings();
        s.redirect_uris.clear();
        assert!(s.validate().is_empty(), "a redirect URI may come later");
        let mut s = settings();
        s.grant_types = vec![GrantType::ClientCredentials];
        s.redirect_uris.clear();
        assert!(s.validate().is_empty());
    }

    #[test]
    fn origins_lifetimes_and_scopes_are_checked() {
        let mut s = settings();
        s.allowed_origins = vec![
            "https://app.example.com".into(),
            "https://x.com/path".into(),
        ];
        s.access_token_ttl_seconds = 10;
        s.refresh_reuse_grace_seconds = 61;
        s.scopes.push("bad scope".into());
        assert_eq!(
            fields(&s),
            [
                "allowed_origins",
                "scopes",
                "access_token_ttl_seconds",
                "refresh_reuse_grace_seconds"
            ]
        );
    }
}
