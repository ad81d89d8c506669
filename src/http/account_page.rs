//! `/account`: a signed-in user's self-service page (name, email address, password, the
//! accounts it belongs to, pending invitations, deleting the user) and `/confirm-email`,
//! the link mailed to a new address. Every rule is `profile`'s, as for `/v1/me`; forms post
//! the session's CSRF token and work without JavaScript.

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::audit::Actor;
use crate::audit::Origin;
use crate::clock;
use crate::http::login::{MessagePage, login_url, require_csrf};
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render};
use crate::manage::sessions;
use crate::manage::sign_in::Visitor;
use crate::profile::{self, Edit, EmailChange, ProfileError, Proof};
use crate::role::RoleId;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::store::Position;
use crate::user::User;

/// The page lists at most this many memberships and invitations.
const LISTED: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(show_account))
        .route("/account/name", post(change_name))
        .route("/account/email", post(change_email))
        .route("/account/password", post(change_password))
        .route("/account/delete", post(delete_user))
        .route("/confirm-email", get(confirm_email))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    base: &'a str,
    csrf_token: String,
    email: &'a str,
    email_verified: bool,
    name: &'a str,
    /// (account name, role)
    memberships: Vec<(String, RoleId)>,
    /// (account name, role, expiry)
    invitations: Vec<(String, RoleId, String)>,
    notice: Option<&'a str>,
    error: Option<String>,
}

/// `?done=` after a change, to say it worked.
#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NameForm {
    csrf_token: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailForm {
    csrf_token: String,
    email: String,
    current_password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    csrf_token: String,
    current_password: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeleteForm {
    csrf_token: String,
    current_password: String,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The signed-in user, or the login page's redirect that comes back to `/account`.
async fn signed_in_user(state: &AppState, session: &LoginSession) -> Result<User, Response> {
    let user = match session.signed_in().await {
        Ok(Some(signed_in)) => profile::find(&state.store, &signed_in.user_id).await,
        Ok(None) => Ok(None),
        Err(error) => return Err(PageError::from(error).into_response()),
    };
    match user {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            let base = state.issuer.path();
            Err(Redirect::to(&login_url(base, &format!("{base}/account"))).into_response())
        }
        Err(error) => Err(PageError::from(error).into_response()),
    }
}

async fn show_account(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<Done>,
) -> Result<Response, Response> {
    let user = signed_in_user(&state, &session).await?;
    let notice = match query.done.as_deref() {
        Some("name") => Some("Your name is saved."),
        Some("email") => Some(
            "We sent a link to your new address. Your email address changes when you follow it.",
        ),
        Some("password") => {
            Some("Your password is changed. Every other session and token has ended.")
        }
        _ => None,
    };
    page(&state, &session, &user, StatusCode::OK, notice, None)
        .await
        .map_err(IntoResponse::into_response)
}

/// The account page for `user`, with a notice or an error above the forms.
async fn page(
    state: &AppState,
    session: &LoginSession,
    user: &User,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let memberships = profile::accounts(&state.store, &user.id, None, &Position::start(), LISTED)
        .await?
        .into_iter()
        .map(|(account, role, _)| (account.name, role))
        .collect();
    let now = clock::now();
    let invitations =
        profile::invitations(&state.store, &user.email, now, &Position::start(), LISTED)
            .await?
            .into_iter()
            .map(|(invitation, account_name)| {
                (
                    account_name,
                    invitation.role,
                    invitation.expires_at.for_people(),
                )
            })
            .collect();
    render(
        status,
        &AccountPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            email: &user.email,
            email_verified: user.email_verified,
            name: user.name.as_deref().unwrap_or_default(),
            memberships,
            invitations,
            notice,
            error,
        },
    )
}

/// After a change: back to the page, saying what changed (post/redirect/get).
fn done(state: &AppState, what: &str) -> Response {
    Redirect::to(&format!("{}/account?done={what}", state.issuer.path())).into_response()
}

/// A refused change: the page again with the reason, or an error page for what the page
/// cannot help with (rate limits, a busy server, failures).
async fn refused(
    state: &AppState,
    session: &LoginSession,
    user: &User,
    error: ProfileError,
) -> Result<Response, PageError> {
    let (status, message) = match error {
        ProfileError::Invalid { field, message } => {
            (StatusCode::BAD_REQUEST, sentence(field, message))
        }
        ProfileError::EmailTaken => (
            StatusCode::CONFLICT,
            "Another user has this email address.".to_owned(),
        ),
        ProfileError::LastOwner(account_ids) => {
            let names = profile::account_names(&state.store, &account_ids).await?;
            (
                StatusCode::CONFLICT,
                format!(
                    "You are the last owner of {}. Make someone else owner, or delete the account, first.",
                    names.join(", ")
                ),
            )
        }
        ProfileError::RecentLoginRequired => (
            StatusCode::BAD_REQUEST,
            "Enter your current password.".to_owned(),
        ),
        ProfileError::InvalidLink => (
            StatusCode::BAD_REQUEST,
            "This link is not valid.".to_owned(),
        ),
        ProfileError::RateLimited { retry_after } => {
            return Err(PageError::TooManyRequests { retry_after });
        }
        ProfileError::Password(error) => return Err(error.into()),
        ProfileError::Database(error) => return Err(error.into()),
    };
    page(state, session, user, status, None, Some(message)).await
}

/// `profile`'s field messages as sentences for people.
fn sentence(field: &str, message: &'static str) -> String {
    match (field, message) {
        ("current_password", "is not the current password") => {
            "The current password is not correct.".to_owned()
        }
        ("current_password", _) => "Enter your current password.".to_owned(),
        ("name", _) => "Enter a name of at most 200 characters.".to_owned(),
        ("email", "is already your address") => "This is already your email address.".to_owned(),
        ("email", _) => "Enter a valid email address.".to_owned(),
        // The password policy speaks in sentences already.
        _ => message.to_owned(),
    }
}

/// Everything a form handler needs once the CSRF token and the session are checked.
struct Visit {
    user: User,
    /// How this session signed in: a new password keeps it signed in the same way.
    amr: Vec<String>,
    actor: Actor,
    ip_text: String,
    user_agent: Option<String>,
}

impl Visit {
    fn audit(&self) -> Origin<'_> {
        Origin {
            actor: &self.actor,
            ip: Some(&self.ip_text),
            user_agent: self.user_agent.as_deref(),
        }
    }

    /// The visitor's change to its name or password (`profile::update`).
    async fn edit(&self, state: &AppState, edit: Edit, ip: IpAddr) -> Result<User, ProfileError> {
        let user = self.user.clone();
        profile::update(&state.store, &state.hasher, user, edit, ip, self.audit()).await
    }
}

async fn visit(
    state: &AppState,
    session: &LoginSession,
    csrf_token: &str,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<Visit, Response> {
    require_csrf(session, csrf_token)
        .await
        .map_err(IntoResponse::into_response)?;
    let user = signed_in_user(state, session).await?;
    let amr = match session.signed_in().await {
        Ok(signed_in) => signed_in.map(|signed_in| signed_in.amr).unwrap_or_default(),
        Err(error) => return Err(PageError::from(error).into_response()),
    };
    Ok(Visit {
        actor: Actor::User(user.id.to_string()),
        user,
        amr,
        ip_text: ip.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(512).collect()),
    })
}

async fn change_name(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<NameForm>,
) -> Result<Response, Response> {
    let visit = visit(&state, &session, &form.csrf_token, ip, &headers).await?;
    let edit = Edit {
        name: Some(Some(form.name)),
        ..Edit::default()
    };
    match visit.edit(&state, edit, ip).await {
        Ok(_) => Ok(done(&state, "name")),
        Err(error) => refused(&state, &session, &visit.user, error)
            .await
            .map_err(IntoResponse::into_response),
    }
}

async fn change_email(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<EmailForm>,
) -> Result<Response, Response> {
    let visit = visit(&state, &session, &form.csrf_token, ip, &headers).await?;
    let request = EmailChange {
        email: form.email,
        current_password: form.current_password,
    };
    let requested = profile::request_email_change(
        &state.store,
        &state.hasher,
        &state.issuer,
        &visit.user,
        request,
        ip,
        visit.audit(),
    )
    .await;
    match requested {
        Ok(_) => Ok(done(&state, "email")),
        Err(error) => refused(&state, &session, &visit.user, error)
            .await
            .map_err(IntoResponse::into_response),
    }
}

async fn change_password(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<PasswordForm>,
) -> Result<Response, Response> {
    let visit = visit(&state, &session, &form.csrf_token, ip, &headers).await?;
    let edit = Edit {
        password: Some(form.password),
        current_password: Some(form.current_password),
        ..Edit::default()
    };
    match visit.edit(&state, edit, ip).await {
        Ok(user) => {
            // The new password ended every session, this one too; the person who just
            // proved the current password stays signed in here, under a new session id.
            let visitor = Visitor {
                ip,
                user_agent: visit.user_agent.as_deref(),
            };
            let opened = sessions::open(&state.store, &user.id, visit.amr, visitor, clock::now())
                .await
                .map_err(|error| PageError::from(error).into_response())?;
            session
                .sign_in(opened)
                .await
                .map_err(|error| PageError::from(error).into_response())?;
            Ok(done(&state, "password"))
        }
        Err(error) => refused(&state, &session, &visit.user, error)
            .await
            .map_err(IntoResponse::into_response),
    }
}

/// Deleting asks for the current password every time: the page's proof of a recent login
/// (`DELETE /v1/me` accepts a login within 10 minutes instead).
async fn delete_user(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<DeleteForm>,
) -> Result<Response, Response> {
    let visit = visit(&state, &session, &form.csrf_token, ip, &headers).await?;
    let proof = if form.current_password.is_empty() {
        Proof::Nothing
    } else {
        Proof::CurrentPassword(form.current_password)
    };
    let deleted = profile::delete(
        &state.store,
        &state.hasher,
        &visit.user,
        proof,
        ip,
        visit.audit(),
    )
    .await;
    if let Err(error) = deleted {
        return refused(&state, &session, &visit.user, error)
            .await
            .map_err(IntoResponse::into_response);
    }
    session
        .sign_out()
        .await
        .map_err(|error| PageError::from(error).into_response())?;
    render(
        StatusCode::OK,
        &MessagePage {
            base: state.issuer.path(),
            heading: "Your user is deleted",
            message: "Your user, its memberships and its sessions are gone.",
            link: None,
        },
    )
    .map_err(IntoResponse::into_response)
}

/// `GET /confirm-email?token=`: the link mailed to a new address.
async fn confirm_email(
    State(state): State<AppState>,
    HtmlQuery(query): HtmlQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    let user = match profile::confirm_email_change(&state.store, &token).await {
        Ok(user) => user,
        Err(ProfileError::EmailTaken) => {
            return Err(PageError::BadRequest {
                status: StatusCode::CONFLICT,
                message: "Another user has taken this email address meanwhile.".into(),
            });
        }
        Err(ProfileError::Database(error)) => return Err(error.into()),
        Err(_) => {
            return Err(PageError::bad_request(
                "This link is not valid. It may have expired, been used already, or been replaced by a newer one.",
            ));
        }
    };
    let message = format!("Your email address is now {}.", user.email);
    render(
        StatusCode::OK,
        &MessagePage {
            base: state.issuer.path(),
            heading: "Email address changed",
            message: &message,
            link: Some(("/account", "Go to your account")),
        },
    )
}
