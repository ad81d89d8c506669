//! Self-service sign-up (off with `TESSERA_SIGNUP=false`) and the emailed link that
//! confirms the new user's address. A new user is signed in at once, unverified.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{MessagePage, ReturnTo, TokenQuery, form_error, page_error, require_csrf};
use crate::clock;
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render, safe_return_to};
use crate::manage::Error;
use crate::manage::sessions;
use crate::manage::sign_in::{self, SignUp, Visitor};
use crate::mfa;
use crate::session::LoginSession;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SignupForm {
    email: String,
    password: String,
    name: String,
    csrf_token: String,
    return_to: Option<String>,
    invite: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    base: &'a str,
    csrf_token: String,
    return_to: String,
    name: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// The invitation this sign-up answers: the email field is locked to its address.
    invite: Option<&'a str>,
}

pub(super) async fn show_signup(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<ReturnTo>,
) -> Result<Response, PageError> {
    // With sign-up off, an invitation still lets its own address sign up (API.md §4).
    let invitation = sign_in::signup_opening(
        &state.store,
        state.config.signup_enabled,
        query.invite.as_deref(),
        clock::now(),
    )
    .await
    .map_err(page_error)?;
    let base = state.issuer.path();
    let email = match &invitation {
        Some(invitation) => invitation.email.as_str(),
        None => query.login_hint.as_deref().unwrap_or_default(),
    };
    render(
        StatusCode::OK,
        &SignupPage {
            base,
            csrf_token: session.csrf_token().await?,
            return_to: safe_return_to(base, query.return_to.as_deref()),
            name: "",
            email,
            error: None,
            invite: invitation
                .is_some()
                .then_some(query.invite.as_deref())
                .flatten(),
        },
    )
}

pub(super) async fn submit_signup(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<SignupForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let base = state.issuer.path();
    let return_to = safe_return_to(base, form.return_to.as_deref());
    let now = clock::now();
    let signup = SignUp {
        email: form.email.clone(),
        password: form.password,
        name: form.name.clone(),
        invite: form.invite.clone(),
    };
    let signed_up = sign_in::sign_up(
        &state.store,
        &state.hasher,
        &state.issuer,
        state.config.signup_enabled,
        signup,
        ip,
        now,
    )
    .await;
    let (status, message) = match signed_up {
        Ok(user) => {
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|value| value.to_str().ok());
            let visitor = Visitor { ip, user_agent };
            let opened = sessions::open(
                &state.store,
                &user.id,
                mfa::amr(&mfa::FirstFactor::Password, None),
                visitor,
                now,
            )
            .await?;
            session.sign_in(opened).await?;
            return Ok(Redirect::to(&return_to).into_response());
        }
        Err(error @ Error::Conflict { .. }) => (StatusCode::CONFLICT, error.to_string()),
        Err(error) => (StatusCode::BAD_REQUEST, form_error(error)?),
    };
    // Refused for a reason the form can fix: the invitation, if any, was valid.
    render(
        status,
        &SignupPage {
            base,
            csrf_token: session.csrf_token().await?,
            return_to,
            name: form.name.trim(),
            email: form.email.trim(),
            error: Some(&message),
            invite: form.invite.as_deref().filter(|token| !token.is_empty()),
        },
    )
}

/// `GET /verify-email?token=`: the link from the sign-up email.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    HtmlQuery(query): HtmlQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.as_deref().unwrap_or_default();
    match sign_in::verify_email(&state.store, token, clock::now()).await {
        Ok(()) => {}
        Err(Error::NotFound(_)) => {
            return Err(PageError::bad_request(
                "This link is not valid. It may have expired or been used already.",
            ));
        }
        Err(error) => return Err(page_error(error)),
    }
    render(
        StatusCode::OK,
        &MessagePage {
            base: state.issuer.path(),
            heading: "Email address confirmed",
            message: "Thank you: your email address is confirmed.",
            link: Some(("/", "Continue")),
        },
    )
}
