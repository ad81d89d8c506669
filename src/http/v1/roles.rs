//! `/v1/permissions` (the catalogue) and `/v1/accounts/{acc}/roles`: the roles usable in an
//! account, built-in first; custom roles created, changed by JSON Merge Patch and deleted
//! (API.md §11).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch};
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::caller::Caller;
use crate::manage::roles::{self, NewRole};
use crate::permission::CATALOGUE;
use crate::role::Role;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/permissions", get(list_permissions))
        .route(
            "/v1/accounts/{acc}/roles",
            get(list_roles).post(create_role),
        )
        .route(
            "/v1/accounts/{acc}/roles/{role}",
            get(show_role).patch(update_role).delete(delete_role),
        )
}

/// One permission of the catalogue.
#[derive(Serialize, utoipa::ToSchema)]
struct PermissionView {
    id: &'static str,
    description: &'static str,
}

/// The permission catalogue; application permissions (`app:<name>`) come on top.
#[utoipa::path(
    get,
    path = "/v1/permissions",
    tag = "roles",
    responses(
        (status = 200, description = "Every permission of the catalogue, in order", body = Page<PermissionView>),
        openapi::AuthErrors
    )
)]
async fn list_permissions(_caller: Caller) -> Json<Page<PermissionView>> {
    Json(Page {
        data: CATALOGUE
            .iter()
            .map(|(_, id, description)| PermissionView { id, description })
            .collect(),
        next_cursor: None,
    })
}

/// List the roles usable in an account.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/roles",
    tag = "roles",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "Built-in roles, then custom roles newest first", body = Page<Role>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<Role>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let rows = roles::list(
        &state.store,
        &caller,
        &account_id,
        || request.position(&state, "roles"),
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "roles",
        &request,
        rows,
        roles::position,
        |role| role,
    ))
}

/// Show a role.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/roles/{role}",
    tag = "roles",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("role" = String, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = Role),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, role)): Path<(String, String)>,
) -> Result<Json<Role>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        roles::show(&state.store, &caller, &account_id, &role).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRole {
    /// `[a-z0-9_-]{2,32}`, not a built-in role's id nor `client`.
    id: String,
    name: String,
    description: Option<String>,
    /// Catalogue ids and `app:<name>` permissions.
    permissions: Vec<String>,
}

/// Create a custom role.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/roles",
    tag = "roles",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = CreateRole, content_type = "application/json"),
    responses(
        (status = 201, description = "The new role", body = Role),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<CreateRole>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let new = NewRole {
        id: new.id,
        name: new.name,
        description: new.description,
        permissions: new.permissions,
    };
    let role = roles::create(&state.store, &caller, &account_id, new).await?;
    Ok((StatusCode::CREATED, Json(role)).into_response())
}

/// Change a custom role (JSON merge patch of `name`, `description`, `permissions`).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/roles/{role}",
    tag = "roles",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("role" = String, Path, description = "Role id")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of name, description and permissions",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The changed role", body = Role),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, role)): Path<(String, String)>,
    MergePatch(patch): MergePatch,
) -> Result<Json<Role>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        roles::update(&state.store, &caller, &account_id, &role, &patch).await?,
    ))
}

/// Delete a custom role nobody holds.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/roles/{role}",
    tag = "roles",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("role" = String, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, role)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    roles::delete(&state.store, &caller, &account_id, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_permissions,
    list_roles,
    show_role,
    create_role,
    update_role,
    delete_role
))]
pub struct Api;
