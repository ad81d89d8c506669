//! Invitations: admins invite an email with a role (`/v1/accounts/{acc}/invites`), the mail
//! goes through the outbox with a single-use link, and the invitee accepts or declines
//! (`/v1/invites/{token}/…`). Answering is one conditional UPDATE, so it happens once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access;
use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::email_address::EmailAddress;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, InvitationId, UserId};
use crate::invitation::{self, Invitation, InvitationStatus, Unanswerable};
use crate::invite_answer::{self, AnswerError, Answered, Decision};
use crate::invite_send::{self, SendError};
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::state::AppState;
use crate::store::{Position, accounts, invitations, memberships, users};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/invites",
            get(list_invites).post(create_invite),
        )
        .route("/v1/accounts/{acc}/invites/{inv}", delete(revoke_invite))
        .route("/v1/invites/{token}/accept", post(accept_invite))
        .route("/v1/invites/{token}/decline", post(decline_invite))
}

/// An invitation as its account's admins see it; `accept_url` only in the creation answer,
/// the one time the link exists in clear.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InviteView {
    id: InvitationId,
    account_id: AccountId,
    email: String,
    role: Role,
    status: InvitationStatus,
    invited_by: Option<UserId>,
    expires_at: Timestamp,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_url: Option<String>,
}

impl InviteView {
    pub fn new(invitation: Invitation, now: i64, accept_url: Option<String>) -> InviteView {
        InviteView {
            status: invitation.status_at(now),
            id: invitation.id,
            account_id: invitation.account_id,
            email: invitation.email,
            role: invitation.role,
            invited_by: invitation.invited_by,
            expires_at: invitation.expires_at,
            created_at: invitation.created_at,
            accept_url,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    email: String,
    role: Role,
    ttl_seconds: Option<i64>,
}

/// Invite someone to an account.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/invites",
    tag = "invites",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewInvite, content_type = "application/json"),
    responses(
        (status = 201, description = "The invitation with its accept_url (shown once)", body = InviteView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::RateLimited
    )
)]
async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewInvite>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| HttpError::invalid_field("email", "must be an email address"))?;
    let ttl = new.ttl_seconds.unwrap_or(invitation::DEFAULT_TTL_SECONDS);
    if !(1..=invitation::MAX_TTL_SECONDS).contains(&ttl) {
        return Err(HttpError::invalid_field(
            "ttl_seconds",
            "must be from 1 second to 30 days (2592000)",
        ));
    }
    let mut change = state.store.change().await?;
    // The lock orders this invitation after any other to the same address (one stays
    // pending) and keeps the caller's permission from going stale before it is written.
    if !accounts::lock(&mut change, &account_id).await? {
        return Err(HttpError::not_found("account"));
    }
    let role = caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    if !access::may_grant(role, new.role) {
        return Err(HttpError::forbidden("only an owner may invite an owner"));
    }
    let account = accounts::find(&mut *change, &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))?;
    if let Some(user) = users::find_by_email(&mut *change, email.as_str()).await?
        && memberships::role(&mut *change, &account_id, &user.id)
            .await?
            .is_some()
    {
        return Err(HttpError::conflict(
            "conflict",
            "that user is already a member of the account",
        ));
    }
    let now = clock::now();
    let request = invite_send::Request {
        account: &account,
        email,
        role: new.role,
        ttl_seconds: ttl,
        invited_by: caller.user_id().cloned(),
    };
    let (change, sent) = invite_send::send(change, &state.issuer, request, caller.origin(), now)
        .await
        .map_err(send_error)?;
    change.commit().await?;
    let view = InviteView::new(sent.invitation, now, Some(sent.accept_url));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// List an account's invitations.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/invites",
    tag = "invites",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "Invitations, newest first", body = Page<InviteView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_invites(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<InviteView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let after = request.position(&state, "invites")?;
    let rows = invitations::list_for_account(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
    )
    .await?;
    let now = clock::now();
    Ok(page(
        &state,
        "invites",
        &request,
        rows,
        |invitation| Position {
            created_at: invitation.created_at.0,
            id: invitation.id.to_string(),
        },
        |invitation| InviteView::new(invitation, now, None),
    ))
}

/// Revoke an invitation.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/invites/{inv}",
    tag = "invites",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("inv" = String, Path, description = "Invitation id (inv_...)")),
    responses(
        (status = 204, description = "Revoked"),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn revoke_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, inv)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let not_found = || HttpError::not_found("invitation");
    let invitation_id = InvitationId::parse(&inv).ok_or_else(not_found)?;
    let now = clock::now();
    let mut change = state.store.change().await?;
    let invitation = invitations::find(&mut *change, &account_id, &invitation_id)
        .await?
        .ok_or_else(not_found)?;
    if !invitations::revoke(&mut *change, &account_id, &invitation_id, now).await? {
        return Err(HttpError::conflict(
            "conflict",
            format!("the invitation is already {}", invitation.status.as_str()),
        ));
    }
    let event = caller.event(
        Some(&invitation.account_id),
        Action::InviteRevoked,
        "invitation",
        invitation.id.as_str(),
        json!({ "email": invitation.email }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation.
#[utoipa::path(
    post,
    path = "/v1/invites/{token}/accept",
    tag = "invites",
    params(("token" = String, Path, description = "The invitation secret from the accept link")),
    responses(
        (status = 200, description = "Joined: `{status: \"added\", account_id, role}`", body = AcceptedInvite),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict,
        openapi::Gone
    )
)]
async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let answered = answer_as_caller(&state, &caller, &token, Decision::Accept).await?;
    Ok(Json(json!({
        "status": "added",
        "account_id": answered.invitation.account_id,
        "role": answered.role.unwrap_or(answered.invitation.role),
    })))
}

/// Decline an invitation.
#[utoipa::path(
    post,
    path = "/v1/invites/{token}/decline",
    tag = "invites",
    params(("token" = String, Path, description = "The invitation secret from the accept link")),
    responses(
        (status = 200, description = "Declined: `{status: \"declined\"}`", body = DeclinedInvite),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict,
        openapi::Gone
    )
)]
async fn decline_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    answer_as_caller(&state, &caller, &token, Decision::Decline).await?;
    Ok(Json(json!({ "status": "declined" })))
}

/// Answers as the calling user, who must be the invitee (by email).
async fn answer_as_caller(
    state: &AppState,
    caller: &Caller,
    token: &str,
    decision: Decision,
) -> Result<Answered, HttpError> {
    caller.require_user_level()?;
    let user = users::find(state.store.pool(), caller.user()?)
        .await?
        .ok_or_else(HttpError::invalid_token)?;
    invite_answer::answer(&state.store, token, &user, decision, caller.origin())
        .await
        .map_err(|error| match error {
            AnswerError::NotFound => HttpError::not_found("invitation"),
            AnswerError::NotAddressedToYou => {
                HttpError::forbidden("the invitation is addressed to another email address")
            }
            AnswerError::Unanswerable(reason) => unanswerable(reason),
            AnswerError::AnsweredMeanwhile => {
                HttpError::conflict("conflict", "the invitation was answered meanwhile")
            }
            AnswerError::Database(error) => error.into(),
        })
}

pub(crate) fn send_error(error: SendError) -> HttpError {
    match error {
        SendError::Limited(limited) => HttpError::rate_limited(
            "this account has sent too many invitations; try again later",
            limited.retry_after,
        ),
        SendError::Database(error) => error.into(),
    }
}

fn unanswerable(reason: Unanswerable) -> HttpError {
    match reason {
        Unanswerable::Expired => HttpError::new(
            StatusCode::GONE,
            "invite_expired",
            "the invitation has expired",
        ),
        Unanswerable::AlreadyAnswered(status) => HttpError::conflict(
            "conflict",
            format!("the invitation is already {}", status.as_str()),
        ),
    }
}

/// What `accept` answers (built with `json!` above; this documents its shape).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "an OpenAPI description only")]
struct AcceptedInvite {
    /// `added`
    status: String,
    account_id: AccountId,
    role: Role,
}

/// What `decline` answers.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "an OpenAPI description only")]
struct DeclinedInvite {
    /// `declined`
    status: String,
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_invites,
    create_invite,
    revoke_invite,
    accept_invite,
    decline_invite
))]
pub struct Api;
