//! `POST /oauth2/register` (RFC 7591 dynamic client registration) and its management at
//! `/oauth2/register/{client_id}` (RFC 7592). Registration needs an initial access token: an
//! API key of the target account with role admin or higher; the client lands in that account,
//! marked self-registered so that its users see a consent page. Management needs the
//! registration access token handed out at registration (stored hashed).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_key::ApiKey;
use crate::audit::{Actor, Origin};
use crate::http::extract;
use crate::http::page::ClientIp;
use crate::manage::Error;
use crate::manage::clients::{self, NewClient};
use crate::oauth::client::{
    AccountSelection, AuthMethod, Client, ClientSettings, DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    DEFAULT_REFRESH_TOKEN_TTL_SECONDS, GrantType,
};
use crate::oauth::scope;
use crate::oauth::signing_alg::SigningAlg;
use crate::permission::Permission;
use crate::state::AppState;
use crate::validation::FieldError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/register", post(register_client))
        .route(
            "/oauth2/register/{client_id}",
            get(show_registration)
                .put(update_registration)
                .delete(delete_registration),
        )
}

/// An error of the registration endpoints: RFC 7591 §3.2.2 JSON, or an RFC 6750 challenge
/// for a missing, bad or insufficient bearer token.
#[derive(Debug)]
enum RegisterError {
    Metadata(&'static str, String),
    Unauthenticated,
    InvalidToken,
    InsufficientRole,
    Internal,
}

/// A failed use case, as RFC 7591 §3.2.2 says it (the rules a registration breaks) or as a
/// server error.
impl From<Error> for RegisterError {
    fn from(error: Error) -> RegisterError {
        match error {
            Error::Invalid(errors) => metadata_error(&errors),
            other => {
                tracing::error!(error = %other, "managing a registration failed");
                RegisterError::Internal
            }
        }
    }
}

impl IntoResponse for RegisterError {
    fn into_response(self) -> Response {
        let (status, error, description, challenge) = match self {
            RegisterError::Metadata(error, description) => {
                (StatusCode::BAD_REQUEST, error, description, None)
            }
            RegisterError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this request needs a bearer token".to_owned(),
                Some("Bearer"),
            ),
            RegisterError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the bearer token is invalid, expired or revoked".to_owned(),
                Some("Bearer error=\"invalid_token\""),
            ),
            RegisterError::InsufficientRole => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "registration needs an API key with the admin or owner role".to_owned(),
                Some("Bearer error=\"insufficient_scope\""),
            ),
            RegisterError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "an internal error occurred".to_owned(),
                None,
            ),
        };
        let mut response = (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Client metadata (RFC 7591 §2). Unknown fields are ignored, as §2 requires.
#[derive(Deserialize)]
struct Metadata {
    client_id: Option<String>,
    client_secret: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Tessera's own metadata (API.md §11): whether authorize has the user pick an account.
    account_selection: Option<String>,
    /// The algorithm of the client's ID tokens (OIDC Dynamic Client Registration §2).
    id_token_signed_response_alg: Option<String>,
    /// Tessera's own metadata (API.md §14): the algorithm of the client's access tokens.
    access_token_signing_alg: Option<String>,
}

fn invalid_metadata(description: impl Into<String>) -> RegisterError {
    RegisterError::Metadata("invalid_client_metadata", description.into())
}

impl Metadata {
    fn parse(body: &[u8]) -> Result<Metadata, RegisterError> {
        serde_json::from_slice(body).map_err(|error| invalid_metadata(error.to_string()))
    }

    /// The settings asked for, with RFC 7591 defaults; `manage::clients` validates them like a
    /// REST registration, except that a redirect-based grant needs its redirect URIs now
    /// (RFC 7591 §2).
    fn into_settings(self) -> Result<ClientSettings, RegisterError> {
        let method = match self.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(text) => AuthMethod::parse(text).ok_or_else(|| {
                invalid_metadata(format!("unsupported token_endpoint_auth_method {text}"))
            })?,
        };
        let grant_types = match self.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(names) => names
                .iter()
                .map(|name| {
                    GrantType::parse(name)
                        .ok_or_else(|| invalid_metadata(format!("unsupported grant type {name}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let response_types = self.response_types.unwrap_or_else(|| vec!["code".into()]);
        if response_types.iter().any(|t| t != "code") {
            return Err(invalid_metadata("only the code response type is supported"));
        }
        let wants_code = !response_types.is_empty();
        if wants_code != grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(invalid_metadata(
                "response_types code and grant_types authorization_code go together",
            ));
        }
        let account_selection = match self.account_selection.as_deref() {
            None => AccountSelection::None,
            Some(text) => AccountSelection::parse(text).ok_or_else(|| {
                invalid_metadata(format!(
                    "account_selection must be none, optional or required, not {text}"
                ))
            })?,
        };
        let signing_alg = |field: &str, value: Option<&str>| match value {
            None => Ok(None),
            Some(text) => SigningAlg::parse(text).map(Some).ok_or_else(|| {
                invalid_metadata(format!("{field} must be {}, not {text}", SigningAlg::NAMES))
            }),
        };
        let access_token_signing_alg = signing_alg(
            "access_token_signing_alg",
            self.access_token_signing_alg.as_deref(),
        )?;
        let id_token_signed_response_alg = signing_alg(
            "id_token_signed_response_alg",
            self.id_token_signed_response_alg.as_deref(),
        )?;
        let scopes = match self.scope {
            Some(text) => text.split_whitespace().map(str::to_owned).collect(),
            None => scope::REGISTERED_DEFAULT
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        Ok(ClientSettings {
            name: self
                .client_name
                .unwrap_or_else(|| "Dynamically registered client".into()),
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            allowed_origins: self.allowed_origins,
            grant_types,
            token_endpoint_auth_method: method,
            scopes,
            access_token_ttl_seconds: DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
            refresh_token_ttl_seconds: DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
            refresh_reuse_grace_seconds: 0,
            allowed_audiences: Vec::new(),
            account_selection,
            access_token_signing_alg,
            id_token_signed_response_alg,
        })
    }
}

/// RFC 7591 §3.2.2: the first broken rule's error code, every rule in the description.
fn metadata_error(errors: &[FieldError]) -> RegisterError {
    let code = errors.first().map_or("invalid_client_metadata", error_code);
    RegisterError::Metadata(
        code,
        errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// RFC 7591 §3.2.2: a bad redirect URI has an error code of its own.
fn error_code(error: &FieldError) -> &'static str {
    match error.field {
        "redirect_uris" | "post_logout_redirect_uris" => "invalid_redirect_uri",
        _ => "invalid_client_metadata",
    }
}

/// The registration as RFC 7591 §3.2.1 and RFC 7592 §3 answer it.
fn view(state: &AppState, client: &Client) -> Value {
    let s = &client.settings;
    let response_types: &[&str] = if client.allows_grant(GrantType::AuthorizationCode) {
        &["code"]
    } else {
        &[]
    };
    json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at.0,
        "client_name": s.name,
        "redirect_uris": s.redirect_uris,
        "post_logout_redirect_uris": s.post_logout_redirect_uris,
        "allowed_origins": s.allowed_origins,
        "grant_types": s.grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": s.token_endpoint_auth_method,
        "scope": s.scopes.join(" "),
        "account_selection": s.account_selection,
        "access_token_signing_alg": s.access_token_signing_alg,
        "id_token_signed_response_alg": s.id_token_signed_response_alg,
        "registration_client_uri": state
            .issuer
            .url(&format!("/oauth2/register/{}", client.client_id)),
    })
}

fn request_origin(headers: &HeaderMap, ClientIp(ip): ClientIp) -> (Option<String>, Option<String>) {
    let ip = (!ip.is_unspecified()).then(|| ip.to_string());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(512).collect());
    (ip, user_agent)
}

fn bearer(headers: &HeaderMap) -> Result<&str, RegisterError> {
    extract::bearer_token(headers)
        .map_err(|()| RegisterError::InvalidToken)?
        .ok_or(RegisterError::Unauthenticated)
}

/// RFC 7591 §3: the initial access token, an API key of the target account with the admin
/// role or higher.
struct InitialAccessToken(ApiKey);

impl FromRequestParts<AppState> for InitialAccessToken {
    type Rejection = RegisterError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<InitialAccessToken, RegisterError> {
        let token = bearer(&parts.headers)?;
        let (key, held) = crate::manage::caller::authenticate_api_key(&state.store, token)
            .await
            .map_err(Error::from)?
            .ok_or(RegisterError::InvalidToken)?;
        // Registering a client into the account is what `clients:write` allows.
        if !held.permissions.contains(Permission::ClientsWrite) {
            return Err(RegisterError::InsufficientRole);
        }
        Ok(InitialAccessToken(key))
    }
}

/// RFC 7592 §3: the client named in the path, if the registration access token is its own.
/// Anything else (unknown client, wrong token) is the same 401.
struct ManagedClient(Client);

impl FromRequestParts<AppState> for ManagedClient {
    type Rejection = RegisterError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ManagedClient, RegisterError> {
        let token = bearer(&parts.headers)?.to_owned();
        let Path(client_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| RegisterError::InvalidToken)?;
        clients::authenticate_registration(&state.store, &client_id, &token)
            .await?
            .map(ManagedClient)
            .ok_or(RegisterError::InvalidToken)
    }
}

/// Who changes a registration: the client itself, from this request.
fn client_origin<'a>(
    actor: &'a Actor,
    (ip, user_agent): &'a (Option<String>, Option<String>),
) -> Origin<'a> {
    Origin {
        actor,
        ip: ip.as_deref(),
        user_agent: user_agent.as_deref(),
    }
}

async fn register_client(
    State(state): State<AppState>,
    InitialAccessToken(key): InitialAccessToken,
    client_ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RegisterError> {
    let settings = Metadata::parse(&body)?.into_settings()?;
    let request = request_origin(&headers, client_ip);
    let actor = Actor::ApiKey(key.id.to_string());
    let new = NewClient {
        settings,
        first_party: false,
        self_registered: true,
    };
    let origin = client_origin(&actor, &request);
    let registered = clients::register(&state.store, &key.account_id, new, origin).await?;
    state
        .keys
        .publish(&state.store, registered.client.settings.signing_algs())
        .await;
    let registration_token = registered.registration_access_token.unwrap_or_default();
    let mut answer = view(&state, &registered.client);
    answer["registration_access_token"] = registration_token.into();
    if let Some(secret) = registered.secret {
        answer["client_secret"] = secret.into();
        answer["client_secret_expires_at"] = 0.into();
    }
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(answer),
    )
        .into_response())
}

async fn show_registration(
    State(state): State<AppState>,
    ManagedClient(client): ManagedClient,
) -> Result<Response, RegisterError> {
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(view(&state, &client)),
    )
        .into_response())
}

/// RFC 7592 §2.2: the body replaces the metadata as a whole; `client_id` must match and a
/// `client_secret`, when sent, must be the current one.
async fn update_registration(
    State(state): State<AppState>,
    ManagedClient(current): ManagedClient,
    client_ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RegisterError> {
    let metadata = Metadata::parse(&body)?;
    if metadata
        .client_id
        .as_deref()
        .is_some_and(|id| id != current.client_id.as_str())
    {
        return Err(invalid_metadata("client_id does not match"));
    }
    if let Some(sent) = metadata.client_secret.as_deref()
        && !clients::is_current_secret(&current, sent)
    {
        return Err(invalid_metadata("client_secret does not match"));
    }
    let settings = metadata.into_settings()?;
    let request = request_origin(&headers, client_ip);
    let actor = Actor::Client(current.client_id.to_string());
    let origin = client_origin(&actor, &request);
    let (updated, new_secret) =
        clients::update_registration(&state.store, &current, settings, origin)
            .await
            .map_err(|error| match error {
                // Deleted since the token was checked: the token manages nothing any more.
                Error::NotFound(_) => RegisterError::InvalidToken,
                other => other.into(),
            })?;
    state
        .keys
        .publish(&state.store, updated.settings.signing_algs())
        .await;
    let mut answer = view(&state, &updated);
    if let Some(secret) = new_secret {
        answer["client_secret"] = secret.into();
        answer["client_secret_expires_at"] = 0.into();
    }
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

async fn delete_registration(
    State(state): State<AppState>,
    ManagedClient(client): ManagedClient,
    client_ip: ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, RegisterError> {
    let request = request_origin(&headers, client_ip);
    let actor = Actor::Client(client.client_id.to_string());
    let origin = client_origin(&actor, &request);
    clients::delete_registration(&state.store, &client, origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
