//! `/v1/accounts/{acc}/api-keys` and `/v1/api-keys/verify`: account admins create keys with
//! a role no higher than their own (the secret shown once), list, revoke and roll them; a key
//! checks itself with `verify`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api_key::{self, ApiKey, ApiKeyStatus};
use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, ApiKeyId};
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::secret;
use crate::state::AppState;
use crate::store::{Position, api_keys};

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

/// A key as its account's admins see it; `token` only in the answer that made it.
#[derive(Serialize, utoipa::ToSchema)]
struct KeyView {
    #[serde(flatten)]
    key: ApiKey,
    status: ApiKeyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl KeyView {
    fn new(key: ApiKey, now: i64, token: Option<String>) -> KeyView {
        KeyView {
            status: key.status_at(now),
            key,
            token,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: Role,
    expires_at: Option<String>,
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let after = request.position(&state, "api-keys")?;
    let rows = api_keys::list(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
    )
    .await?;
    let now = clock::now();
    Ok(page(
        &state,
        "api-keys",
        &request,
        rows,
        |key| Position {
            created_at: key.created_at.0,
            id: key.id.to_string(),
        },
        |key| KeyView::new(key, now, None),
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
    let role = authorize(&state, &caller, &account_id, Role::Admin).await?;
    if new.role > role {
        return Err(HttpError::forbidden(
            "a key's role cannot be higher than the creator's",
        ));
    }
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(HttpError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    let now = clock::now();
    let expires_at = match new.expires_at.as_deref() {
        Some(text) => {
            let at = Timestamp::parse(text).ok_or_else(|| {
                HttpError::invalid_field("expires_at", "must be an RFC 3339 timestamp")
            })?;
            if at.0 <= now {
                return Err(HttpError::invalid_field(
                    "expires_at",
                    "must be in the future",
                ));
            }
            Some(at)
        }
        None => None,
    };
    let key = ApiKey::new(
        account_id.clone(),
        name,
        new.role,
        caller.user_id(),
        expires_at,
        now,
    );
    let token = api_key::generate();
    let mut change = state.store.change().await?;
    api_keys::insert(&mut *change, &key, &secret::hash(&token)).await?;
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::ApiKeyCreated,
                "api_key",
                key.id.as_str(),
                json!({"name": key.name, "role": key.role}),
            ),
            now,
        )
        .await?;
    change.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyView::new(key, now, Some(token))),
    )
        .into_response())
}

async fn find<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    account_id: &AccountId,
    key: &str,
) -> Result<ApiKey, HttpError> {
    let id = ApiKeyId::parse(key).ok_or_else(|| HttpError::not_found("API key"))?;
    api_keys::find(db, account_id, &id)
        .await?
        .ok_or_else(|| HttpError::not_found("API key"))
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let now = clock::now();
    let mut change = state.store.change().await?;
    let key = find(&mut *change, &account_id, &key).await?;
    if api_keys::revoke(&mut *change, &key.id, now).await? {
        change
            .record(
                &caller.event(
                    Some(&account_id),
                    Action::ApiKeyRevoked,
                    "api_key",
                    key.id.as_str(),
                    json!({"name": key.name}),
                ),
                now,
            )
            .await?
            .commit()
            .await?;
    }
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
    let role = authorize(&state, &caller, &account_id, Role::Admin).await?;
    let now = clock::now();
    let mut change = state.store.change().await?;
    let mut key = find(&mut *change, &account_id, &key).await?;
    // Rolling hands out the key's power: no more than the caller's own.
    if key.role > role {
        return Err(HttpError::forbidden(
            "a key with a higher role than yours cannot be rolled by you",
        ));
    }
    let token = api_key::generate();
    if !api_keys::roll(&mut *change, &key.id, &secret::hash(&token), now).await? {
        return Err(HttpError::conflict("conflict", "the key is revoked"));
    }
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::ApiKeyRolled,
                "api_key",
                key.id.as_str(),
                json!({"name": key.name}),
            ),
            now,
        )
        .await?;
    change.commit().await?;
    key.updated_at = Timestamp(now);
    Ok(Json(KeyView::new(key, now, Some(token))))
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
        role: key.role,
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
    role: Role,
    status: ApiKeyStatus,
    expires_at: Option<Timestamp>,
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_keys, create_key, revoke_key, roll_key, verify_key))]
pub struct Api;
