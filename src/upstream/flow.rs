//! The authorization code flow against a provider, with the `oauth2` crate: the request
//! (state, nonce, PKCE S256) and the code's redemption, whose ID token `id_token::verify`
//! checks.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use std::future::Future;
use std::pin::Pin;

use oauth2::{
    AsyncHttpClient, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::discovery::{Directory, Discovered};
use super::id_token::{self, Expected, IdTokenError};
use super::{RelyingParty, UpstreamError};
use crate::identity::UpstreamUser;
use crate::secret;

/// The token response's OpenID Connect part.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type Client = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A login sent to the provider: where the browser goes, and what the callback must match
/// (kept in the browser's login session, never in the URL).
#[derive(Debug)]
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Builds the authorization request for `party`, answering at `redirect_uri`.
/// `login_hint` (OIDC Core §3.1.2.1) pre-fills the address at the provider.
pub async fn start(
    directory: &Directory,
    party: &RelyingParty<'_>,
    redirect_uri: &str,
    login_hint: Option<&str>,
) -> Result<Authorization, UpstreamError> {
    let discovered = directory.discover(party).await?;
    let client = client(party, &discovered, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = secret::generate();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(party.scopes.iter().map(|scope| Scope::new(scope.clone())))
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", &nonce);
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint);
    }
    let (url, state) = request.url();
    Ok(Authorization {
        url: url.into(),
        state: state.into_secret(),
        nonce,
        pkce_verifier: verifier.into_secret(),
    })
}

/// Redeems `code` with the login's PKCE verifier and checks the ID token that comes back
/// (fetching the provider's keys again once if it names a key not yet seen).
pub async fn finish(
    directory: &Directory,
    party: &RelyingParty<'_>,
    redirect_uri: &str,
    code: String,
    pkce_verifier: String,
    nonce: &str,
) -> Result<UpstreamUser, UpstreamError> {
    let discovered = directory.discover(party).await?;
    let client = client(party, &discovered, redirect_uri)?;
    let send = Sender {
        directory,
        guarded: party.guarded,
    };
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
        .request_async(&send)
        .await
        .map_err(|error| match error {
            RequestTokenError::Request(error) => error,
            RequestTokenError::ServerResponse(refusal) => UpstreamError::Invalid(format!(
                "the token endpoint refused the code: {}",
                refusal.error()
            )),
            error => UpstreamError::Invalid(format!("token endpoint: {error}")),
        })?;
    let id_token = response
        .extra_fields()
        .id_token
        .clone()
        .ok_or_else(|| UpstreamError::Invalid("the token response has no id_token".into()))?;
    let expected = Expected {
        issuer: party.issuer,
        client_id: party.client_id,
        nonce,
    };
    let verified = match id_token::verify(&id_token, &discovered.keys, expected) {
        Err(IdTokenError::UnknownKey) => {
            let refreshed = directory.refresh_keys(party, discovered).await?;
            id_token::verify(&id_token, &refreshed.keys, expected)
        }
        other => other,
    };
    verified.map_err(|error| UpstreamError::Invalid(format!("ID token: {error}")))
}

/// The token request's HTTP client for the `oauth2` crate: the directory's (its body limit
/// and address policy), boxed so the future is `Send` for every lifetime.
struct Sender<'a> {
    directory: &'a Directory,
    guarded: bool,
}

impl<'c> AsyncHttpClient<'c> for Sender<'_> {
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, UpstreamError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.directory.send(request, self.guarded))
    }
}

fn client(
    party: &RelyingParty<'_>,
    discovered: &Discovered,
    redirect_uri: &str,
) -> Result<Client, UpstreamError> {
    let invalid = |what: &str| UpstreamError::Invalid(format!("{what} is not a URL"));
    let metadata = &discovered.metadata;
    let auth_type = if metadata.secret_in_body() {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    };
    Ok(
        oauth2::Client::new(ClientId::new(party.client_id.to_owned()))
            .set_client_secret(ClientSecret::new(party.client_secret.to_owned()))
            .set_auth_uri(
                AuthUrl::new(metadata.authorization_endpoint.clone())
                    .map_err(|_| invalid("authorization_endpoint"))?,
            )
            .set_token_uri(
                TokenUrl::new(metadata.token_endpoint.clone())
                    .map_err(|_| invalid("token_endpoint"))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| invalid("redirect_uri"))?,
            )
            .set_auth_type(auth_type),
    )
}
