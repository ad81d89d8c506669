//! Forgotten passwords: mail a single-use reset link (answering the same whether or not the
//! address has an account), then let its holder choose a new password within 30 minutes.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{MessagePage, TokenQuery, require_csrf};
use crate::audit::{Action, Actor, Origin};
use crate::clock;
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::http::page::{HtmlForm, HtmlQuery, PageError, render};
use crate::ids::UserId;
use crate::mailer;
use crate::password;
use crate::rate_limit;
use crate::secret;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::store::user_tokens::{self, Purpose};
use crate::store::users;
use crate::store::{Store, Unaudited};

/// How long a reset link works.
const RESET_SECONDS: i64 = 30 * 60;

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
    let Some(email) = EmailAddress::parse(&form.email) else {
        return render(
            StatusCode::BAD_REQUEST,
            &ForgotPasswordPage {
                base,
                csrf_token: session.csrf_token().await?,
                email: form.email.trim(),
                error: Some("Enter a valid email address."),
            },
        );
    };
    // Answered before anything depends on the address: finding its user, counting the
    // request, creating the link and queueing the mail all happen in a task of their own, so
    // the answer and the time it takes are the same whether or not an account exists. (A
    // task cut short by a shutdown loses one mail; the person can ask again.)
    let store = state.store.clone();
    let issuer = state.issuer.clone();
    tokio::spawn(async move {
        if let Err(error) = mail_reset_link(&store, &issuer, &email, clock::now()).await {
            tracing::warn!(%error, "could not mail a password reset link");
        }
    });
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

/// Mails a reset link to `email` if it has an account and has not had too many links lately.
async fn mail_reset_link(
    store: &Store,
    issuer: &Issuer,
    email: &EmailAddress,
    now: i64,
) -> Result<(), sqlx::Error> {
    let allowed = rate_limit::allow_reset_email(store, email.as_str(), now).await?;
    let Some(user) = users::find_by_email(store.pool(), email.as_str()).await? else {
        return Ok(());
    };
    if !allowed {
        return Ok(());
    }
    let token = secret::generate();
    let link = issuer.url(&format!("/reset-password?token={token}"));
    let mut change = store.change().await?;
    user_tokens::insert(
        &mut *change,
        &secret::hash(&token),
        &user.id,
        Purpose::PasswordReset,
        now,
        now + RESET_SECONDS,
    )
    .await?;
    change
        .queue_email(&mailer::password_reset(&user.email, &link), now)
        .await?;
    change.commit_unaudited(Unaudited::SignIn).await
}

/// The mailed links this page serves: a password reset, and the first password of a user
/// created without one (`admin::mail_set_password_link`).
const LINK_PURPOSES: [Purpose; 2] = [Purpose::PasswordReset, Purpose::SetPassword];

/// The user and purpose of a usable link, without using it up.
async fn usable_link(
    state: &AppState,
    token_hash: &str,
    now: i64,
) -> Result<Option<(UserId, Purpose)>, sqlx::Error> {
    for purpose in LINK_PURPOSES {
        if let Some(user_id) =
            user_tokens::find_usable(state.store.pool(), token_hash, purpose, now).await?
        {
            return Ok(Some((user_id, purpose)));
        }
    }
    Ok(None)
}

pub(super) async fn show_reset_password(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    let usable = usable_link(&state, &secret::hash(&token), clock::now()).await?;
    if usable.is_none() {
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
    let token_hash = secret::hash(&form.token);
    let now = clock::now();
    let (user_id, purpose) = usable_link(&state, &token_hash, now)
        .await?
        .ok_or(PageError::bad_request(INVALID_LINK))?;
    let user = users::find(state.store.pool(), &user_id)
        .await?
        .ok_or(PageError::bad_request(INVALID_LINK))?;
    if let Err(reason) = password::check_strength(&form.password, &user.email) {
        return render(
            StatusCode::BAD_REQUEST,
            &ResetPasswordPage {
                base: state.issuer.path(),
                csrf_token: session.csrf_token().await?,
                token: &form.token,
                error: Some(reason),
            },
        );
    }
    let password_hash = state.hasher.hash(form.password).await?;

    let mut change = state.store.change().await?;
    // The check above was a courtesy; this conditional update is what makes the link
    // single-use, also against a concurrent request with the same link.
    if user_tokens::consume(&mut *change, &token_hash, purpose, now)
        .await?
        .is_none()
    {
        return Err(PageError::bad_request(INVALID_LINK));
    }
    users::set_password_hash(&mut *change, &user.id, &password_hash, now).await?;
    // The link arrived by mail, which proves the address; other links and every session
    // (possibly an attacker's) end with the old password.
    users::mark_email_verified(&mut *change, &user.id, now).await?;
    for purpose in LINK_PURPOSES {
        user_tokens::consume_all(&mut *change, &user.id, purpose, now).await?;
    }
    credentials::revoke_all(&mut change, &user.id, now).await?;
    let actor = Actor::User(user.id.to_string());
    let origin = Origin {
        actor: &actor,
        ip: None,
        user_agent: None,
    };
    let details = json!({ "fields": ["password"], "via": "reset_link" });
    let event = origin.event(None, Action::UserUpdated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
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
