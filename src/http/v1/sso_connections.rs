//! `/v1/accounts/{acc}/sso-connections`: an account's upstream OpenID Connect providers for
//! its verified domains (API.md §12, `account:write`). The client secret is write-only; each
//! connection shows the `redirect_uri` to register at the provider.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch, in_our_words};
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::Error;
use crate::manage::caller::Caller;
use crate::manage::sso_connections::{self, Deployment, SsoConnectionView};
use crate::sso_connection::SsoInput;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/sso-connections",
            get(list_sso_connections).post(create_sso_connection),
        )
        .route(
            "/v1/accounts/{acc}/sso-connections/{id}",
            get(show_sso_connection)
                .patch(update_sso_connection)
                .delete(delete_sso_connection),
        )
}

/// Fields a PATCH may not name.
const READ_ONLY: [&str; 6] = [
    "id",
    "account_id",
    "client_secret_set",
    "redirect_uri",
    "created_at",
    "updated_at",
];

/// Fields a PATCH may replace but not remove (`null`); `jit` and `enforce` removed are false.
const REQUIRED: [&str; 6] = [
    "name",
    "issuer",
    "client_id",
    "client_secret",
    "domains",
    "default_role",
];

fn deployment(state: &AppState) -> Deployment<'_> {
    Deployment {
        kek: state.keys.key_encryption_key(),
        issuer: &state.issuer,
        block_private: state.config.webhook_block_private,
    }
}

/// List an account's SSO connections.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/sso-connections",
    tag = "sso-connections",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "The account's connections, newest first", body = Page<SsoConnectionView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_sso_connections(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<SsoConnectionView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let after = request.position(&state, "sso_connections");
    let rows = sso_connections::list(
        &state.store,
        &state.issuer,
        &caller,
        &account_id,
        after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "sso_connections",
        &request,
        rows,
        SsoConnectionView::position,
        |view| view,
    ))
}

/// Create an SSO connection.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/sso-connections",
    tag = "sso-connections",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = SsoInput, content_type = "application/json"),
    responses(
        (status = 201, description = "The connection, without its secret", body = SsoConnectionView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn create_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(input): ApiJson<SsoInput>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let view = sso_connections::create(
        &state.store,
        deployment(&state),
        &caller,
        &account_id,
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Show an SSO connection.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/sso-connections/{id}",
    tag = "sso-connections",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Connection id (ssoc_...)")),
    responses(
        (status = 200, description = "The connection, without its secret", body = SsoConnectionView),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<Json<SsoConnectionView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        sso_connections::show(&state.store, &state.issuer, &caller, &account_id, &id).await?,
    ))
}

/// Update an SSO connection.
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/sso-connections/{id}",
    tag = "sso-connections",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Connection id (ssoc_...)")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of the connection's settings, `client_secret` included, as either media type",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The updated connection, without its secret", body = SsoConnectionView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn update_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
    MergePatch(patch): MergePatch,
) -> Result<Json<SsoConnectionView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let patch = parse_patch(patch);
    Ok(Json(
        sso_connections::update(
            &state.store,
            deployment(&state),
            &caller,
            &account_id,
            &id,
            move |current| match &patch {
                Ok(patch) => merge(current, patch),
                Err((field, message)) => Err(Error::InvalidAt {
                    field: field.clone(),
                    message: (*message).to_owned(),
                }),
            },
        )
        .await?,
    ))
}

/// The patch, if it is an object naming no read-only field; else what is wrong where. Told
/// only once the caller may know the connection exists.
fn parse_patch(patch: Value) -> Result<Value, (String, &'static str)> {
    let Value::Object(fields) = &patch else {
        return Err(("body".to_owned(), "must be a JSON object"));
    };
    if let Some(field) = fields.keys().find(|key| READ_ONLY.contains(&key.as_str())) {
        return Err((field.clone(), "is read-only"));
    }
    if let Some(field) = fields
        .iter()
        .find(|(key, value)| value.is_null() && REQUIRED.contains(&key.as_str()))
        .map(|(key, _)| key)
    {
        return Err((field.clone(), "is required: it cannot be removed"));
    }
    Ok(patch)
}

/// The settings with the patch merged in, read as a creation's body would be.
fn merge(current: &SsoInput, patch: &Value) -> Result<SsoInput, Error> {
    let mut merged = serde_json::to_value(current)
        .map_err(|error| Error::conflict(format!("the connection cannot be read: {error}")))?;
    json_patch::merge(&mut merged, patch);
    serde_path_to_error::deserialize(merged).map_err(|error| Error::InvalidAt {
        field: error.path().to_string(),
        message: in_our_words(&error.inner().to_string()),
    })
}

/// Delete an SSO connection.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/sso-connections/{id}",
    tag = "sso-connections",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Connection id (ssoc_...)")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    sso_connections::delete(&state.store, &caller, &account_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_sso_connections,
    create_sso_connection,
    show_sso_connection,
    update_sso_connection,
    delete_sso_connection
))]
pub struct Api;
