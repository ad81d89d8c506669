//! Self-service sign-up (off with `TESSERA_SIGNUP=false`) and the emailed link that
//! confirms the new user's address. A new user is signed in at once, unverified.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{MessagePage, ReturnTo, TokenQuery, require_csrf};
use crate::audit::{Action, Actor, Origin};
use crate::clock;
use crate::email_address::EmailAddress;
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render, safe_return_to};
use crate::invitation::{Invitation, InvitationStatus};
use crate::mailer;
use crate::manage::invites;
use crate::password;
use crate::rate_limit;
use crate::secret;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, users};
use crate::user::User;

/// How long the verification link works.
const VERIFICATION_SECONDS: i64 = 7 * 24 * 60 * 60;
const MAX_NAME_CHARS: usize = 200;

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

/// The pending invitation behind `token`, when sign-up goes through one; an invitation that
/// is unknown, answered or expired opens nothing.
async fn invitation(
    state: &AppState,
    token: Option<&str>,
) -> Result<Option<Invitation>, PageError> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(None);
    };
    let invitation = invites::find(&state.store, token)
        .await?
        .filter(|invitation| invitation.status_at(clock::now()) == InvitationStatus::Pending)
        .ok_or(PageError::BadRequest {
            status: StatusCode::GONE,
            message: "This invitation is no longer valid. Ask for a new one.".into(),
        })?;
    Ok(Some(invitation))
}

pub(super) async fn show_signup(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<ReturnTo>,
) -> Result<Response, PageError> {
    // With sign-up off, an invitation still lets its own address sign up (API.md §4).
    let invitation = invitation(&state, query.invite.as_deref()).await?;
    if !state.config.signup_enabled && invitation.is_none() {
        return Err(PageError::NotFound);
    }
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
    HtmlForm(form): HtmlForm<SignupForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let invitation = invitation(&state, form.invite.as_deref()).await?;
    if !state.config.signup_enabled && invitation.is_none() {
        return Err(PageError::NotFound);
    }
    // The invitation opens sign-up for its own address only.
    if let Some(invitation) = &invitation
        && !invitation.is_addressed_to(&form.email)
    {
        return Err(PageError::BadRequest {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "This invitation is for {}: sign up with that address.",
                invitation.email
            )
            .into(),
        });
    }
    let invite = invitation
        .is_some()
        .then_some(form.invite.as_deref())
        .flatten();
    let base = state.issuer.path();
    let return_to = safe_return_to(base, form.return_to.as_deref());
    let name = form.name.trim();
    let again = |status: StatusCode, error: &'static str, csrf_token: String| {
        render(
            status,
            &SignupPage {
                base,
                csrf_token,
                return_to: return_to.clone(),
                name,
                email: form.email.trim(),
                error: Some(error),
                invite,
            },
        )
    };
    let Some(email) = EmailAddress::parse(&form.email) else {
        let csrf = session.csrf_token().await?;
        return again(
            StatusCode::BAD_REQUEST,
            "Enter a valid email address.",
            csrf,
        );
    };
    if name.chars().count() > MAX_NAME_CHARS {
        let csrf = session.csrf_token().await?;
        return again(StatusCode::BAD_REQUEST, "Enter a shorter name.", csrf);
    }
    if let Err(reason) = password::check_strength(&form.password, email.as_str()) {
        let csrf = session.csrf_token().await?;
        return again(StatusCode::BAD_REQUEST, reason, csrf);
    }

    let now = clock::now();
    rate_limit::begin_signup(&state.store, ip, now)
        .await?
        .map_err(|limited| PageError::TooManyRequests {
            retry_after: limited.retry_after,
        })?;
    let password_hash = state.hasher.hash(form.password).await?;
    let user = User::new(
        email,
        (!name.is_empty()).then(|| name.to_owned()),
        Some(password_hash),
        now,
    );
    let token = secret::generate();
    let link = state.issuer.url(&format!("/verify-email?token={token}"));
    let mut change = state.store.change().await?;
    match users::insert(&mut *change, &user).await {
        Ok(()) => {}
        Err(error) if store::is_unique_violation(&error) => {
            drop(change);
            let csrf = session.csrf_token().await?;
            return again(
                StatusCode::CONFLICT,
                "An account with this email address exists already. Sign in, or reset its password.",
                csrf,
            );
        }
        Err(error) => return Err(error.into()),
    }
    user_tokens::insert(
        &mut *change,
        &secret::hash(&token),
        &user.id,
        Purpose::EmailVerification,
        now,
        now + VERIFICATION_SECONDS,
    )
    .await?;
    change
        .queue_email(&mailer::email_verification(&user.email, &link), now)
        .await?;
    let actor = Actor::User(user.id.to_string());
    let origin = Origin {
        actor: &actor,
        ip: None,
        user_agent: None,
    };
    let details = json!({ "via": "signup" });
    let event = origin.event(None, Action::UserCreated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    session.sign_in(&user.id, now).await?;
    Ok(Redirect::to(&return_to).into_response())
}

/// `GET /verify-email?token=`: the link from the sign-up email.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    HtmlQuery(query): HtmlQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let token_hash = secret::hash(query.token.as_deref().unwrap_or_default());
    let now = clock::now();
    let mut change = state.store.change().await?;
    let Some(user_id) =
        user_tokens::consume(&mut *change, &token_hash, Purpose::EmailVerification, now).await?
    else {
        return Err(PageError::bad_request(
            "This link is not valid. It may have expired or been used already.",
        ));
    };
    users::mark_email_verified(&mut *change, &user_id, now).await?;
    let actor = Actor::User(user_id.to_string());
    let origin = Origin {
        actor: &actor,
        ip: None,
        user_agent: None,
    };
    let details = json!({ "fields": ["email_verified"] });
    let event = origin.event(None, Action::UserUpdated, "user", user_id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
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
