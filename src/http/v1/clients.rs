//! `/v1/accounts/{acc}/clients`: an account's admins register, list, read, update (JSON Merge
//! Patch, re-validated as a whole), delete OAuth clients and rotate their secrets. A secret is
//! shown once, in the answer that created it; the previous one stops working at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admin;
use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch};
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, ClientId};
use crate::manage::Error;
use crate::manage::caller::Caller;
use crate::oauth::client::{
    AuthMethod, Client, ClientSettings, DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    DEFAULT_REFRESH_TOKEN_TTL_SECONDS, GrantType,
};
use crate::oauth::scope;
use crate::role::Role;
use crate::secret;
use crate::state::AppState;
use crate::store::{Position, clients};

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

/// A client as the API shows it; `client_secret` only in the answer that made it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientView {
    #[serde(flatten)]
    client: Client,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ClientView {
    /// The client, and its secret when this answer is the one time it is shown; the CLI
    /// prints the same.
    pub fn new(client: Client, client_secret: Option<String>) -> ClientView {
        ClientView {
            client,
            client_secret,
        }
    }
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let after = request.position(&state, "clients")?;
    let rows = clients::list(
        state.store.pool(),
        &account_id,
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "clients",
        &request,
        rows,
        |client| Position {
            created_at: client.created_at.0,
            id: client.client_id.to_string(),
        },
        |client| ClientView::new(client, None),
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let first_party = input.first_party.unwrap_or(false);
    if first_party {
        require_superadmin(&state, &caller).await?;
    }
    let new = admin::NewClient {
        settings: input.into_settings(),
        first_party,
        self_registered: false,
    };
    let registered =
        admin::register_client(&state.store, &account_id, new, caller.origin()).await?;
    let view = ClientView::new(registered.client, registered.secret);
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let client = find(state.store.pool(), &account_id, &cid).await?;
    Ok(Json(ClientView::new(client, None)))
}

async fn find<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    account_id: &AccountId,
    cid: &str,
) -> Result<Client, HttpError> {
    let client_id = ClientId::parse(cid).ok_or_else(|| HttpError::not_found("client"))?;
    clients::find_in_account(db, account_id, &client_id)
        .await?
        .ok_or_else(|| HttpError::not_found("client"))
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let Value::Object(fields) = &patch else {
        return Err(HttpError::invalid_field("body", "must be a JSON object"));
    };
    if let Some(field) = fields.keys().find(|key| READ_ONLY.contains(&key.as_str())) {
        return Err(HttpError::invalid_field(field.clone(), "is read-only"));
    }
    let first_party = match fields.get("first_party") {
        None => None,
        Some(Value::Bool(value)) => Some(*value),
        Some(_) => return Err(HttpError::invalid_field("first_party", "must be a boolean")),
    };
    let current = find(state.store.pool(), &account_id, &cid).await?;
    if first_party.is_some_and(|wanted| wanted != current.first_party) {
        require_superadmin(&state, &caller).await?;
    }
    let mut settings_patch = patch.clone();
    if let Value::Object(fields) = &mut settings_patch {
        fields.remove("first_party");
    }
    // The patch is merged into the client as the transaction reads it, not as read above.
    let merge = |settings: &mut ClientSettings, client_first_party: &mut bool| {
        let mut merged = serde_json::to_value(&*settings).map_err(|error| {
            Error::conflict(format!("the client's settings cannot be read: {error}"))
        })?;
        json_patch::merge(&mut merged, &settings_patch);
        let input: ClientInput =
            serde_path_to_error::deserialize(merged).map_err(|error| Error::InvalidAt {
                field: error.path().to_string(),
                message: crate::http::v1::body::in_our_words(&error.inner().to_string()),
            })?;
        *settings = input.into_settings();
        if let Some(first_party) = first_party {
            *client_first_party = first_party;
        }
        Ok(())
    };
    let (updated, new_secret) = admin::update_client(
        &state.store,
        Some(&account_id),
        &current.client_id,
        merge,
        caller.origin(),
    )
    .await?;
    Ok(Json(ClientView::new(updated, new_secret)))
}

/// `first_party` takes the consent page away from a client's users: the operator's call, so a
/// superadmin's (API.md §4), never a tenant admin's.
async fn require_superadmin(state: &AppState, caller: &Caller) -> Result<(), HttpError> {
    if crate::manage::caller::is_superadmin(&state.store, caller).await? {
        return Ok(());
    }
    Err(HttpError::forbidden(
        "only a superadmin may set first_party",
    ))
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let mut change = state.store.change().await?;
    let client = find(&mut *change, &account_id, &cid).await?;
    clients::delete(&mut *change, &client.client_id).await?;
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::ClientDeleted,
                "client",
                client.client_id.as_str(),
                json!({"name": client.settings.name}),
            ),
            clock::now(),
        )
        .await?;
    change.commit().await?;
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let mut change = state.store.change().await?;
    let mut client = find(&mut *change, &account_id, &cid).await?;
    if client.is_public() {
        return Err(HttpError::conflict(
            "conflict",
            "a public client (token_endpoint_auth_method none) has no secret",
        ));
    }
    let now = clock::now();
    let secret = secret::generate();
    let hash = secret::hash(&secret);
    clients::set_secret_hash(&mut *change, &client.client_id, &hash, now).await?;
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::ClientSecretRotated,
                "client",
                client.client_id.as_str(),
                json!({}),
            ),
            now,
        )
        .await?;
    change.commit().await?;
    client.secret_hash = Some(hash);
    client.updated_at = Timestamp(now);
    Ok(Json(ClientView::new(client, Some(secret))))
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
