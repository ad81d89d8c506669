//! `/v1/accounts/{acc}/api-keys` and `/v1/api-keys/verify`: account admins create keys with
//! a role no higher than their own (the secret shown once), list, revoke and roll them; a key
//! checks itself with `verify`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::api_key::ApiKeyStatus;
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, ApiKeyId};
use crate::manage::api_keys::{self, KeyView, NewKey};
use crate::manage::caller::Caller;
use crate::role::RoleId;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/api-keys",
            get(list_keys).post(create_key),
        )
        .route("/v1/accounts/{acc}/api-keys/{key}", delete(revoke_key))
        .route("/v1/accounts/{acc}/api-keys/{key}/roll", post(roll_key))
        .route("/v1/api-keys/verify", get(verify_key))
}

/// List an account's API keys.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/api-keys",
    tag = "api-keys",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "The account's API keys, newest first", body = Page<KeyView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<KeyView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let after = request.position(&state, "api-keys");
    let rows = api_keys::list(
        &state.store,
        &caller,
        &account_id,
        after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "api-keys",
        &request,
        rows,
        KeyView::position,
        |view| view,
    ))
}

/// Create an API key.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/api-keys",
    tag = "api-keys",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewKey, content_type = "application/json"),
    responses(
        (status = 201, description = "The new key with its `token`, shown once", body = KeyView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let view = api_keys::create(&state.store, &caller, &account_id, new).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Revoke an API key.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/api-keys/{key}",
    tag = "api-keys",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("key" = String, Path, description = "API key id (key_...)")),
    responses(
        (status = 204, description = "Revoked"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, key)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    api_keys::revoke(&state.store, &caller, &account_id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Roll an API key (new secret, same id).
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/api-keys/{key}/roll",
    tag = "api-keys",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("key" = String, Path, description = "API key id (key_...)")),
    responses(
        (status = 200, description = "The key with its new `token`, shown once; the previous one stops working", body = KeyView),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn roll_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, key)): Path<(String, String)>,
) -> Result<Json<KeyView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        api_keys::roll(&state.store, &caller, &account_id, &key).await?,
    ))
}

/// Verify the presenting API key.
///
#[utoipa::path(
    get,
    path = "/v1/api-keys/verify",
    tag = "api-keys",
    responses(
        (status = 200, description = "The presenting API key", body = VerifiedKey),
        openapi::AuthErrors
    )
)]
/// `GET /v1/api-keys/verify`: the presenting key's identity, for tools that hold one.
async fn verify_key(caller: Caller) -> Result<Json<VerifiedKey>, HttpError> {
    let key = caller
        .api_key()
        .ok_or_else(|| HttpError::forbidden("this endpoint verifies API keys"))?;
    Ok(Json(VerifiedKey {
        id: key.id.clone(),
        account_id: key.account_id.clone(),
        name: key.name.clone(),
        role: key.role.clone(),
        status: key.status_at(clock::now()),
        expires_at: key.expires_at,
    }))
}

/// What `verify` tells a key about itself.
#[derive(Serialize, utoipa::ToSchema)]
struct VerifiedKey {
    id: ApiKeyId,
    account_id: AccountId,
    name: String,
    role: RoleId,
    status: ApiKeyStatus,
    expires_at: Option<Timestamp>,
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_keys, create_key, revoke_key, roll_key, verify_key))]
pub struct Api;
