//! Passkeys on the login pages (API.md §10): "Sign in with a passkey" on `/login` (a
//! password-less sign-in with a discoverable credential) and the passkey button of
//! `/login/mfa` (the second step after the password). Each is two posts of a small script
//! (`/assets/passkeys.js`): the options, as JSON, then the form with the browser's answer in
//! its `credential` field. Both carry the session's CSRF token; the ceremony's state waits
//! under a secret of this login session. A refused passkey shows its page again with 401.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

use super::second_factor::{Owed, SecondFactorPage, owed};
use super::{LoginPage, page_error, require_csrf, signed_in, visitor};
use crate::clock;
use crate::http::page::{ClientIp, HtmlForm, PageError, render, safe_return_to};
use crate::manage::passkeys;
use crate::metrics::LoginFailure;
use crate::mfa::{self, SecondFactor};
use crate::session::LoginSession;
use crate::state::AppState;

/// Said when a passkey does not sign anyone in: not registered here, or not a valid answer.
const PASSKEY_REFUSED: &str = "That passkey did not sign you in. Try again, or use your \
                               password.";
const SECOND_FACTOR_REFUSED: &str = "That passkey was not accepted. Try again, or enter a \
                                     code.";

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct OptionsForm {
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CredentialForm {
    csrf_token: String,
    /// `PublicKeyCredential.toJSON()` of the browser's answer.
    credential: String,
    return_to: Option<String>,
}

/// The options of a password-less sign-in.
pub(super) async fn sign_in_options(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<OptionsForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let ceremony = session.passkey_ceremony().await?;
    let options =
        passkeys::sign_in_options(&state.store, state.relying_party(), &ceremony, clock::now())
            .await
            .map_err(page_error)?;
    Ok(Json(options).into_response())
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CredentialForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let return_to = safe_return_to(state.issuer.path(), form.return_to.as_deref());
    let now = clock::now();
    let visitor = visitor(ip, &headers);
    let signed = match credential(&form.credential) {
        Some(credential) => {
            let ceremony = session.passkey_ceremony().await?;
            let rp = state.relying_party();
            passkeys::sign_in(&state.store, rp, &ceremony, &credential, visitor, now)
                .await
                .map_err(page_error)?
        }
        None => None,
    };
    if let Some(user) = signed {
        let amr = mfa::passkey_amr();
        return signed_in(&state, &session, &user, amr, visitor, now, &return_to).await;
    }
    state.metrics.login_failed(LoginFailure::Passkey);
    let csrf_token = session.csrf_token().await?;
    let page = LoginPage::new(&state, csrf_token, return_to, "", Some(PASSKEY_REFUSED));
    render(StatusCode::UNAUTHORIZED, &page)
}

/// The options of the second step with one of the pending user's passkeys.
pub(super) async fn second_factor_options(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<OptionsForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let Some(due) = session.second_factor_pending(clock::now()).await? else {
        return Err(PageError::bad_request(
            "The password step is too long ago: sign in again.",
        ));
    };
    let ceremony = session.passkey_ceremony().await?;
    let rp = state.relying_party();
    let user_id = &due.user_id;
    let options =
        passkeys::second_factor_options(&state.store, rp, user_id, &ceremony, clock::now())
            .await
            .map_err(page_error)?;
    Ok(Json(options).into_response())
}

pub(super) async fn second_factor(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CredentialForm>,
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
    let user_id = due.user_id.clone();
    let first = due.first.clone();
    let passed = match credential(&form.credential) {
        Some(credential) => {
            let ceremony = session.passkey_ceremony().await?;
            let rp = state.relying_party();
            passkeys::prove_second_factor(
                &state.store,
                rp,
                due,
                &ceremony,
                &credential,
                visitor,
                now,
            )
            .await
            .map_err(page_error)?
        }
        None => None,
    };
    if let Some(user) = passed {
        let amr = mfa::amr(&first, Some(SecondFactor::Passkey));
        return signed_in(&state, &session, &user, amr, visitor, now, &return_to).await;
    }
    state.metrics.login_failed(LoginFailure::SecondFactor);
    let page = SecondFactorPage::new(
        &state,
        &session,
        &user_id,
        return_to,
        Some(SECOND_FACTOR_REFUSED),
    );
    render(StatusCode::UNAUTHORIZED, &page.await?)
}

/// The browser's answer, if the field holds one.
fn credential(json: &str) -> Option<PublicKeyCredential> {
    serde_json::from_str(json).ok()
}
