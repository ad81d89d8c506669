//! `GET|POST /oauth2/logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//! A valid `id_token_hint` for the signed-in user ends the session at once; otherwise the
//! user confirms on a page. The user is sent on automatically only with a valid
//! `id_token_hint` of the client whose registered `post_logout_redirect_uri` it is (with its
//! `state`); without one the page shows a link instead, so no one can bounce a user through
//! Tessera to an address they merely name (API.md §5).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::login::require_csrf;
use crate::http::page::{HtmlForm, HtmlQuery, PageError, render};
use crate::ids::ClientId;
use crate::oauth::authorize::redirect_with;
use crate::oauth::client::Client;
use crate::profile;
use crate::session::LoginSession;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/logout", get(end_session).post(confirm_end_session))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogoutRequest {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "end_session.html")]
struct ConfirmPage<'a> {
    base: &'a str,
    csrf_token: String,
    email: Option<String>,
    client_name: Option<&'a str>,
    client_id: Option<&'a str>,
    id_token_hint: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    base: &'a str,
    client_name: Option<&'a str>,
    /// The registered address to go back to, as a link the user follows or not.
    return_to: Option<String>,
}

/// A checked logout request: the client it names and where the user may be sent after.
struct Checked {
    client: Option<Client>,
    redirect: Option<String>,
    hinted_user: Option<String>,
}

async fn end_session(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(request): HtmlQuery<LogoutRequest>,
) -> Result<Response, PageError> {
    let checked = check(&state, &request).await?;
    let Some(signed_in) = session.signed_in().await? else {
        return finish(&state, &checked, request.state.as_deref());
    };
    if checked.hinted_user.as_deref() == Some(signed_in.user_id.as_str()) {
        session.sign_out().await?;
        return finish(&state, &checked, request.state.as_deref());
    }
    let email = profile::find(&state.store, &signed_in.user_id)
        .await?
        .map(|user| user.email);
    render(
        StatusCode::OK,
        &ConfirmPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            email,
            client_name: checked
                .client
                .as_ref()
                .map(|client| client.settings.name.as_str()),
            client_id: checked
                .client
                .as_ref()
                .map(|client| client.client_id.as_str()),
            id_token_hint: request
                .id_token_hint
                .as_deref()
                .filter(|_| checked.hinted_user.is_some()),
            post_logout_redirect_uri: checked.redirect.as_deref(),
            state: request.state.as_deref(),
        },
    )
}

async fn confirm_end_session(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(request): HtmlForm<LogoutRequest>,
) -> Result<Response, PageError> {
    require_csrf(&session, &request.csrf_token).await?;
    let checked = check(&state, &request).await?;
    session.sign_out().await?;
    finish(&state, &checked, request.state.as_deref())
}

async fn check(state: &AppState, request: &LogoutRequest) -> Result<Checked, PageError> {
    let hint = match &request.id_token_hint {
        Some(token) => Some(state.keys.verify_id_token_hint(token).map_err(|_| {
            PageError::bad_request("The id_token_hint is not an ID token from this server.")
        })?),
        None => None,
    };
    if let (Some(hint), Some(client_id)) = (&hint, &request.client_id)
        && hint.aud != *client_id
    {
        return Err(PageError::bad_request(
            "client_id does not match the id_token_hint.",
        ));
    }
    let client_id = hint
        .as_ref()
        .map(|hint| hint.aud.as_str())
        .or(request.client_id.as_deref());
    let client = match client_id {
        Some(id) => Some(
            state
                .store
                .client(
                    &ClientId::parse(id)
                        .ok_or(PageError::bad_request("The client is not registered."))?,
                )
                .await?
                .ok_or(PageError::bad_request("The client is not registered."))?,
        ),
        None => None,
    };
    let redirect = match &request.post_logout_redirect_uri {
        Some(uri)
            if client
                .as_ref()
                .is_some_and(|client| client.has_post_logout_redirect_uri(uri)) =>
        {
            Some(uri.clone())
        }
        Some(_) => {
            return Err(PageError::bad_request(
                "The post_logout_redirect_uri is not registered for this client.",
            ));
        }
        None => None,
    };
    Ok(Checked {
        client,
        redirect,
        hinted_user: hint.map(|hint| hint.sub),
    })
}

fn finish(
    state: &AppState,
    checked: &Checked,
    client_state: Option<&str>,
) -> Result<Response, PageError> {
    let return_to = checked.redirect.as_deref().map(|uri| {
        let params: Vec<(&str, &str)> = client_state
            .map(|value| ("state", value))
            .into_iter()
            .collect();
        redirect_with(uri, &params)
    });
    // Only an ID token the client itself received vouches that the client asked.
    if let Some(uri) = &return_to
        && checked.hinted_user.is_some()
    {
        return Ok(Redirect::to(uri).into_response());
    }
    render(
        StatusCode::OK,
        &SignedOutPage {
            base: state.issuer.path(),
            client_name: checked
                .client
                .as_ref()
                .map(|client| client.settings.name.as_str()),
            return_to,
        },
    )
}
