//! `/v1/accounts`: create (the caller becomes owner, optionally under a parent), read,
//! update by JSON Merge Patch, delete (with its descendants on `?cascade=true`), children.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::account::Account;
use crate::admin;
use crate::audit::{Action, NewEvent};
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch};
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::AccountId;
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::state::AppState;
use crate::store::{Position, accounts, users};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts", axum::routing::post(create_account))
        .route(
            "/v1/accounts/{acc}",
            get(show_account)
                .patch(update_account)
                .delete(delete_account),
        )
        .route(
            "/v1/accounts/{acc}/children",
            get(list_children).post(create_child),
        )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
    parent_id: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    external_id: Option<String>,
    avatar_url: Option<String>,
    billing_email: Option<String>,
}

/// A child created under `/children` names its parent in the path.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewChild {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    external_id: Option<String>,
    avatar_url: Option<String>,
    billing_email: Option<String>,
}

/// Create an account owned by the caller.
#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "accounts",
    request_body(content = NewAccount, content_type = "application/json"),
    responses(
        (status = 201, description = "The new account; the caller owns it", body = Account),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewAccount>,
) -> Result<Response, HttpError> {
    let parent_id = match new.parent_id.as_deref() {
        Some(text) => Some(
            AccountId::parse(text)
                .ok_or_else(|| HttpError::invalid_field("parent_id", "not an account id"))?,
        ),
        None => None,
    };
    let child = NewChild {
        name: new.name,
        labels: new.labels,
        external_id: new.external_id,
        avatar_url: new.avatar_url,
        billing_email: new.billing_email,
    };
    insert(&state, &caller, child, parent_id).await
}

/// Create a child account.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/children",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewChild, content_type = "application/json"),
    responses(
        (status = 201, description = "The new child account", body = Account),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_child(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewChild>,
) -> Result<Response, HttpError> {
    let parent_id = caller::account_id(&acc)?;
    insert(&state, &caller, new, Some(parent_id)).await
}

async fn insert(
    state: &AppState,
    caller: &Caller,
    new: NewChild,
    parent_id: Option<AccountId>,
) -> Result<Response, HttpError> {
    match &parent_id {
        Some(parent_id) => {
            authorize(state, caller, parent_id, Role::Admin).await?;
        }
        None => caller.require_user_level()?,
    }
    let now = clock::now();
    let mut account = Account::new(new.name, parent_id.clone(), now);
    account.labels = new.labels;
    account.external_id = new.external_id;
    account.avatar_url = new.avatar_url;
    account.billing_email = new.billing_email;
    let errors = account.validate();
    if !errors.is_empty() {
        return Err(HttpError::validation(errors));
    }
    let mut change = state.store.change().await?;
    if let Some(parent_id) = &parent_id
        && !accounts::lock(&mut change, parent_id).await?
    {
        return Err(HttpError::not_found("account"));
    }
    let owner = users::find(&mut *change, caller.user()?)
        .await?
        .ok_or_else(HttpError::invalid_token)?;
    // Whoever signed up with an address they do not hold must not found tenants under it.
    if !owner.email_verified {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "email_unverified",
            "verify your email address before creating accounts",
        ));
    }
    admin::insert_account_with_owner(change, &account, &owner, caller.origin(), now)
        .await?
        .commit()
        .await?;
    Ok((StatusCode::CREATED, Json(account)).into_response())
}

/// Show an account.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 401, description = openapi::UNAUTHORIZED, body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        openapi::NotFound
    )
)]
async fn show_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
) -> Result<Json<Account>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let account = accounts::find(state.store.pool(), &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))?;
    Ok(Json(account))
}

/// Update an account (JSON merge patch).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of the mutable fields, as either media type",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The updated account", body = Account),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    MergePatch(patch): MergePatch,
) -> Result<Json<Account>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let mut change = state.store.change().await?;
    if !accounts::lock(&mut change, &account_id).await? {
        return Err(HttpError::not_found("account"));
    }
    let role = caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    let current = accounts::find(&mut *change, &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))?;
    let mut updated = current.merge_patch(&patch).map_err(HttpError::validation)?;
    let errors = updated.validate();
    if !errors.is_empty() {
        return Err(HttpError::validation(errors));
    }
    if updated.status != current.status && role < Role::Owner {
        return Err(HttpError::forbidden("only an owner may change the status"));
    }
    let changed = updated.changed_fields(&current);
    if changed.is_empty() {
        return Ok(Json(current));
    }
    let now = clock::now();
    updated.updated_at = Timestamp(now);
    accounts::update(&mut *change, &updated).await?;
    let mut details = json!({ "fields": changed });
    if updated.status != current.status {
        details["status"] = json!(updated.status);
    }
    let event = caller.event(
        Some(&account_id),
        Action::AccountUpdated,
        "account",
        account_id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(Json(updated))
}

/// Delete an account.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("cascade" = Option<bool>, Query, description = "Also delete child accounts")),
    responses(
        (status = 204, description = "Deleted, with its descendants when ?cascade=true"),
        openapi::QueryErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    uri: Uri,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let cascade = cascade_param(&uri)?;
    let mut change = state.store.change().await?;
    if !accounts::lock(&mut change, &account_id).await? {
        return Err(HttpError::not_found("account"));
    }
    caller::authorize_in(&mut change, &caller, &account_id, Role::Owner).await?;
    let descendants = accounts::descendants(&mut *change, &account_id).await?;
    if !descendants.is_empty() && !cascade {
        return Err(HttpError::conflict(
            "has_children",
            "the account has child accounts; delete them first or pass ?cascade=true",
        ));
    }
    let now = clock::now();
    let parent_id = accounts::find(&mut *change, &account_id)
        .await?
        .and_then(|account| account.parent_id);
    // The trail outlives the accounts: one event per deleted account, descendants included,
    // and one in the surviving parent's log (API.md §8).
    fn deleted<'a>(
        caller: &'a Caller,
        log: &'a AccountId,
        target: &'a AccountId,
        root: &AccountId,
    ) -> NewEvent<'a> {
        let details = json!({ "cascade_from": (target != root).then_some(root) });
        caller.event(
            Some(log),
            Action::AccountDeleted,
            "account",
            target.as_str(),
            details,
        )
    }
    let mut change = change
        .record(
            &deleted(&caller, &account_id, &account_id, &account_id),
            now,
        )
        .await?;
    for id in &descendants {
        change
            .record(&deleted(&caller, id, id, &account_id), now)
            .await?;
    }
    if let Some(parent_id) = &parent_id {
        change
            .record(&deleted(&caller, parent_id, &account_id, &account_id), now)
            .await?;
    }
    accounts::delete(&mut *change, &account_id).await?;
    change.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn cascade_param(uri: &Uri) -> Result<bool, HttpError> {
    let query = uri.query().unwrap_or_default();
    let mut cascade = false;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key == "cascade" {
            cascade = match value.as_ref() {
                "true" => true,
                "false" => false,
                _ => return Err(HttpError::invalid_field("cascade", "must be true or false")),
            };
        }
    }
    Ok(cascade)
}

/// List an account's children.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/children",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "Direct child accounts, newest first", body = Page<Account>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_children(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<Account>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Viewer).await?;
    let after = request.position(&state, "children")?;
    let rows = accounts::children(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "children",
        &request,
        rows,
        |account| Position {
            created_at: account.created_at.0,
            id: account.id.to_string(),
        },
        |account| account,
    ))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_account,
    show_account,
    update_account,
    delete_account,
    list_children,
    create_child
))]
pub struct Api;
