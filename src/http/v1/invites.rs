//! Invitations: admins invite an email with a role (`/v1/accounts/{acc}/invites`), the mail
//! goes through the outbox with a single-use link, and the invitee accepts or declines
//! (`/v1/invites/{token}/…`). Answering is one conditional UPDATE, so it happens once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, TargetAccount};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::AccountId;
use crate::manage::caller::Caller;
use crate::manage::invites::{self, Decision, InviteView};
use crate::role::RoleId;
use crate::state::AppState;
use crate::store::Position;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/invites",
            get(list_invites).post(create_invite),
        )
        .route("/v1/accounts/{acc}/invites/{inv}", delete(revoke_invite))
        // The current account's (API.md §13).
        .route("/v1/account/invites", get(list_invites).post(create_invite))
        .route("/v1/invites/{token}/accept", post(accept_invite))
        .route("/v1/invites/{token}/decline", post(decline_invite))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    email: String,
    role: RoleId,
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
    target: TargetAccount,
    ApiJson(new): ApiJson<NewInvite>,
) -> Result<Response, HttpError> {
    let account_id = target.resolve(&caller)?;
    let new = invites::NewInvite {
        email: new.email,
        role: new.role,
        ttl_seconds: new.ttl_seconds,
    };
    let sent = invites::create(&state.store, &state.issuer, &caller, &account_id, new).await?;
    // Shown as of its sending: pending, however short its life.
    let sent_at = sent.invitation.created_at.0;
    let view = InviteView::new(sent.invitation, sent_at, Some(sent.accept_url));
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
    target: TargetAccount,
    request: PageRequest,
) -> Result<Json<Page<InviteView>>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let rows = invites::list(
        &state.store,
        &caller,
        &account_id,
        || request.position(&state, "invites"),
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
    invites::revoke(&state.store, &caller, &account_id, &inv).await?;
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
    let answered = invites::answer_as(&state.store, &caller, &token, Decision::Accept).await?;
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
    invites::answer_as(&state.store, &caller, &token, Decision::Decline).await?;
    Ok(Json(json!({ "status": "declined" })))
}

/// What `accept` answers (built with `json!` above; this documents its shape).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "an OpenAPI description only")]
struct AcceptedInvite {
    /// `added`
    status: String,
    account_id: AccountId,
    role: RoleId,
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
