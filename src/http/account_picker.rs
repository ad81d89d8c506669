//! The account picker (API.md §11): `/oauth2/select-account?<the authorization request>`, where
//! `/oauth2/authorize` sends a signed-in user when the request or the client asks for an
//! account. One form posted to the page's own URL; the choice, checked against the accounts
//! listed, goes back to `/oauth2/authorize` as its `account_id`, which then runs every check.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::authorize::{Examined, Failure, back_with_account, examine, respond};
use crate::http::login::require_csrf;
use crate::http::page::{HtmlForm, render};
use crate::ids::AccountId;
use crate::oauth::decision::Decision;
use crate::session::LoginSession;
use crate::state::AppState;

/// The picker's path; its query is the authorization request's.
pub const PATH: &str = "/oauth2/select-account";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(show_account_picker).post(choose_account))
}

#[derive(Template)]
#[template(path = "select_account.html")]
struct AccountPickerPage<'a> {
    base: &'a str,
    /// The page's own URL, which the form posts to.
    action: String,
    csrf_token: String,
    email: &'a str,
    client_name: &'a str,
    accounts: Vec<Choice<'a>>,
    /// Offer "Continue without an account" (`prompt=select_account` on a client that does not
    /// require one).
    without_account: bool,
    error: Option<&'static str>,
}

/// One radio of the picker.
struct Choice<'a> {
    id: &'a AccountId,
    name: &'a str,
    role: &'a str,
    /// The ancestors' names, root first ("Acme › EMEA"); empty for a root account.
    path: String,
    checked: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccountChoice {
    csrf_token: String,
    /// Absent when nothing was picked; empty for "Continue without an account".
    account_id: Option<String>,
}

async fn show_account_picker(
    State(state): State<AppState>,
    session: LoginSession,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let result = async {
        let examined = examine(&state, &session, &query).await?;
        picker(&state, &session, &query, &examined, StatusCode::OK, None).await
    }
    .await;
    respond(&state, result)
}

/// The picker's form: the choice must be one of the accounts the page lists now (or none,
/// where the page offers that); anything else shows the page again.
async fn choose_account(
    State(state): State<AppState>,
    session: LoginSession,
    RawQuery(query): RawQuery,
    HtmlForm(form): HtmlForm<AccountChoice>,
) -> Response {
    if let Err(error) = require_csrf(&session, &form.csrf_token).await {
        return error.into_response();
    }
    let query = query.unwrap_or_default();
    let result = async {
        let examined = examine(&state, &session, &query).await?;
        let Decision::SelectAccount { without_account } = examined.decision else {
            return Ok(to_authorize(&state, &query));
        };
        let chosen = form.account_id.as_deref();
        if without_account && chosen == Some("") {
            return Ok(back_with_account(&state, &query, None));
        }
        let listed = chosen.and_then(AccountId::parse).filter(|account_id| {
            examined
                .accounts
                .iter()
                .any(|account| &account.id == account_id)
        });
        match listed {
            Some(account_id) => Ok(back_with_account(&state, &query, Some(&account_id))),
            None => {
                let error = Some("Choose one of the accounts listed.");
                picker(
                    &state,
                    &session,
                    &query,
                    &examined,
                    StatusCode::BAD_REQUEST,
                    error,
                )
                .await
            }
        }
    }
    .await;
    respond(&state, result)
}

/// The page, when the request still asks for an account; otherwise back to
/// `/oauth2/authorize`, which does what the request needs now (log in, consent, a code …).
async fn picker(
    state: &AppState,
    session: &LoginSession,
    query: &str,
    examined: &Examined,
    status: StatusCode,
    error: Option<&'static str>,
) -> Result<Response, Failure> {
    let (Decision::SelectAccount { without_account }, Some((user, _))) =
        (&examined.decision, &examined.signed_in)
    else {
        return Ok(to_authorize(state, query));
    };
    let hint = examined.request.account_hint.as_ref();
    let page = AccountPickerPage {
        base: state.issuer.path(),
        action: format!("{}{PATH}?{query}", state.issuer.path()),
        csrf_token: session.csrf_token().await?,
        email: &user.email,
        client_name: &examined.client.settings.name,
        accounts: examined
            .accounts
            .iter()
            .map(|account| Choice {
                id: &account.id,
                name: &account.name,
                role: account.role.as_str(),
                path: account.ancestors.join(" › "),
                checked: hint == Some(&account.id),
            })
            .collect(),
        without_account: *without_account,
        error,
    };
    Ok(render(status, &page)?)
}

fn to_authorize(state: &AppState, query: &str) -> Response {
    let location = format!("{}/oauth2/authorize?{query}", state.issuer.path());
    Redirect::to(&location).into_response()
}
