//! `GET /invites/{token}`: the page an emailed invitation link opens. It names the account
//! and the role; a signed-in invitee accepts or declines there, anyone else is walked through
//! sign-in or sign-up (email pre-filled) and back.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::audit::{Actor, Origin};
use crate::http::login::{MessagePage, login_url, require_csrf};
use crate::http::page::{ClientIp, HtmlForm, PageError, render};
use crate::manage::invites::Decision;
use crate::manage::{self, invites};
use crate::session::LoginSession;
use crate::state::AppState;
use crate::user::User;

pub fn routes() -> Router<AppState> {
    Router::new().route("/invites/{token}", get(show_invite).post(answer_invite))
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    base: &'a str,
    token: &'a str,
    account_name: &'a str,
    role: &'a str,
    invitee: &'a str,
    /// Who sent it: a name and address, or "An administrator" when the inviter is gone.
    inviter: String,
    expires: String,
    /// Present when the signed-in invitee may answer.
    csrf_token: Option<String>,
    /// Why the signed-in user cannot answer.
    problem: Option<String>,
    login_href: String,
    /// Sign-up through the invitation, open even with `TESSERA_SIGNUP=false`.
    signup_href: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnswerForm {
    csrf_token: String,
    decision: String,
}

async fn show_invite(
    State(state): State<AppState>,
    session: LoginSession,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let base = state.issuer.path();
    let signed_in = session.signed_in().await?;
    let user_id = signed_in.as_ref().map(|signed_in| &signed_in.user_id);
    let invites::Preview {
        invitation,
        account_name,
        inviter,
        user,
    } = invites::preview(&state.store, &token, user_id)
        .await
        .map_err(page_error)?;
    let inviter = match inviter {
        Some(User {
            name: Some(name),
            email,
            ..
        }) => format!("{name} ({email})"),
        Some(User { email, .. }) => email,
        None => "An administrator".to_owned(),
    };
    let here = format!("{base}/invites/{token}");
    let hint: String = url::form_urlencoded::byte_serialize(invitation.email.as_bytes()).collect();
    let (csrf_token, problem) = match &user {
        Some(user) if invitation.is_addressed_to(&user.email) => {
            (Some(session.csrf_token().await?), None)
        }
        Some(user) => (
            None,
            Some(format!(
                "You are signed in as {}, but the invitation is for {}.",
                user.email, invitation.email
            )),
        ),
        None => (None, None),
    };
    render(
        StatusCode::OK,
        &InvitePage {
            base,
            token: &token,
            account_name: &account_name,
            role: invitation.role.as_str(),
            invitee: &invitation.email,
            inviter,
            expires: invitation.expires_at.for_people(),
            csrf_token,
            problem,
            login_href: format!("{}&login_hint={hint}", login_url(base, &here)),
            signup_href: format!(
                "{base}/signup?return_to={}&login_hint={hint}&invite={token}",
                url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
            ),
        },
    )
}

async fn answer_invite(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(token): Path<String>,
    HtmlForm(form): HtmlForm<AnswerForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let base = state.issuer.path();
    let here = format!("{base}/invites/{token}");
    let Some(signed_in) = session.signed_in().await? else {
        return Ok(Redirect::to(&login_url(base, &here)).into_response());
    };
    let decision = match form.decision.as_str() {
        "accept" => Decision::Accept,
        "decline" => Decision::Decline,
        _ => return Err(PageError::bad_request("Choose accept or decline.")),
    };
    let ip = ip.to_string();
    let actor = Actor::User(signed_in.user_id.to_string());
    let origin = Origin {
        actor: &actor,
        ip: Some(&ip),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
    };
    let answered =
        match invites::answer(&state.store, &token, &signed_in.user_id, decision, origin).await {
            Ok(answered) => answered,
            // Signed in as a user deleted since: as good as signed out.
            Err(manage::Error::CallerGone) => {
                return Ok(Redirect::to(&login_url(base, &here)).into_response());
            }
            Err(error) => return Err(page_error(error)),
        };
    let account_name = answered.account_name;
    let (heading, message) = match decision {
        Decision::Accept => (
            "Invitation accepted",
            format!(
                "You are now a member of {account_name} as {}.",
                answered.role.unwrap_or(answered.invitation.role).as_str()
            ),
        ),
        Decision::Decline => (
            "Invitation declined",
            format!("You declined the invitation to {account_name}."),
        ),
    };
    // A way on: the signed-in page lists the user's accounts and what is still pending.
    render(
        StatusCode::OK,
        &MessagePage {
            base,
            heading,
            message: &message,
            link: Some(("/account", "Go to your account")),
        },
    )
}

/// Why an invitation cannot be shown or answered, as a page says it.
fn page_error(error: manage::Error) -> PageError {
    let (status, message) = match error {
        manage::Error::Database(error) => return PageError::Database(error),
        manage::Error::NotFound(_) => return PageError::NotFound,
        manage::Error::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "The invitation is for another email address.",
        ),
        manage::Error::Gone { .. } => (
            StatusCode::GONE,
            "This invitation has expired. Ask for a new one.",
        ),
        // Answered, withdrawn or expired meanwhile: all the same to the visitor.
        _ => (
            StatusCode::CONFLICT,
            "This invitation was already used or withdrawn.",
        ),
    };
    PageError::BadRequest {
        status,
        message: message.into(),
    }
}
