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
use serde_json::json;

use crate::access;
use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::email_address::EmailAddress;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, PatchJson};
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::invites;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, InvitationId, UserId};
use crate::invitation::{self, Invitation};
use crate::invite_send;
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::state::AppState;
use crate::store::memberships::{self, Entry, Member, RoleChange};
use crate::store::{Change, Recorded, accounts, users};
use sqlx::AnyConnection;

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
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<MemberView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let after = request.position(&state, "members")?;
    let rows = memberships::list(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
        clock::now(),
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
    role: Role,
    status: MemberStatus,
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
    role: Role,
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
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let mut change = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    if !access::may_grant(role, new.role) {
        return Err(HttpError::forbidden(
            "only an owner may grant the owner role",
        ));
    }
    // By email, the invitation goes to the address as typed and the answer never depends on
    // whether a user owns it (no enumeration of users); a user id names a known user.
    let (email, user) = match (new.user_id.as_deref(), new.email.as_deref()) {
        (Some(id), None) => {
            let user = match UserId::parse(id) {
                Some(id) => users::find(&mut *change, &id).await?,
                None => None,
            }
            .ok_or_else(|| HttpError::not_found("user"))?;
            let email =
                EmailAddress::parse(&user.email).ok_or_else(|| HttpError::not_found("user"))?;
            (email, Some(user))
        }
        (None, Some(email)) => {
            let email = EmailAddress::parse(email)
                .ok_or_else(|| HttpError::invalid_field("email", "must be an email address"))?;
            let user = users::find_by_email(&mut *change, email.as_str()).await?;
            (email, user)
        }
        _ => {
            return Err(HttpError::invalid_field(
                "user_id",
                "give exactly one of user_id and email",
            ));
        }
    };
    let now = clock::now();
    if let Some(user) = &user {
        if memberships::role(&mut *change, &account_id, &user.id)
            .await?
            .is_some()
        {
            return Err(HttpError::conflict(
                "conflict",
                "the user is already a member of the account",
            ));
        }
        if joins_at_once(&mut change, &caller, &account_id, &user.id).await? {
            memberships::insert(&mut *change, &account_id, &user.id, new.role, now).await?;
            let member = memberships::find(&mut *change, &account_id, &user.id)
                .await?
                .ok_or_else(|| HttpError::not_found("member"))?;
            record(
                change,
                &caller,
                &account_id,
                Action::MemberAdded,
                &user.id,
                json!({ "role": new.role }),
                now,
            )
            .await?
            .commit()
            .await?;
            return Ok((StatusCode::CREATED, Json(MemberView::member(member))).into_response());
        }
    }
    // Anyone else is only asked: membership lets the account's clients skip the consent page,
    // so it must never be imposed on a user.
    let account = accounts::find(&mut *change, &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))?;
    let request = invite_send::Request {
        account: &account,
        email,
        role: new.role,
        ttl_seconds: invitation::DEFAULT_TTL_SECONDS,
        invited_by: caller.user_id().cloned(),
    };
    let (change, sent) = invite_send::send(change, &state.issuer, request, caller.origin(), now)
        .await
        .map_err(invites::send_error)?;
    change.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(MemberView::invited(sent.invitation)),
    )
        .into_response())
}

/// Whether `user_id` joins without being asked (API.md §8): the caller is a superadmin
/// acting with a user-level token (not one handed to an app for one account), or the user
/// already is a member of an ancestor account.
async fn joins_at_once(
    db: &mut AnyConnection,
    caller: &Caller,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    if let Some(caller_id) = caller.user_id()
        && !caller.is_account_scoped()
        && users::is_superadmin(&mut *db, caller_id).await?
    {
        return Ok(true);
    }
    let lineage = accounts::lineage(&mut *db, account_id, user_id).await?;
    Ok(access::belongs_to_an_ancestor(&lineage))
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
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let user_id = member_id(&usr)?;
    let member = memberships::find(state.store.pool(), &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    Ok(Json(MemberView::member(member)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleUpdate {
    role: Role,
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
    let mut change = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    let user_id = member_id(&usr)?;
    let current = memberships::find(&mut *change, &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    if !access::may_change_role(role, current.role, update.role) {
        return Err(HttpError::forbidden(
            "only an owner may grant the owner role or change an owner's role",
        ));
    }
    if current.role == update.role {
        return Ok(Json(MemberView::member(current)));
    }
    let now = clock::now();
    match memberships::set_role(&mut change, &account_id, &user_id, update.role, now).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(HttpError::not_found("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    record(
        change,
        &caller,
        &account_id,
        Action::MemberRoleChanged,
        &user_id,
        json!({ "from": current.role, "to": update.role }),
        now,
    )
    .await?
    .commit()
    .await?;
    Ok(Json(MemberView::member(Member {
        role: update.role,
        ..current
    })))
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
    let mut change = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut change, &caller, &account_id, Role::Viewer).await?;
    let user_id = member_id(&usr)?;
    let current = memberships::find(&mut *change, &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    let is_self = caller.user_id() == Some(&user_id);
    if !access::may_remove(role, is_self, current.role) {
        return Err(HttpError::forbidden(
            "removing another member needs admin, removing an owner needs owner",
        ));
    }
    match memberships::remove(&mut change, &account_id, &user_id).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(HttpError::not_found("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    record(
        change,
        &caller,
        &account_id,
        Action::MemberRemoved,
        &user_id,
        json!({ "role": current.role, "left": is_self }),
        clock::now(),
    )
    .await?
    .commit()
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn member_id(text: &str) -> Result<UserId, HttpError> {
    UserId::parse(text).ok_or_else(|| HttpError::not_found("member"))
}

fn last_owner() -> HttpError {
    HttpError::conflict(
        "last_owner",
        "the account's last owner can be neither removed nor demoted",
    )
}

async fn record<'s>(
    change: Change<'s>,
    caller: &Caller,
    account_id: &AccountId,
    action: Action,
    user_id: &UserId,
    details: serde_json::Value,
    now: i64,
) -> Result<Recorded<'s>, sqlx::Error> {
    let event = caller.event(Some(account_id), action, "user", user_id.as_str(), details);
    change.record(&event, now).await
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_members, add_member, show_member, change_role, remove_member))]
pub struct Api;

/// A change holding the account's lock; 404 when there is no such account.
async fn locked<'s>(state: &'s AppState, account_id: &AccountId) -> Result<Change<'s>, HttpError> {
    state
        .store
        .change_account(account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))
}
