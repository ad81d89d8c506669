//! What OAuth endpoints read from a request: form bodies with the right media type, client
//! authentication (RFC 6749 §2.3.1: Basic or form, never both), and bearer tokens.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ids::ClientId;
use crate::oauth::client::{AuthMethod, Client};
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::secret;
use crate::store::Store;

/// The form parameters of a POST body, which must be `application/x-www-form-urlencoded`
/// (a `charset` parameter is allowed).
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::parse(body))
}

/// The client the request authenticates as, by the method it registered.
pub async fn authenticate_client(
    store: &Store,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, ClientAuthError> {
    let presented = presented_credentials(headers, params)?;
    let client_id = ClientId::parse(&presented.client_id).ok_or(ClientAuthError::Rejected)?;
    let client = store
        .client(&client_id)
        .await?
        .ok_or(ClientAuthError::Rejected)?;
    if client.settings.token_endpoint_auth_method != presented.method {
        return Err(ClientAuthError::Rejected);
    }
    match (&presented.secret, &client.secret_hash) {
        (None, None) if presented.method == AuthMethod::None => Ok(client),
        (Some(secret), Some(stored)) if secret::verify(secret, stored) => Ok(client),
        _ => Err(ClientAuthError::Rejected),
    }
}

#[derive(Debug)]
pub enum ClientAuthError {
    Malformed(OAuthError),
    Rejected,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ClientAuthError {
    fn from(error: sqlx::Error) -> ClientAuthError {
        ClientAuthError::Database(error)
    }
}

impl From<OAuthError> for ClientAuthError {
    fn from(error: OAuthError) -> ClientAuthError {
        ClientAuthError::Malformed(error)
    }
}

impl From<ClientAuthError> for crate::http::error::OAuthJsonError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Malformed(error) => error.into(),
            ClientAuthError::Rejected => OAuthError::invalid_client().into(),
            ClientAuthError::Database(error) => error.into(),
        }
    }
}

struct Presented {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

fn presented_credentials(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let form_id = params.get("client_id")?;
    let form_secret = params.get("client_secret")?;
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let (client_id, secret) = authorization
            .to_str()
            .ok()
            .and_then(parse_basic)
            .ok_or_else(OAuthError::invalid_client)?;
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        if form_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok(Presented {
            client_id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id = form_id.ok_or_else(OAuthError::invalid_client)?.to_owned();
    Ok(match form_secret {
        Some(secret) => Presented {
            client_id,
            secret: Some(secret.to_owned()),
            method: AuthMethod::ClientSecretPost,
        },
        None => Presented {
            client_id,
            secret: None,
            method: AuthMethod::None,
        },
    })
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub(crate) fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// The bearer token of `Authorization: Bearer …` (RFC 6750 §2.1): `None` when the header is
/// absent or names another scheme, `Err` when it says `Bearer` without a usable token.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    // Another scheme (`Basic`, `Token` …) is no bearer token at all: RFC 6750 §3.1 answers
    // it like a missing one, with a bare challenge.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    if token.trim().is_empty() {
        return Err(());
    }
    Ok(Some(token.trim()))
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials_are_form_url_decoded_after_base64() {
        // "cli_1:a%2Bb%3Ac" → id cli_1, secret "a+b:c".
        assert_eq!(
            parse_basic("Basic Y2xpXzE6YSUyQmIlM0Fj"),
            Some(("cli_1".into(), "a+b:c".into()))
        );
        // "id:s+t" → '+' is a space in form encoding.
        assert_eq!(
            parse_basic("basic aWQ6cyt0"),
            Some(("id".into(), "s t".into()))
        );
        assert_eq!(parse_basic("Bearer Y2xpXzE6cw=="), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
