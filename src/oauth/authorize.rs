//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), checked one named step at
//! a time. Until the client and its redirect URI are verified, errors are shown to the user;
//! after that they are sent back to the client.

use url::Url;

use crate::ids::{AccountId, ClientId};
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::scope::Scope;

/// OIDC `prompt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Whatever the situation needs.
    Default,
    /// Never show a page: fail with `login_required` / `consent_required` instead.
    None,
    /// Authenticate again even with a live session.
    Login,
    /// Ask for consent again.
    Consent,
    /// Have the user pick the account the grant is for (API.md §11).
    SelectAccount,
}

/// A validated authorization request.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub account_id: Option<AccountId>,
    /// The account the picker preselects (`account_hint`); a malformed one is ignored, as a
    /// hint binds nothing.
    pub account_hint: Option<AccountId>,
    /// `acr_values` asks for `urn:tessera:acr:mfa`: a second factor now if the login had none
    /// (other values are voluntary and ignored, OIDC Core §3.1.2.1).
    pub requires_mfa: bool,
}

/// Why a request is refused, and so how to tell.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Unknown client or unregistered redirect URI: an error page, never a redirect.
    Page(String),
    /// Sent to the verified redirect URI with `error`, `state` and `iss`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Step 1: the client the request claims to come from.
pub fn client_id(params: &Params) -> Result<ClientId, Rejection> {
    let text = params
        .get("client_id")
        .map_err(|error| Rejection::Page(error.description.into_owned()))?
        .ok_or_else(|| Rejection::Page("The request has no client_id.".into()))?;
    ClientId::parse(text).ok_or_else(|| Rejection::Page("The client is not registered.".into()))
}

/// Steps 2 and on, once the client is loaded: the redirect URI must be registered exactly;
/// after that every problem goes back to the client.
pub fn validate(params: &Params, client: &Client) -> Result<AuthorizationRequest, Rejection> {
    let redirect_uri = params
        .get("redirect_uri")
        .map_err(|error| Rejection::Page(error.description.into_owned()))?
        .ok_or_else(|| Rejection::Page("The request has no redirect_uri.".into()))?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(Rejection::Page(
            "The redirect_uri is not registered for this client.".into(),
        ));
    }
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let fail = |error: OAuthError| Rejection::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error,
    };
    let checked = (|| {
        let response_type = params.require("response_type")?;
        if response_type != "code" {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client may not use the authorization code grant",
            ));
        }
        params.get("state")?;
        let scope = Scope::parse(params.get("scope")?.unwrap_or_default())
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "the scope is malformed"))?;
        if let Some(unknown) = scope
            .tokens()
            .iter()
            .find(|token| !client.settings.scopes.contains(token))
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("the client may not request scope {unknown}"),
            ));
        }
        let code_challenge = check_pkce(params, client)?;
        let prompt = match params.get("prompt")? {
            None => Prompt::Default,
            Some("none") => Prompt::None,
            Some("login") => Prompt::Login,
            Some("consent") => Prompt::Consent,
            Some("select_account") => Prompt::SelectAccount,
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "prompt must be none, login, consent or select_account",
                ));
            }
        };
        let max_age = params
            .get("max_age")?
            .map(|text| text.parse::<i64>().ok().filter(|age| *age >= 0))
            .map(|age| {
                age.ok_or_else(|| {
                    OAuthError::invalid_request("max_age must be a non-negative integer")
                })
            })
            .transpose()?;
        let account_id = params
            .get("account_id")?
            .map(|text| {
                AccountId::parse(text)
                    .ok_or_else(|| OAuthError::invalid_request("account_id is malformed"))
            })
            .transpose()?;
        let account_hint = params.get("account_hint")?.and_then(AccountId::parse);
        let requires_mfa = params.get("acr_values")?.is_some_and(|values| {
            values
                .split(' ')
                .any(|value| value == crate::oauth::claims::ACR_MFA)
        });
        let nonce = params.get("nonce")?.map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > 2048)
            || nonce.as_ref().is_some_and(|n| n.len() > 2048)
        {
            return Err(OAuthError::invalid_request(
                "state and nonce must be at most 2048 bytes",
            ));
        }
        Ok(AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope,
            state: state.clone(),
            nonce,
            code_challenge,
            prompt,
            max_age,
            account_id,
            account_hint,
            requires_mfa,
        })
    })();
    checked.map_err(fail)
}

/// PKCE: S256 only; required of public clients, optional (but checked) for confidential ones.
fn check_pkce(params: &Params, client: &Client) -> Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge")?;
    let method = params.get("code_challenge_method")?;
    match (challenge, method) {
        (None, None) if client.is_public() => Err(OAuthError::invalid_request(
            "public clients must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (Some(_), None | Some("plain")) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256; plain is not allowed",
        )),
        (Some(_), Some(method)) if method != "S256" => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (Some(challenge), Some(_)) if !pkce::is_valid_challenge(challenge) => Err(
            OAuthError::invalid_request("code_challenge must be 43 base64url characters"),
        ),
        (Some(challenge), Some(_)) => Ok(Some(challenge.to_owned())),
    }
}

/// `redirect_uri` with the response parameters appended to its query (RFC 6749 §4.1.2).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        // The URI exactly as registered: no dangling `?`.
        return redirect_uri.to_owned();
    }
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.into()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The error response for a rejected request, with `iss` (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_ref()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect_with(redirect_uri, &params)
}

#[cfg(test)]
mod tests {
    use super::{Prompt, Rejection, client_id, redirect_with, validate};

    use crate::oauth::client::{AuthMethod, Client};
    use crate::oauth::error::ErrorCode;
    use crate::oauth::params::Params;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(public: bool) -> Client {
        crate::oauth::client::sample(public)
    }

    fn params(client: &Client, extra: &str) -> Params {
        Params::parse(
            format!(
                "client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&state=xyz{extra}",
                client.client_id
            )
            .as_bytes(),
        )
    }

    fn redirected_error(result: Result<super::AuthorizationRequest, Rejection>) -> ErrorCode {
        match result {
            Err(Rejection::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("xyz"));
                error.code
            }
            other => unreachable!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_validates() {
        let client = client(true);
        let request = validate(
            &params(&client, &format!("&scope=openid%20email&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=login")),
            &client,
        )
        .unwrap();
        assert_eq!(request.scope.to_string(), "openid email");
        assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(request.prompt, Prompt::Login);
        assert_eq!(request.nonce.as_deref(), Some("n"));
    }

    #[test]
    fn unverified_clients_and_redirects_get_a_page_not_a_redirect() {
        assert!(matches!(
            client_id(&Params::parse(b"")),
            Err(Rejection::Page(_))
        ));
        assert!(matches!(
            client_id(&Params::parse(b"client_id=a&client_id=b")),
            Err(Rejection::Page(_))
        ));
        let client = client(false);
        let other = Params::parse(
            format!(
                "client_id={}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb&response_type=code",
                client.client_id
            )
            .as_bytes(),
        );
        assert!(matches!(validate(&other, &client), Err(Rejection::Page(_))));
        let prefix = Params::parse(
            format!("client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2Fextra&response_type=code", client.client_id)
                .as_bytes(),
        );
        assert!(matches!(
            validate(&prefix, &client),
            Err(Rejection::Page(_))
        ));
    }

    #[test]
    fn later_problems_are_redirected_with_state() {
        let public = client(true);
        assert_eq!(
            redirected_error(validate(&params(&public, ""), &public)),
            ErrorCode::InvalidRequest
        );
        let plain = format!("&code_challenge={CHALLENGE}&code_challenge_method=plain");
        assert_eq!(
            redirected_error(validate(&params(&public, &plain), &public)),
            ErrorCode::InvalidRequest
        );
        let confidential = client(false);
        let token = Params::parse(
            format!("client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=token&state=xyz", confidential.client_id)
                .as_bytes(),
        );
        assert_eq!(
            redirected_error(validate(&token, &confidential)),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            redirected_error(validate(
                &params(&confidential, "&scope=admin"),
                &confidential
            )),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirected_error(validate(
                &params(&confidential, "&nonce=a&nonce=b"),
                &confidential
            )),
            ErrorCode::InvalidRequest
        );
        assert!(validate(&params(&confidential, ""), &confidential).is_ok());
        let mut no_code = client(false);
        no_code.settings.token_endpoint_auth_method = AuthMethod::ClientSecretPost;
        no_code.settings.grant_types = vec![crate::oauth::client::GrantType::ClientCredentials];
        assert_eq!(
            redirected_error(validate(&params(&no_code, ""), &no_code)),
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn response_parameters_are_appended_to_the_redirect_query() {
        assert_eq!(
            redirect_with(
                "https://app.example.com/cb?x=1",
                &[("code", "a b"), ("state", "s")]
            ),
            "https://app.example.com/cb?x=1&code=a+b&state=s"
        );
    }
}
