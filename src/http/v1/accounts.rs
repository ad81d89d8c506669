//! `/v1/accounts`: create (the caller becomes owner, optionally under a parent), read,
//! update by JSON Merge Patch, delete (with its descendants on `?cascade=true`), children.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::account::Account;
use crate::account_profile::AccountProfile;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch};
use crate::http::v1::caller::{self, TargetAccount};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::AccountId;
use crate::manage::accounts;
use crate::manage::caller::Caller;
use crate::state::AppState;
use crate::store::Position;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts", post(create_account))
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
        .route("/v1/accounts/{acc}/move", post(move_account))
        .route(
            "/v1/accounts/{acc}/profile",
            get(show_profile).put(replace_profile),
        )
        // The current account (API.md §13): the same handlers, the credential's account.
        .route(
            "/v1/account",
            get(show_account)
                .patch(update_account)
                .delete(delete_account),
        )
        .route(
            "/v1/account/profile",
            get(show_profile).put(replace_profile),
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
    let parent_id = parent_id(new.parent_id.as_deref())?;
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
    let new = accounts::NewAccount {
        name: new.name,
        parent_id,
        labels: new.labels,
        external_id: new.external_id,
        avatar_url: new.avatar_url,
        billing_email: new.billing_email,
    };
    let account = accounts::create(&state.store, caller, new).await?;
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
    target: TargetAccount,
) -> Result<Json<Account>, HttpError> {
    let account_id = target.resolve(&caller)?;
    Ok(Json(
        accounts::show(&state.store, &caller, &account_id).await?,
    ))
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
    target: TargetAccount,
    MergePatch(patch): MergePatch,
) -> Result<Json<Account>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let updated = accounts::update(&state.store, &caller, &account_id, &patch).await?;
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
    target: TargetAccount,
    uri: Uri,
) -> Result<StatusCode, HttpError> {
    let account_id = target.resolve(&caller)?;
    let cascade = cascade_param(&uri)?;
    accounts::delete(&state.store, &caller, &account_id, cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Show an account's business profile.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/profile",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 200, description = "The profile (`null` for each unset field)", body = AccountProfile),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_profile(
    State(state): State<AppState>,
    caller: Caller,
    target: TargetAccount,
) -> Result<Json<AccountProfile>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let account = accounts::show(&state.store, &caller, &account_id).await?;
    Ok(Json(account.profile))
}

/// Replace an account's business profile.
#[utoipa::path(
    put,
    path = "/v1/accounts/{acc}/profile",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = AccountProfile, content_type = "application/json"),
    responses(
        (status = 200, description = "The new profile; a field left out is unset", body = AccountProfile),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn replace_profile(
    State(state): State<AppState>,
    caller: Caller,
    target: TargetAccount,
    ApiJson(profile): ApiJson<AccountProfile>,
) -> Result<Json<AccountProfile>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let updated = accounts::replace_profile(&state.store, &caller, &account_id, &profile).await?;
    Ok(Json(updated.profile))
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
    let rows = accounts::children(
        &state.store,
        &caller,
        &account_id,
        || request.position(&state, "children"),
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

/// Where an account moves: `parent_id` is required, `null` for a root.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Move {
    #[serde(deserialize_with = "present")]
    #[schema(required = true, nullable = true)]
    parent_id: Option<String>,
}

/// A field that must be present, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::deserialize(deserializer)
}

/// Move an account under another parent, or make it a root.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/move",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = Move, content_type = "application/json"),
    responses(
        (status = 200, description = "The account under its new parent", body = Account),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn move_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(body): ApiJson<Move>,
) -> Result<Json<Account>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let parent_id = parent_id(body.parent_id.as_deref())?;
    let moved = accounts::move_to(&state.store, &caller, &account_id, parent_id).await?;
    Ok(Json(moved))
}

/// A request's `parent_id`, if it names one.
fn parent_id(text: Option<&str>) -> Result<Option<AccountId>, HttpError> {
    text.map(|text| {
        AccountId::parse(text)
            .ok_or_else(|| HttpError::invalid_field("parent_id", "not an account id"))
    })
    .transpose()
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_account,
    show_account,
    update_account,
    delete_account,
    list_children,
    create_child,
    move_account,
    show_profile,
    replace_profile
))]
pub struct Api;
