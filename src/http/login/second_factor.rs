//! `/login/mfa` (API.md §10): the second step of a login, for a user with an active factor
//! who gave the right password. The session is signed in only once a TOTP code or a
//! recovery code passes; a wrong, reused or unknown code shows the form again with 401 and
//! counts toward the per-email login limit.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{login_url, page_error, require_csrf};
use crate::clock;
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render, safe_return_to};
use crate::manage::sessions;
use crate::manage::sign_in::{self, Visitor};
use crate::mfa;
use crate::session::LoginSession;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct SecondFactorPage<'a> {
    base: &'a str,
    csrf_token: String,
    return_to: String,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct ReturnTo {
    return_to: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeForm {
    code: String,
    csrf_token: String,
    return_to: Option<String>,
}

const WRONG_CODE: &str = "That code is not valid. Enter the current code from your app, \
                          or an unused recovery code.";

pub(super) async fn show_second_factor(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<ReturnTo>,
) -> Result<Response, PageError> {
    let base = state.issuer.path();
    let return_to = safe_return_to(base, query.return_to.as_deref());
    if session.second_factor_pending(clock::now()).await?.is_none() {
        return Ok(Redirect::to(&login_url(base, &return_to)).into_response());
    }
    let page = SecondFactorPage {
        base,
        csrf_token: session.csrf_token().await?,
        return_to,
        error: None,
    };
    render(StatusCode::OK, &page)
}

pub(super) async fn submit_second_factor(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let base = state.issuer.path();
    let return_to = safe_return_to(base, form.return_to.as_deref());
    let now = clock::now();
    let Some(user_id) = session.second_factor_pending(now).await? else {
        // Too late, or never asked: the password comes first.
        return Ok(Redirect::to(&login_url(base, &return_to)).into_response());
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    let visitor = Visitor { ip, user_agent };
    let kek = state.keys.key_encryption_key();
    let passed = sign_in::second_step(&state.store, kek, &user_id, &form.code, visitor, now)
        .await
        .map_err(page_error)?;
    match passed {
        Some((user, second)) => {
            let amr = mfa::amr(Some(second));
            let opened = sessions::open(&state.store, &user.id, amr, visitor, now).await?;
            session.sign_in(opened).await?;
            Ok(Redirect::to(&return_to).into_response())
        }
        None => {
            state.metrics.login_failed("second_factor");
            let page = SecondFactorPage {
                base,
                csrf_token: session.csrf_token().await?,
                return_to,
                error: Some(WRONG_CODE),
            };
            render(StatusCode::UNAUTHORIZED, &page)
        }
    }
}
