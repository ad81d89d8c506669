//! `/login/mfa` (API.md §10): the second step of a login, for a user with an active factor
//! who gave the right password. The session is signed in only once a TOTP code or a
//! recovery code passes; a wrong, reused or unknown code shows the form again with 401 and
//! counts toward the per-email login limit.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{login_url, page_error, require_csrf, signed_in, visitor};
use crate::clock;
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render, safe_return_to};
use crate::ids::UserId;
use crate::manage::factors;
use crate::manage::sign_in;
use crate::manage::sign_in::SecondStepDue;
use crate::metrics::LoginFailure;
use crate::mfa;
use crate::session::LoginSession;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login_mfa.html")]
pub(super) struct SecondFactorPage<'a> {
    base: &'a str,
    csrf_token: String,
    return_to: String,
    error: Option<&'a str>,
    /// Whether the page offers the user's passkey (where JavaScript runs).
    passkey: bool,
}

impl<'a> SecondFactorPage<'a> {
    /// The page for `user_id`, saying `error` if any.
    pub(super) async fn new(
        state: &'a AppState,
        session: &LoginSession,
        user_id: &UserId,
        return_to: String,
        error: Option<&'a str>,
    ) -> Result<SecondFactorPage<'a>, PageError> {
        let passkey =
            state.passkeys.is_some() && factors::has_passkey(&state.store, user_id).await?;
        Ok(SecondFactorPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            return_to,
            error,
            passkey,
        })
    }
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

/// Who a post to the second step is for.
pub(super) enum Owed {
    /// This login owes a second factor; the browser goes on to the return path after it.
    By(SecondStepDue, String),
    /// Nobody (too late, or never asked): the password step comes first.
    PasswordFirst(Response),
}

/// The start of every form of the second step (the code, the passkey): the CSRF token must
/// match, and the password step must have been passed moments ago.
pub(super) async fn owed(
    state: &AppState,
    session: &LoginSession,
    csrf_token: &str,
    return_to: Option<&str>,
    now: i64,
) -> Result<Owed, PageError> {
    require_csrf(session, csrf_token).await?;
    let base = state.issuer.path();
    let return_to = safe_return_to(base, return_to);
    Ok(match session.second_factor_pending(now).await? {
        Some(due) => Owed::By(due, return_to),
        None => Owed::PasswordFirst(Redirect::to(&login_url(base, &return_to)).into_response()),
    })
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
    let Some(due) = session.second_factor_pending(clock::now()).await? else {
        return Ok(Redirect::to(&login_url(base, &return_to)).into_response());
    };
    let page = SecondFactorPage::new(&state, &session, &due.user_id, return_to, None);
    render(StatusCode::OK, &page.await?)
}

pub(super) async fn submit_second_factor(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Result<Response, PageError> {
    let now = clock::now();
    let (due, return_to) = match owed(
        &state,
        &session,
        &form.csrf_token,
        form.return_to.as_deref(),
        now,
    )
    .await?
    {
        Owed::By(due, return_to) => (due, return_to),
        Owed::PasswordFirst(redirect) => return Ok(redirect),
    };
    let visitor = visitor(ip, &headers);
    let kek = state.keys.key_encryption_key();
    let user_id = due.user_id.clone();
    let first = due.first.clone();
    let passed = sign_in::second_step(&state.store, kek, due, &form.code, visitor, now)
        .await
        .map_err(page_error)?;
    match passed {
        Some((user, second)) => {
            let amr = mfa::amr(&first, Some(second));
            signed_in(&state, &session, &user, amr, visitor, now, &return_to).await
        }
        None => {
            state.metrics.login_failed(LoginFailure::SecondFactor);
            let page =
                SecondFactorPage::new(&state, &session, &user_id, return_to, Some(WRONG_CODE));
            render(StatusCode::UNAUTHORIZED, &page.await?)
        }
    }
}
