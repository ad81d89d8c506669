//! `GET /oauth2/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validate, make sure the user
//! is signed in (or send them to log in and back), then issue a single-use code.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access;
use crate::clock;
use crate::http::login::login_url;
use crate::http::login::require_csrf;
use crate::http::page::{HtmlForm, PageError, render};
use crate::oauth::authorize::{self, AuthorizationRequest, Prompt, Rejection};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::token::CodeGrant;
use crate::secret;
use crate::session::{LoginSession, SignedIn};
use crate::state::AppState;
use crate::store::{accounts, authorization_codes, consents, memberships, users};

/// Codes live at most this long (the contract allows 60 s).
const CODE_LIFETIME_SECONDS: i64 = 60;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/consent", post(submit_consent))
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    base: &'a str,
    csrf_token: String,
    email: &'a str,
    client_name: &'a str,
    scopes: Vec<String>,
    authorize_query: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConsentForm {
    csrf_token: String,
    authorize_query: String,
    decision: String,
}

/// What the user reads for a scope on the consent page.
fn describe_scope(scope: &str) -> String {
    match scope {
        scope::OPENID => "Confirm who you are".to_owned(),
        scope::PROFILE => "See your name".to_owned(),
        scope::EMAIL => "See your email address".to_owned(),
        scope::OFFLINE_ACCESS => "Keep access while you are away".to_owned(),
        scope::MANAGE => "Manage your accounts, members and keys as you".to_owned(),
        other => format!("Access “{other}”"),
    }
}

/// The consent form's answer: allowing records the consent and resumes the authorization
/// request; denying returns `access_denied` to the client.
async fn submit_consent(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<ConsentForm>,
) -> Response {
    if let Err(error) = require_csrf(&session, &form.csrf_token).await {
        return error.into_response();
    }
    let result = async {
        let params = Params::parse(form.authorize_query.as_bytes());
        let client_id = authorize::client_id(&params)?;
        let client = state.store.client(&client_id).await?.ok_or_else(|| {
            Failure::Page(PageError::bad_request("The client is not registered."))
        })?;
        let request = authorize::validate(&params, &client)?;
        let Some(signed_in) = session.signed_in().await? else {
            return Ok(send_to_login(&state, &form.authorize_query, None));
        };
        if form.decision != "allow" {
            return Err(Failure::Redirect {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            });
        }
        consents::insert(
            state.store.pool(),
            &signed_in.user_id,
            &client.client_id,
            &request.scope.sorted(),
            clock::now(),
        )
        .await?;
        let back = format!(
            "{}/oauth2/authorize?{}",
            state.issuer.path(),
            form.authorize_query
        );
        Ok(Redirect::to(&back).into_response())
    }
    .await;
    respond(&state, result)
}

async fn authorize(
    State(state): State<AppState>,
    session: LoginSession,
    RawQuery(query): RawQuery,
) -> Response {
    let result = decide(&state, &session, &query.unwrap_or_default()).await;
    respond(&state, result)
}

fn respond(state: &AppState, result: Result<Response, Failure>) -> Response {
    match result {
        Ok(response) => response,
        Err(Failure::Page(error)) => error.into_response(),
        Err(Failure::Redirect {
            redirect_uri,
            state: client_state,
            error,
        }) => {
            let location = authorize::error_redirect(
                &redirect_uri,
                client_state.as_deref(),
                &error,
                state.issuer.as_str(),
            );
            Redirect::to(&location).into_response()
        }
    }
}

enum Failure {
    /// Shown to the user: the client or its redirect URI is not verified, or we failed.
    Page(PageError),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Failure {
        match rejection {
            Rejection::Page(message) => Failure::Page(PageError::bad_request(message)),
            Rejection::Redirect {
                redirect_uri,
                state,
                error,
            } => Failure::Redirect {
                redirect_uri,
                state,
                error,
            },
        }
    }
}

impl From<PageError> for Failure {
    fn from(error: PageError) -> Failure {
        Failure::Page(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        Failure::Page(error.into())
    }
}

impl From<crate::session::SessionError> for Failure {
    fn from(error: crate::session::SessionError) -> Failure {
        Failure::Page(error.into())
    }
}

async fn decide(
    state: &AppState,
    session: &LoginSession,
    query: &str,
) -> Result<Response, Failure> {
    let params = Params::parse(query.as_bytes());
    let client_id = authorize::client_id(&params)?;
    let client =
        state.store.client(&client_id).await?.ok_or_else(|| {
            Failure::Page(PageError::bad_request("The client is not registered."))
        })?;
    let request = authorize::validate(&params, &client)?;
    let to_client = |code: ErrorCode, description: &'static str| Failure::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error: OAuthError::new(code, description),
    };
    let now = clock::now();

    let signed_in = session.signed_in().await?;
    let user = match &signed_in {
        Some(signed_in) => users::find(state.store.pool(), &signed_in.user_id).await?,
        None => None,
    };
    let (Some(signed_in), Some(user)) = (signed_in, user) else {
        if request.prompt == Prompt::None {
            return Err(to_client(
                ErrorCode::LoginRequired,
                "the user is not signed in",
            ));
        }
        return Ok(send_to_login(state, query, None));
    };
    if must_authenticate_again(&request, &params, &signed_in, now) {
        if request.prompt == Prompt::None {
            return Err(to_client(
                ErrorCode::LoginRequired,
                "the user must sign in again",
            ));
        }
        // The session stays until a new login replaces it: a user who gives up is still
        // signed in, and the way back demands a login newer than now.
        return Ok(send_to_login(state, query, Some(clock::now_ms())));
    }
    if let Some(account_id) = &request.account_id
        && memberships::role_in_active_account(state.store.pool(), account_id, &user.id)
            .await?
            .is_none()
    {
        return Err(to_client(
            ErrorCode::AccessDenied,
            "the user is not a member of that account",
        ));
    }
    // API.md §4: no consent page for the operator's own clients, nor for a client an account
    // the user belongs to registered; every other client (another tenant's, any
    // self-registered one, which is whatever software held an API key) asks once per scope
    // set, whoever the user is.
    let trusted = client.first_party
        || (!client.self_registered
            && access::is_member_along(
                &accounts::lineage(state.store.pool(), &client.account_id, &user.id).await?,
            ));
    if !trusted {
        let consented = request.prompt != Prompt::Consent
            && consents::exists(
                state.store.pool(),
                &user.id,
                &client.client_id,
                &request.scope.sorted(),
            )
            .await?;
        if !consented {
            if request.prompt == Prompt::None {
                return Err(to_client(
                    ErrorCode::ConsentRequired,
                    "the user has not approved this client",
                ));
            }
            let page = ConsentPage {
                base: state.issuer.path(),
                csrf_token: session.csrf_token().await?,
                email: &user.email,
                client_name: &client.settings.name,
                scopes: request
                    .scope
                    .tokens()
                    .iter()
                    .map(|scope| describe_scope(scope))
                    .collect(),
                authorize_query: without_param(query, "prompt", Some("consent")),
            };
            return Ok(render(StatusCode::OK, &page)?);
        }
    }

    let code = secret::generate();
    let grant = CodeGrant {
        client_id: client.client_id.clone(),
        user_id: user.id.clone(),
        account_id: request.account_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: signed_in.auth_time,
        expires_at: now + CODE_LIFETIME_SECONDS,
    };
    authorization_codes::insert(state.store.pool(), &secret::hash(&code), &grant, now).await?;
    let mut response = vec![("code", code.as_str())];
    if let Some(client_state) = &request.state {
        response.push(("state", client_state));
    }
    response.push(("iss", state.issuer.as_str()));
    Ok(Redirect::to(&authorize::redirect_with(&request.redirect_uri, &response)).into_response())
}

/// Marks the way back from a forced login: the login must be later than this (unix ms).
const LOGIN_AFTER: &str = "tessera_login_after";

/// `prompt=login`, a session older than `max_age`, or one older than the forced login the
/// request came back from.
fn must_authenticate_again(
    request: &AuthorizationRequest,
    params: &Params,
    signed_in: &SignedIn,
    now: i64,
) -> bool {
    let login_after = params
        .get(LOGIN_AFTER)
        .ok()
        .flatten()
        .and_then(|text| text.parse::<i64>().ok());
    request.prompt == Prompt::Login
        || request
            .max_age
            .is_some_and(|max_age| now - signed_in.auth_time > max_age)
        || login_after.is_some_and(|after| signed_in.signed_in_at_ms <= after)
}

/// 303 to the login page, which comes back to this request once the user is signed in.
/// `prompt=login` and `max_age` are dropped from the way back, or the return would ask
/// again forever; with `login_after` the way back instead demands a login later than that,
/// so returning without signing in again gets nothing.
fn send_to_login(state: &AppState, query: &str, login_after: Option<i64>) -> Response {
    let mut back = without_param(
        &without_param(
            &without_param(query, "prompt", Some("login")),
            "max_age",
            None,
        ),
        LOGIN_AFTER,
        None,
    );
    if let Some(after) = login_after {
        back.push_str(&format!("&{LOGIN_AFTER}={after}"));
    }
    let return_to = format!("{}/oauth2/authorize?{back}", state.issuer.path());
    Redirect::to(&login_url(state.issuer.path(), &return_to)).into_response()
}

/// `query` without parameter `name` (only where it equals `value`, when given).
fn without_param(query: &str, name: &str, value: Option<&str>) -> String {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(key, current)| !(key == name && value.is_none_or(|value| value == current)))
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&kept)
        .finish()
}
