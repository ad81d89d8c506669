//! `/v1/me/identities`: the caller's sign-ins at other OpenID providers, and unlinking one
//! (API.md §12).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::identity::IdentityView;
use crate::manage::caller::Caller;
use crate::manage::identities;
use crate::state::AppState;
use crate::store::Position;

const LIST: &str = "me/identities";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me/identities", get(list_identities))
        .route("/v1/me/identities/{id}", delete(unlink_identity))
}

/// List the caller's linked identities.
#[utoipa::path(
    get,
    path = "/v1/me/identities",
    tag = "me",
    params(openapi::ListParams),
    responses(
        (status = 200, description = "The caller's identities at other providers, newest first", body = Page<IdentityView>),
        openapi::QueryErrors
    )
)]
async fn list_identities(
    State(state): State<AppState>,
    caller: Caller,
    request: PageRequest,
) -> Result<Json<Page<IdentityView>>, HttpError> {
    let after = request.position(&state, LIST)?;
    let rows = identities::list(&state.store, &caller, &after, request.fetch_limit()).await?;
    Ok(page(
        &state,
        LIST,
        &request,
        rows,
        |identity| Position {
            created_at: identity.created_at.0,
            id: identity.id.clone(),
        },
        |identity| identity,
    ))
}

/// Unlink one of the caller's identities.
#[utoipa::path(
    delete,
    path = "/v1/me/identities/{id}",
    tag = "me",
    params(("id" = String, Path, description = "Identity id (idn_...)")),
    responses(
        (status = 204, description = "The provider no longer signs the caller in"),
        (status = 409, description = "It is the caller's last way to sign in (`last_sign_in_method`): set a password or add a passkey first", body = openapi::Problem),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn unlink_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    identities::remove(&state.store, &caller, &id, clock::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_identities, unlink_identity))]
pub struct Api;
