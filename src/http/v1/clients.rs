//! `/v1/accounts/{acc}/clients`: an account's admins register, list, read, update (JSON Merge
//! Patch, re-validated as a whole), delete OAuth clients and rotate their secrets. A secret is
//! shown once, in the answer that created it; the previous one stops working at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch, in_our_words};
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::Error;
use crate::manage::caller::Caller;
use crate::manage::clients::{self, ClientView, Patch};
use crate::oauth::client::{
    AccountSelection, AuthMethod, ClientSettings, DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    DEFAULT_REFRESH_TOKEN_TTL_SECONDS, GrantType,
};
use crate::oauth::scope;
use crate::oauth::signing_alg::SigningAlg;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/clients",
            get(list_clients).post(create_client),
        )
        .route(
            "/v1/accounts/{acc}/clients/{cid}",
            get(show_client).patch(update_client).delete(delete_client),
        )
        .route(
            "/v1/accounts/{acc}/clients/{cid}/secret",
            post(rotate_secret),
        )
}

/// A registration as the REST API takes it; the settings a PATCH is merged into have the same
/// shape. Optional fields take the defaults of `tessera clients create`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    grant_types: Vec<GrantType>,
    token_endpoint_auth_method: AuthMethod,
    scopes: Option<Vec<String>>,
    access_token_ttl_seconds: Option<i64>,
    refresh_token_ttl_seconds: Option<i64>,
    refresh_reuse_grace_seconds: Option<i64>,
    allowed_audiences: Option<Vec<String>>,
    /// Whether authorize has the user pick an account (API.md §11); default `none`.
    account_selection: Option<AccountSelection>,
    /// The algorithm of the client's access tokens (API.md §14): `RS256`, `ES256` or
    /// `EdDSA`; default (`null`) the server's.
    access_token_signing_alg: Option<SigningAlg>,
    /// The algorithm of the client's ID tokens; default (`null`) the server's.
    id_token_signed_response_alg: Option<SigningAlg>,
    /// Only a superadmin may set it (API.md §8); it is not one of the tenant's settings.
    first_party: Option<bool>,
}

impl ClientInput {
    /// The settings asked for, not yet validated.
    pub fn into_settings(self) -> ClientSettings {
        ClientSettings {
            name: self.name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris.unwrap_or_default(),
            allowed_origins: self.allowed_origins.unwrap_or_default(),
            grant_types: self.grant_types,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            scopes: self.scopes.unwrap_or_else(|| {
                scope::REGISTERED_DEFAULT
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            }),
            access_token_ttl_seconds: self
                .access_token_ttl_seconds
                .unwrap_or(DEFAULT_ACCESS_TOKEN_TTL_SECONDS),
            refresh_token_ttl_seconds: self
                .refresh_token_ttl_seconds
                .unwrap_or(DEFAULT_REFRESH_TOKEN_TTL_SECONDS),
            refresh_reuse_grace_seconds: self.refresh_reuse_grace_seconds.unwrap_or(0),
            allowed_audiences: self.allowed_audiences.unwrap_or_default(),
            account_selection: self.account_selection.unwrap_or_default(),
            access_token_signing_alg: self.access_token_signing_alg,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
        }
    }
}

/// Fields a PATCH may not name.
const READ_ONLY: [&str; 6] = [
    "client_id",
    "account_id",
    "created_at",
    "updated_at",
    "client_secret",
    "self_registered",
];

/// List an account's OAuth clients.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/clients",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "The account's clients, newest first", body = Page<ClientView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<ClientView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let after = request.position(&state, "clients");
    let rows = clients::list(
        &state.store,
        &caller,
        &account_id,
        after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "clients",
        &request,
        rows,
        ClientView::position,
        |view| view,
    ))
}

/// Create an OAuth client.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/clients",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = ClientInput, content_type = "application/json"),
    responses(
        (status = 201, description = "The new client; `client_secret` (once) for a confidential client", body = ClientView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(input): ApiJson<ClientInput>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let first_party = input.first_party.unwrap_or(false);
    let settings = input.into_settings();
    let view = clients::create(&state.store, &caller, &account_id, settings, first_party).await?;
    state
        .keys
        .publish(&state.store, view.settings.signing_algs())
        .await;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Show an OAuth client.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/clients/{cid}",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("cid" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_client(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, cid)): Path<(String, String)>,
) -> Result<Json<ClientView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        clients::show(&state.store, &caller, &account_id, &cid).await?,
    ))
}

/// Update an OAuth client.
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/clients/{cid}",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("cid" = String, Path, description = "Client id")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of the registration fields, as either media type",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The updated client; `client_secret` (once) when it turned confidential", body = ClientView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_client(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, cid)): Path<(String, String)>,
    MergePatch(patch): MergePatch,
) -> Result<Json<ClientView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let patch = parse_patch(patch);
    let view = clients::update(&state.store, &caller, &account_id, &cid, patch).await?;
    state
        .keys
        .publish(&state.store, view.settings.signing_algs())
        .await;
    Ok(Json(view))
}

/// A merge patch of a client: `first_party` apart, the rest merged into the settings as the
/// change reads them, then read as a registration would be.
fn parse_patch(
    patch: Value,
) -> Result<Patch<impl FnOnce(&mut ClientSettings) -> Result<(), Error>>, HttpError> {
    let Value::Object(mut fields) = patch else {
        return Err(HttpError::invalid_field("body", "must be a JSON object"));
    };
    if let Some(field) = fields.keys().find(|key| READ_ONLY.contains(&key.as_str())) {
        return Err(HttpError::invalid_field(field.clone(), "is read-only"));
    }
    let first_party = match fields.remove("first_party") {
        None => None,
        Some(Value::Bool(value)) => Some(value),
        Some(_) => return Err(HttpError::invalid_field("first_party", "must be a boolean")),
    };
    let settings_patch = Value::Object(fields);
    let merge = move |settings: &mut ClientSettings| {
        let mut merged = serde_json::to_value(&*settings).map_err(|error| {
            Error::conflict(format!("the client's settings cannot be read: {error}"))
        })?;
        json_patch::merge(&mut merged, &settings_patch);
        let input: ClientInput =
            serde_path_to_error::deserialize(merged).map_err(|error| Error::InvalidAt {
                field: error.path().to_string(),
                message: in_our_words(&error.inner().to_string()),
            })?;
        *settings = input.into_settings();
        Ok(())
    };
    Ok(Patch {
        first_party,
        settings: merge,
    })
}

/// Delete an OAuth client.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/clients/{cid}",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("cid" = String, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, cid)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    clients::delete(&state.store, &caller, &account_id, &cid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a client's secret.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/clients/{cid}/secret",
    tag = "clients",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("cid" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client with its new `client_secret`, shown once; the previous one stops working", body = ClientView),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, cid)): Path<(String, String)>,
) -> Result<Json<ClientView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        clients::rotate_secret(&state.store, &caller, &account_id, &cid).await?,
    ))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_clients,
    create_client,
    show_client,
    update_client,
    delete_client,
    rotate_secret
))]
pub struct Api;
