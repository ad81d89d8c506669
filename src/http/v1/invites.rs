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
use crate::clock::{self, Timestamp};
use crate::email_address::EmailAddress;
use crate::http::error::HttpError;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, Caller, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, InvitationId, UserId};
use crate::invitation::{self, Invitation, InvitationStatus, Unanswerable, check_answerable};
use crate::mailer;
use crate::role::Role;
use crate::secret;
use crate::state::AppState;
use crate::store::audit_events;
use crate::store::emails;
use crate::store::{Position, Tx, accounts, invitations, memberships, users};

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
#[derive(Serialize)]
struct InviteView {
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
    fn new(invitation: Invitation, now: i64, accept_url: Option<String>) -> InviteView {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    email: String,
    role: Role,
    ttl_seconds: Option<i64>,
}

async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewInvite>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let role = authorize(&state, &caller, &account_id, Role::Admin).await?;
    if !access::may_grant(role, new.role) {
        return Err(HttpError::forbidden("only an owner may invite an owner"));
    }
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| HttpError::invalid_field("email", "must be an email address"))?;
    let ttl = new.ttl_seconds.unwrap_or(invitation::DEFAULT_TTL_SECONDS);
    if !(1..=invitation::MAX_TTL_SECONDS).contains(&ttl) {
        return Err(HttpError::invalid_field(
            "ttl_seconds",
            "must be from 1 second to 30 days (2592000)",
        ));
    }
    let now = clock::now();
    let token = secret::generate();
    let accept_url = state.issuer.url(&format!("/invites/{token}"));
    let invitation = Invitation {
        id: InvitationId::generate(),
        account_id: account_id.clone(),
        email: email.into_string(),
        role: new.role,
        status: InvitationStatus::Pending,
        invited_by: Some(caller.user_id().clone()),
        expires_at: Timestamp(now + ttl),
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
    };
    let mut tx = state.store.begin().await?;
    let account = accounts::find(&mut *tx, &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))?;
    if let Some(user) = users::find_by_email(&mut *tx, &invitation.email).await?
        && memberships::role(&mut *tx, &account_id, &user.id)
            .await?
            .is_some()
    {
        return Err(HttpError::conflict(
            "conflict",
            "that user is already a member of the account",
        ));
    }
    invitations::insert(&mut *tx, &invitation, &secret::hash(&token)).await?;
    emails::enqueue(
        &mut *tx,
        &mailer::invitation(
            &invitation.email,
            &account.name,
            invitation.role.as_str(),
            &accept_url,
            &invitation.expires_at.rfc3339(),
        ),
        now,
    )
    .await?;
    record(
        &mut tx,
        &caller,
        &invitation,
        "invite.created",
        json!({ "email": invitation.email, "role": invitation.role }),
        now,
    )
    .await?;
    tx.commit().await?;
    let view = InviteView::new(invitation, now, Some(accept_url));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

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
    let mut tx = state.store.begin().await?;
    let invitation = invitations::find(&mut *tx, &account_id, &invitation_id)
        .await?
        .ok_or_else(not_found)?;
    if !invitations::revoke(&mut *tx, &account_id, &invitation_id, now).await? {
        return Err(HttpError::conflict(
            "conflict",
            format!("the invitation is already {}", invitation.status.as_str()),
        ));
    }
    record(
        &mut tx,
        &caller,
        &invitation,
        "invite.revoked",
        json!({ "email": invitation.email }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let token_hash = secret::hash(&token);
    check_invitee(&state, &caller, &token_hash).await?;
    let now = clock::now();
    let mut tx = state.store.begin().await?;
    let invitation = answer(&mut tx, &token_hash, InvitationStatus::Accepted, now).await?;
    let user_id = caller.user_id();
    let added = memberships::insert_if_absent(
        &mut *tx,
        &invitation.account_id,
        user_id,
        invitation.role,
        now,
    )
    .await?;
    record(
        &mut tx,
        &caller,
        &invitation,
        "invite.accepted",
        json!({ "email": invitation.email, "role": invitation.role }),
        now,
    )
    .await?;
    if added {
        let details = json!({ "role": invitation.role, "invitation_id": invitation.id });
        audit_events::insert(
            &mut *tx,
            &caller.event(
                Some(&invitation.account_id),
                "member.added",
                "user",
                user_id.as_str(),
                details,
            ),
            now,
        )
        .await?;
    }
    // Someone already a member keeps the role they have.
    let role = memberships::role(&mut *tx, &invitation.account_id, user_id)
        .await?
        .unwrap_or(invitation.role);
    tx.commit().await?;
    Ok(Json(json!({
        "status": "added",
        "account_id": invitation.account_id,
        "role": role,
    })))
}

async fn decline_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let token_hash = secret::hash(&token);
    check_invitee(&state, &caller, &token_hash).await?;
    let now = clock::now();
    let mut tx = state.store.begin().await?;
    let invitation = answer(&mut tx, &token_hash, InvitationStatus::Declined, now).await?;
    record(
        &mut tx,
        &caller,
        &invitation,
        "invite.declined",
        json!({ "email": invitation.email }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "status": "declined" })))
}

/// The invitation exists, is addressed to the caller's email, and can still be answered.
async fn check_invitee(
    state: &AppState,
    caller: &Caller,
    token_hash: &str,
) -> Result<(), HttpError> {
    caller.require_user_level()?;
    let invitation = invitations::find_by_token_hash(state.store.pool(), token_hash)
        .await?
        .ok_or_else(|| HttpError::not_found("invitation"))?;
    let user = users::find(state.store.pool(), caller.user_id())
        .await?
        .ok_or_else(HttpError::invalid_token)?;
    if !invitation.is_addressed_to(&user.email) {
        return Err(HttpError::forbidden(
            "the invitation is addressed to another email address",
        ));
    }
    check_answerable(&invitation, clock::now()).map_err(unanswerable)
}

/// Answers the invitation once; of concurrent answers, the losers learn why they lost.
async fn answer(
    tx: &mut Tx,
    token_hash: &str,
    status: InvitationStatus,
    now: i64,
) -> Result<Invitation, HttpError> {
    if let Some(invitation) = invitations::answer(&mut **tx, token_hash, status, now).await? {
        return Ok(invitation);
    }
    let invitation = invitations::find_by_token_hash(&mut **tx, token_hash)
        .await?
        .ok_or_else(|| HttpError::not_found("invitation"))?;
    Err(match check_answerable(&invitation, now) {
        Err(reason) => unanswerable(reason),
        Ok(()) => HttpError::conflict("conflict", "the invitation was answered meanwhile"),
    })
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

async fn record(
    tx: &mut Tx,
    caller: &Caller,
    invitation: &Invitation,
    action: &str,
    details: serde_json::Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    audit_events::insert(
        &mut **tx,
        &caller.event(
            Some(&invitation.account_id),
            action,
            "invitation",
            invitation.id.as_str(),
            details,
        ),
        now,
    )
    .await
    .map(|_| ())
}
