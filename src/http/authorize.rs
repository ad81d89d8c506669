//! `GET /oauth2/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validate, make sure the user
//! is signed in (or send them to log in and back), send them to the account picker or the
//! consent page when the decision says so, then issue a single-use code.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::authorization;
use crate::clock;
use crate::http::account_picker;
use crate::http::login::login_url;
use crate::http::login::require_csrf;
use crate::http::page::{HtmlForm, PageError, render};
use crate::ids::{AccountId, SessionId};
use crate::manage::factors;
use crate::mfa::FirstFactor;
use crate::oauth::authorize::{self, AuthorizationRequest, Rejection};
use crate::oauth::client::Client;
use crate::oauth::decision::{self, Authentication, Decision};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::rate_limit::LoginAttempt;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::store::accounts::Selectable;
use crate::user::User;

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
        authorization::record_consent(
            &state.store,
            &signed_in.user_id,
            &client.client_id,
            &request.scope,
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

pub(super) fn respond(state: &AppState, result: Result<Response, Failure>) -> Response {
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

pub(super) enum Failure {
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

/// A request read, checked and decided: what `/oauth2/authorize` and the account picker act on.
pub(super) struct Examined {
    pub client: Client,
    pub request: AuthorizationRequest,
    pub decision: Decision,
    /// The signed-in user and their login; `None` when nobody is (or the user is gone).
    pub signed_in: Option<(User, Authentication)>,
    pub session_id: Option<SessionId>,
    /// What the account picker lists (empty unless the request asks for an account).
    pub accounts: Vec<Selectable>,
    pub now: i64,
}

/// Parses and validates the request in `query`, reads what the decision needs, and decides.
pub(super) async fn examine(
    state: &AppState,
    session: &LoginSession,
    query: &str,
) -> Result<Examined, Failure> {
    let params = Params::parse(query.as_bytes());
    let client_id = authorize::client_id(&params)?;
    let client =
        state.store.client(&client_id).await?.ok_or_else(|| {
            Failure::Page(PageError::bad_request("The client is not registered."))
        })?;
    let request = authorize::validate(&params, &client)?;
    let now = clock::now();
    let signed_in = session.signed_in().await?;
    let session_id = signed_in
        .as_ref()
        .and_then(|signed_in| signed_in.session_id.clone());
    let login_after = params
        .get(LOGIN_AFTER)
        .ok()
        .flatten()
        .and_then(|text| text.parse::<i64>().ok());
    let situation = authorization::gather(
        &state.store,
        &client,
        &request,
        signed_in.as_ref().map(|signed_in| {
            (
                &signed_in.user_id,
                Authentication {
                    auth_time: signed_in.auth_time,
                    signed_in_at_ms: signed_in.signed_in_at_ms,
                    amr: signed_in.amr.clone(),
                },
            )
        }),
        login_after,
        now,
        clock::now_ms(),
    )
    .await?;
    let decision = decision::decide(&situation.facts);
    let accounts = situation.accounts;
    let signed_in = situation.user.zip(situation.facts.authentication);
    Ok(Examined {
        client,
        request,
        decision,
        signed_in,
        session_id,
        accounts,
        now,
    })
}

async fn decide(
    state: &AppState,
    session: &LoginSession,
    query: &str,
) -> Result<Response, Failure> {
    let Examined {
        client,
        request,
        decision,
        signed_in,
        session_id,
        now,
        ..
    } = examine(state, session, query).await?;
    match (decision, signed_in) {
        (Decision::Login { login_after }, _) => Ok(send_to_login(state, query, login_after)),
        (Decision::Deny { error, description }, _) => Err(to_client(&request, error, description)),
        (Decision::SelectAccount { .. }, Some(_)) => {
            let picker = format!("{}{}?{query}", state.issuer.path(), account_picker::PATH);
            Ok(Redirect::to(&picker).into_response())
        }
        (Decision::UseAccount(account_id), Some(_)) => {
            Ok(back_with_account(state, query, Some(&account_id)))
        }
        (Decision::Consent, Some((user, _))) => {
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
            Ok(render(StatusCode::OK, &page)?)
        }
        (Decision::IssueCode, Some((user, authentication))) => {
            let code = authorization::issue_code(
                &state.store,
                &request,
                &user.id,
                &authentication,
                session_id.as_ref(),
                now,
            )
            .await?;
            let mut response = vec![("code", code.as_str())];
            if let Some(client_state) = &request.state {
                response.push(("state", client_state));
            }
            response.push(("iss", state.issuer.as_str()));
            let location = authorize::redirect_with(&request.redirect_uri, &response);
            Ok(Redirect::to(&location).into_response())
        }
        (Decision::SecondFactor, Some((user, authentication))) => {
            let back = format!("{}/oauth2/authorize?{query}", state.issuer.path());
            let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            if !factors::required(&state.store, &user).await? {
                // Enrolment first (API.md §10): the security page, and back here once a
                // first code has proved the new factor.
                let next = format!(
                    "{}/account/security?return_to={encoded}",
                    state.issuer.path()
                );
                return Ok(Redirect::to(&next).into_response());
            }
            // Stepping up: signed in already, no password step counted.
            let attempt = LoginAttempt::default();
            let first = FirstFactor::of_session(&authentication.amr);
            session
                .await_second_factor(&user.id, attempt, first, now)
                .await?;
            let next = format!("{}/login/mfa?return_to={encoded}", state.issuer.path());
            Ok(Redirect::to(&next).into_response())
        }
        // Pages, step-up and codes are only ever decided for a signed-in user.
        (
            Decision::SelectAccount { .. }
            | Decision::UseAccount(_)
            | Decision::Consent
            | Decision::SecondFactor
            | Decision::IssueCode,
            None,
        ) => Ok(send_to_login(state, query, None)),
    }
}

/// 303 back to `/oauth2/authorize` with the account picked (`None`: none, a user-level
/// grant) in place of `prompt=select_account`, so that the picker does not come again; the
/// request then goes through every check as if it had named that `account_id` itself.
pub(super) fn back_with_account(
    state: &AppState,
    query: &str,
    account_id: Option<&AccountId>,
) -> Response {
    let mut back = without_param(
        &without_param(query, "prompt", Some("select_account")),
        "account_id",
        None,
    );
    if let Some(account_id) = account_id {
        back.push_str(&format!("&account_id={account_id}"));
    }
    let location = format!("{}/oauth2/authorize?{back}", state.issuer.path());
    Redirect::to(&location).into_response()
}

/// The decision's refusal, sent back to the client's verified redirect URI.
fn to_client(
    request: &AuthorizationRequest,
    code: ErrorCode,
    description: &'static str,
) -> Failure {
    Failure::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error: OAuthError::new(code, description),
    }
}

/// Marks the way back from a forced login: the login must be later than this (unix ms).
const LOGIN_AFTER: &str = "tessera_login_after";

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
