//! `/v1/accounts/{acc}/members`: list (members and pending invitations), add (an invitation,
//! or at once for a member of an ancestor account or by a superadmin), change a role, remove.
//! Only owners grant or touch `owner`; the last owner can be neither removed nor demoted.
//! Changes authorize and write inside one transaction holding the account's lock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, PatchJson};
use crate::http::v1::caller::{self, TargetAccount};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{InvitationId, UserId};
use crate::invitation::Invitation;
use crate::manage::caller::Caller;
use crate::manage::members::{self, Added};
use crate::role::RoleId;
use crate::state::AppState;
use crate::store::memberships::{Entry, Member};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v1/accounts/{acc}/members/{usr}",
            get(show_member).patch(change_role).delete(remove_member),
        )
        // The current account's (API.md §13).
        .route("/v1/account/members", get(list_members).post(add_member))
}

/// List an account's members.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/members",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "Members and pending invitations, newest first", body = Page<MemberView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    target: TargetAccount,
    request: PageRequest,
) -> Result<Json<Page<MemberView>>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let rows = members::list(
        &state.store,
        &caller,
        &account_id,
        || request.position(&state, "members"),
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "members",
        &request,
        rows,
        Entry::position,
        |entry| match entry {
            Entry::Member(member) => MemberView::member(member),
            Entry::Invited(invited) => MemberView {
                user_id: None,
                email: invited.email,
                name: None,
                role: invited.role,
                status: MemberStatus::Invited,
                mfa: false,
                invitation_id: Some(invited.invitation_id),
                expires_at: Some(invited.expires_at),
                created_at: invited.created_at,
            },
        },
    ))
}

/// Whether a row of the members list is a member or a pending invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum MemberStatus {
    Member,
    Invited,
}

/// A row of the members list. An invited row shows only what the inviter gave (no user id
/// or name), whether or not a user owns the address: the same fields either way.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Member)]
struct MemberView {
    user_id: Option<UserId>,
    email: String,
    name: Option<String>,
    role: RoleId,
    status: MemberStatus,
    /// The user has an active second factor (false for an invitation).
    mfa: bool,
    /// An invited row's invitation (`DELETE /v1/accounts/{acc}/invites/{id}` revokes it).
    invitation_id: Option<InvitationId>,
    /// When an invited row's invitation expires.
    expires_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl MemberView {
    fn member(member: Member) -> MemberView {
        MemberView {
            user_id: Some(member.user_id),
            email: member.email,
            name: member.name,
            role: member.role,
            status: MemberStatus::Member,
            mfa: member.mfa,
            invitation_id: None,
            expires_at: None,
            created_at: member.created_at,
        }
    }

    fn invited(invitation: Invitation) -> MemberView {
        MemberView {
            user_id: None,
            email: invitation.email,
            name: None,
            role: invitation.role,
            status: MemberStatus::Invited,
            mfa: false,
            invitation_id: Some(invitation.id),
            expires_at: Some(invitation.expires_at),
            created_at: invitation.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: Option<String>,
    email: Option<String>,
    role: RoleId,
}

/// Add a member.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/members",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewMember, content_type = "application/json"),
    responses(
        (status = 201, description = "The new member (`status: member`) or invited member (`status: invited`)", body = MemberView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict,
        openapi::RateLimited
    )
)]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    target: TargetAccount,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<Response, HttpError> {
    let account_id = target.resolve(&caller)?;
    let new = members::NewMember {
        user_id: new.user_id,
        email: new.email,
        role: new.role,
    };
    let view = match members::add(&state.store, &state.issuer, &caller, &account_id, new).await? {
        Added::Member(member) => MemberView::member(member),
        Added::Invited(invitation) => MemberView::invited(invitation),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Show a member.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/members/{usr}",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("usr" = String, Path, description = "User id (usr_...)")),
    responses(
        (status = 200, description = "The member", body = MemberView),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, usr)): Path<(String, String)>,
) -> Result<Json<MemberView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let member = members::show(&state.store, &caller, &account_id, &usr).await?;
    Ok(Json(MemberView::member(member)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleUpdate {
    role: RoleId,
}

/// Change a member's role.
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/members/{usr}",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("usr" = String, Path, description = "User id (usr_...)")),
    request_body(content(
        (RoleUpdate = "application/merge-patch+json"),
        (RoleUpdate = "application/json")
    )),
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, usr)): Path<(String, String)>,
    PatchJson(update): PatchJson<RoleUpdate>,
) -> Result<Json<MemberView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let member =
        members::change_role(&state.store, &caller, &account_id, &usr, update.role).await?;
    Ok(Json(MemberView::member(member)))
}

/// Remove a member.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/members/{usr}",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("usr" = String, Path, description = "User id (usr_...)")),
    responses(
        (status = 204, description = "Removed"),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, usr)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    members::remove(&state.store, &caller, &account_id, &usr).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_members, add_member, show_member, change_role, remove_member))]
pub struct Api;
