//! Signing in through another OpenID provider (API.md §12): the operator's providers at
//! `/login/idp/{id}` and `/login/idp/{id}/callback`, accounts' SSO connections at
//! `/login/sso/{id}` and `/login/sso/{id}/callback`. The start sends the browser to the
//! provider with state, nonce and PKCE kept in its login session; the callback takes them
//! back (once), redeems the code, checks the ID token (`upstream::flow`) and signs the
//! upstream user in as `manage::identities` decides. A provider's failure is a page that
//! says so in a sentence; its detail goes to the log only.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{login_url, signed_in, visitor};
use crate::clock;
use crate::http::page::{ClientIp, HtmlQuery, PageError, home, safe_return_to};
use crate::manage::factors::RECENT_LOGIN_SECONDS;
use crate::manage::identities::{self, Arrival, Arrived};
use crate::manage::sso_connections;
use crate::mfa::{self, FirstFactor};
use crate::rate_limit::LoginAttempt;
use crate::session::{LoginSession, PendingUpstream};
use crate::sso_connection::SsoConnection;
use crate::state::AppState;
use crate::upstream::{self, RelyingParty, UpstreamError};

#[derive(Deserialize)]
pub(super) struct StartQuery {
    return_to: Option<String>,
    /// Connect the provider to the signed-in user instead of signing in.
    #[serde(default)]
    connect: bool,
    /// The address typed on the login page, passed on to the provider (OIDC `login_hint`).
    login_hint: Option<String>,
}

/// What a provider sends back (RFC 6749 §4.1.2; errors §4.1.2.1).
#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// One provider a login goes through: its session key, its name for the pages, the
/// relying-party settings, its callback's path, the SSO connection it is, if one, and how
/// its upstream users are let in.
struct Route {
    key: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    callback_path: String,
    connection: Option<SsoConnection>,
    /// Whether a new user may be made for an upstream user.
    may_create: bool,
    /// What `user.login` says of how the user came.
    details: serde_json::Value,
}

impl Route {
    fn party(&self) -> RelyingParty<'_> {
        RelyingParty {
            issuer: &self.issuer,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            scopes: &self.scopes,
            // An account admin chose this provider: the address policy applies.
            guarded: self.connection.is_some(),
        }
    }
}

fn operator_route(state: &AppState, id: &str) -> Result<Route, PageError> {
    let provider = state
        .config
        .identity_providers
        .iter()
        .find(|provider| provider.id == id)
        .ok_or(PageError::NotFound)?;
    Ok(Route {
        key: format!("idp:{}", provider.id),
        name: provider.name.clone(),
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        client_secret: provider.client_secret.clone(),
        scopes: provider.scopes.clone(),
        callback_path: format!("/login/idp/{}/callback", provider.id),
        connection: None,
        may_create: state.config.signup_enabled,
        details: json!({ "method": "idp", "provider": provider.id }),
    })
}

async fn connection_route(state: &AppState, id: &str) -> Result<Route, PageError> {
    let kek = state.keys.key_encryption_key();
    let (connection, client_secret) = sso_connections::for_sign_in(&state.store, kek, id)
        .await
        .map_err(super::page_error)?;
    Ok(Route {
        key: format!("sso:{}", connection.id),
        name: connection.name.clone(),
        issuer: connection.issuer.clone(),
        client_id: connection.client_id.clone(),
        client_secret,
        scopes: upstream::default_scopes(),
        callback_path: format!("/login/sso/{}/callback", connection.id),
        details: json!({
            "method": "sso",
            "connection_id": connection.id,
            "account_id": connection.account_id,
        }),
        // The account vouches for its verified domains' people: `jit` makes users even with
        // sign-up closed.
        may_create: state.config.signup_enabled || connection.jit,
        connection: Some(connection),
    })
}

pub(super) async fn start_operator(
    State(state): State<AppState>,
    session: LoginSession,
    Path(id): Path<String>,
    HtmlQuery(query): HtmlQuery<StartQuery>,
) -> Result<Response, PageError> {
    let route = operator_route(&state, &id)?;
    start(&state, &session, &route, query).await
}

pub(super) async fn operator_callback(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlQuery(query): HtmlQuery<CallbackQuery>,
) -> Result<Response, PageError> {
    let route = operator_route(&state, &id)?;
    callback(&state, &session, ip, &headers, &route, query).await
}

pub(super) async fn start_connection(
    State(state): State<AppState>,
    session: LoginSession,
    Path(id): Path<String>,
    HtmlQuery(query): HtmlQuery<StartQuery>,
) -> Result<Response, PageError> {
    let route = connection_route(&state, &id).await?;
    start(&state, &session, &route, query).await
}

pub(super) async fn connection_callback(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlQuery(query): HtmlQuery<CallbackQuery>,
) -> Result<Response, PageError> {
    let route = connection_route(&state, &id).await?;
    callback(&state, &session, ip, &headers, &route, query).await
}

/// Sends the browser to the provider, remembering what its callback must bring back.
async fn start(
    state: &AppState,
    session: &LoginSession,
    route: &Route,
    query: StartQuery,
) -> Result<Response, PageError> {
    let base = state.issuer.path();
    let now = clock::now();
    let signed_in = session.signed_in().await?;
    let default_return = if query.connect {
        format!("{base}/account/security")
    } else {
        home(base)
    };
    let return_to = match query.return_to.as_deref() {
        Some(_) => safe_return_to(base, query.return_to.as_deref()),
        None => default_return,
    };
    let connecting = if query.connect {
        let Some(signed_in) = signed_in else {
            let again = format!(
                "{base}/login/{}?connect=true",
                route.key.replacen(':', "/", 1)
            );
            return Ok(Redirect::to(&login_url(base, &again)).into_response());
        };
        if now - signed_in.auth_time > RECENT_LOGIN_SECONDS {
            return Err(PageError::BadRequest {
                status: StatusCode::FORBIDDEN,
                message: "Connecting a provider needs a sign-in within the last 10 minutes: sign out and in again first."
                    .into(),
            });
        }
        Some(signed_in.user_id)
    } else {
        None
    };
    let redirect_uri = state.issuer.url(&route.callback_path);
    let hint = query.login_hint.as_deref();
    let authorization =
        upstream::flow::start(&state.upstreams, &route.party(), &redirect_uri, hint)
            .await
            .map_err(|error| failed(route, &error))?;
    session
        .await_upstream(PendingUpstream {
            provider: route.key.clone(),
            state: authorization.state,
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            return_to,
            connecting,
            started_at: now,
        })
        .await?;
    Ok(Redirect::to(&authorization.url).into_response())
}

/// Ends a login at the provider's callback.
async fn callback(
    state: &AppState,
    session: &LoginSession,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    route: &Route,
    query: CallbackQuery,
) -> Result<Response, PageError> {
    let now = clock::now();
    let pending = match query.state.as_deref() {
        Some(state) => session.take_upstream(state, now).await?,
        None => None,
    };
    let Some(pending) = pending.filter(|pending| pending.provider == route.key) else {
        return Err(PageError::bad_request(
            "This sign-in is not valid any more: it was used already, took too long, or began in another browser. Start again from the sign-in page.",
        ));
    };
    if let Some(error) = query.error {
        return Err(failed(route, &UpstreamError::Denied(error)));
    }
    let Some(code) = query.code else {
        return Err(failed(route, &UpstreamError::Invalid("no code".into())));
    };
    let redirect_uri = state.issuer.url(&route.callback_path);
    let upstream_user = upstream::flow::finish(
        &state.upstreams,
        &route.party(),
        &redirect_uri,
        code,
        pending.pkce_verifier,
        &pending.nonce,
    )
    .await
    .map_err(|error| failed(route, &error))?;
    let visitor = visitor(ip, headers);
    let provider = route.key.split_once(':').map_or("", |(_, id)| id);
    let arrival = Arrival {
        provider,
        upstream: upstream_user,
        may_create: route.may_create,
        connecting: pending.connecting,
        details: route.details.clone(),
        visitor,
        connection: route.connection.as_ref(),
    };
    let return_to = pending.return_to;
    match identities::arrive(&state.store, &arrival, now)
        .await
        .map_err(super::page_error)?
    {
        Arrived::SignedIn(user) => {
            let first = FirstFactor::Federated {
                details: arrival.details.clone(),
            };
            let amr = mfa::amr(&first, None);
            signed_in(state, session, &user, amr, visitor, now, &return_to).await
        }
        Arrived::SecondFactorNeeded(user) => {
            let first = FirstFactor::Federated {
                details: arrival.details,
            };
            session
                .await_second_factor(&user.id, LoginAttempt::default(), first, now)
                .await?;
            let encoded: String =
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
            let next = format!("{}/login/mfa?return_to={encoded}", state.issuer.path());
            Ok(Redirect::to(&next).into_response())
        }
        Arrived::Connected(_) => Ok(Redirect::to(&return_to).into_response()),
        Arrived::Refused(refusal) => Err(PageError::BadRequest {
            status: StatusCode::FORBIDDEN,
            message: refusal.message().into(),
        }),
    }
}

/// The page for a provider's failure, with the detail logged.
fn failed(route: &Route, error: &UpstreamError) -> PageError {
    tracing::warn!(provider = %route.key, issuer = %route.issuer, %error, "sign-in through a provider failed");
    let (status, message) = match error {
        UpstreamError::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "{} could not be reached. Try again in a moment.",
                route.name
            ),
        ),
        UpstreamError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            format!(
                "{} answered in a way this server does not accept, so you are not signed in. Try again, or tell the operator of this server.",
                route.name
            ),
        ),
        UpstreamError::Denied(_) => (
            StatusCode::BAD_REQUEST,
            format!("Signing in with {} was cancelled or refused.", route.name),
        ),
    };
    PageError::BadRequest {
        status,
        message: message.into(),
    }
}
