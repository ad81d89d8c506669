//! Forgotten passwords: mail a single-use reset link (answering the same whether or not the
//! address has an account), then let its holder choose a new password within 30 minutes.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{MessagePage, TokenQuery, form_error, require_csrf};
use crate::clock;
use crate::http::page::{HtmlForm, HtmlQuery, PageError, render};
use crate::manage::Error;
use crate::manage::sign_in;
use crate::session::LoginSession;
use crate::state::AppState;

const INVALID_LINK: &str = "This password reset link is not valid. It may have expired or been used already; ask for a new one.";

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ForgotPasswordForm {
    email: String,
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ResetPasswordForm {
    token: String,
    password: String,
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPasswordPage<'a> {
    base: &'a str,
    csrf_token: String,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPasswordPage<'a> {
    base: &'a str,
    csrf_token: String,
    token: &'a str,
    error: Option<&'a str>,
}

pub(super) async fn show_forgot_password(
    State(state): State<AppState>,
    session: LoginSession,
) -> Result<Response, PageError> {
    render(
        StatusCode::OK,
        &ForgotPasswordPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            email: "",
            error: None,
        },
    )
}

pub(super) async fn submit_forgot_password(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<ForgotPasswordForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let base = state.issuer.path();
    if let Err(error) = sign_in::request_password_reset(&state.store, &state.issuer, &form.email) {
        return render(
            StatusCode::BAD_REQUEST,
            &ForgotPasswordPage {
                base,
                csrf_token: session.csrf_token().await?,
                email: form.email.trim(),
                error: Some(&form_error(error)?),
            },
        );
    }
    render(
        StatusCode::OK,
        &MessagePage {
            base,
            heading: "Check your email",
            message: "If an account exists for this address, we have sent it a link to choose a new password. The link works once, for 30 minutes.",
            link: Some(("/login", "Back to sign in")),
        },
    )
}

pub(super) async fn show_reset_password(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    if !sign_in::reset_link_is_usable(&state.store, &token, clock::now()).await? {
        return Err(PageError::bad_request(INVALID_LINK));
    }
    render(
        StatusCode::OK,
        &ResetPasswordPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            token: &token,
            error: None,
        },
    )
}

pub(super) async fn submit_reset_password(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<ResetPasswordForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let reset = sign_in::reset_password(
        &state.store,
        &state.hasher,
        &form.token,
        form.password,
        clock::now(),
    )
    .await;
    match reset {
        Ok(()) => {}
        Err(Error::NotFound(_)) => return Err(PageError::bad_request(INVALID_LINK)),
        Err(error) => {
            return render(
                StatusCode::BAD_REQUEST,
                &ResetPasswordPage {
                    base: state.issuer.path(),
                    csrf_token: session.csrf_token().await?,
                    token: &form.token,
                    error: Some(&form_error(error)?),
                },
            );
        }
    }
    render(
        StatusCode::OK,
        &MessagePage {
            base: state.issuer.path(),
            heading: "Password changed",
            message: "Your new password is set. Sign in with it.",
            link: Some(("/login", "Sign in")),
        },
    )
}
