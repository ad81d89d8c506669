//! `/v1/accounts/{acc}/members`: list, add an existing user, change a role, remove. Only
//! owners grant or touch `owner`; the last owner can be neither removed nor demoted.
//! Changes authorize and write inside one transaction holding the account's lock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::access;
use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, Caller, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, UserId};
use crate::role::Role;
use crate::state::AppState;
use crate::store::audit_events;
use crate::store::memberships::{self, Member, RoleChange};
use crate::store::{Position, Tx, accounts, users};

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

#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/members",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "Members, newest first", body = Page<Member>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<Member>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let after = request.position(&state, "members")?;
    let rows = memberships::list(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "members",
        &request,
        rows,
        |member| Position {
            created_at: member.created_at.0,
            id: member.user_id.to_string(),
        },
        |member| member,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: Option<String>,
    email: Option<String>,
    role: Role,
}

#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/members",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewMember, content_type = "application/json"),
    responses(
        (status = 201, description = "The new member", body = Member),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let mut tx = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut tx, &caller, &account_id, Role::Admin).await?;
    if !access::may_grant(role, new.role) {
        return Err(HttpError::forbidden(
            "only an owner may grant the owner role",
        ));
    }
    let user = match (new.user_id.as_deref(), new.email.as_deref()) {
        (Some(id), None) => match UserId::parse(id) {
            Some(id) => users::find(&mut *tx, &id).await?,
            None => None,
        },
        (None, Some(email)) => users::find_by_email(&mut *tx, email).await?,
        _ => {
            return Err(HttpError::invalid_field(
                "user_id",
                "give exactly one of user_id and email",
            ));
        }
    }
    .ok_or_else(|| HttpError::not_found("user"))?;
    let now = clock::now();
    if !memberships::insert_if_absent(&mut *tx, &account_id, &user.id, new.role, now).await? {
        return Err(HttpError::conflict(
            "conflict",
            "the user is already a member of the account",
        ));
    }
    record(
        &mut tx,
        &caller,
        &account_id,
        "member.added",
        &user.id,
        json!({ "role": new.role }),
        now,
    )
    .await?;
    let member = memberships::find(&mut *tx, &account_id, &user.id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    tx.commit().await?;
    state.store.access_changed();
    Ok((StatusCode::CREATED, Json(member)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/members/{usr}",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("usr" = String, Path, description = "User id (usr_...)")),
    responses(
        (status = 200, description = "The member", body = Member),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, usr)): Path<(String, String)>,
) -> Result<Json<Member>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let user_id = member_id(&usr)?;
    let member = memberships::find(state.store.pool(), &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    Ok(Json(member))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleUpdate {
    role: Role,
}

#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/members/{usr}",
    tag = "members",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("usr" = String, Path, description = "User id (usr_...)")),
    request_body(content = RoleUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The member with the new role", body = Member),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, usr)): Path<(String, String)>,
    ApiJson(update): ApiJson<RoleUpdate>,
) -> Result<Json<Member>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let mut tx = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut tx, &caller, &account_id, Role::Admin).await?;
    let user_id = member_id(&usr)?;
    let current = memberships::find(&mut *tx, &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    if !access::may_change_role(role, current.role, update.role) {
        return Err(HttpError::forbidden(
            "only an owner may grant the owner role or change an owner's role",
        ));
    }
    if current.role == update.role {
        return Ok(Json(current));
    }
    let now = clock::now();
    match memberships::set_role(&mut tx, &account_id, &user_id, update.role, now).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(HttpError::not_found("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    record(
        &mut tx,
        &caller,
        &account_id,
        "member.role_changed",
        &user_id,
        json!({ "from": current.role, "to": update.role }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.store.access_changed();
    Ok(Json(Member {
        role: update.role,
        ..current
    }))
}

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
    let mut tx = locked(&state, &account_id).await?;
    let role = caller::authorize_in(&mut tx, &caller, &account_id, Role::Viewer).await?;
    let user_id = member_id(&usr)?;
    let current = memberships::find(&mut *tx, &account_id, &user_id)
        .await?
        .ok_or_else(|| HttpError::not_found("member"))?;
    let is_self = caller.user_id() == Some(&user_id);
    if !access::may_remove(role, is_self, current.role) {
        return Err(HttpError::forbidden(
            "removing another member needs admin, removing an owner needs owner",
        ));
    }
    match memberships::remove(&mut tx, &account_id, &user_id).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(HttpError::not_found("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    record(
        &mut tx,
        &caller,
        &account_id,
        "member.removed",
        &user_id,
        json!({ "role": current.role, "left": is_self }),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    state.store.access_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// A write transaction holding the account's lock; 404 when there is no such account.
async fn locked(state: &AppState, account_id: &AccountId) -> Result<Tx, HttpError> {
    let mut tx = state.store.begin().await?;
    if !accounts::lock(&state.store, &mut tx, account_id).await? {
        return Err(HttpError::not_found("account"));
    }
    Ok(tx)
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

async fn record(
    tx: &mut Tx,
    caller: &Caller,
    account_id: &AccountId,
    action: &str,
    user_id: &UserId,
    details: serde_json::Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    audit_events::insert(
        &mut **tx,
        &caller.event(Some(account_id), action, "user", user_id.as_str(), details),
        now,
    )
    .await
    .map(|_| ())
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_members, add_member, show_member, change_role, remove_member))]
pub struct Api;
