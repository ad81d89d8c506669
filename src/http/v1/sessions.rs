//! `/v1/me/sessions`: the browsers the caller is signed in on, and ending one (API.md §10).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::SessionId;
use crate::manage::caller::Caller;
use crate::manage::sessions::{self, SessionView};
use crate::state::AppState;
use crate::store::Position;

const LIST: &str = "me/sessions";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me/sessions", get(list_sessions))
        .route("/v1/me/sessions/{id}", delete(end_session))
}

/// List the browsers the caller is signed in on.
#[utoipa::path(
    get,
    path = "/v1/me/sessions",
    tag = "me",
    params(openapi::ListParams),
    responses(
        (status = 200, description = "The caller's signed-in browsers, newest first; `current` marks the one the caller's token came through", body = Page<SessionView>),
        openapi::QueryErrors
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    request: PageRequest,
) -> Result<Json<Page<SessionView>>, HttpError> {
    let after = request.position(&state, LIST)?;
    let rows = sessions::list(
        &state.store,
        &caller,
        &after,
        request.fetch_limit(),
        clock::now(),
    )
    .await?;
    Ok(page(
        &state,
        LIST,
        &request,
        rows,
        |session| Position {
            created_at: session.created_at.0,
            id: session.id.clone(),
        },
        |session| session,
    ))
}

/// Sign a browser out.
#[utoipa::path(
    delete,
    path = "/v1/me/sessions/{id}",
    tag = "me",
    params(("id" = String, Path, description = "Session id (ses_...)")),
    responses(
        (status = 204, description = "That browser is signed out and the refresh tokens issued through it are revoked"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let id = SessionId::parse(&id).ok_or_else(|| HttpError::not_found("session"))?;
    sessions::end(&state.store, &caller, &id, clock::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_sessions, end_session))]
pub struct Api;
