//! `/v1/accounts/{acc}/onboarding`: an account's onboarding checklist, read and patched.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::MergePatch;
use crate::http::v1::caller;
use crate::manage::caller::Caller;
use crate::manage::onboarding;
use crate::onboarding::Onboarding;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/accounts/{acc}/onboarding",
        get(show_onboarding).patch(update_onboarding),
    )
}

/// Show an account's onboarding checklist.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/onboarding",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 200, description = "The built-in steps (computed now) and the application's", body = Onboarding),
        (status = 401, description = openapi::UNAUTHORIZED, body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        openapi::NotFound
    )
)]
async fn show_onboarding(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
) -> Result<Json<Onboarding>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        onboarding::show(&state.store, &caller, &account_id).await?,
    ))
}

/// Set application steps of the onboarding checklist (JSON merge patch).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/onboarding",
    tag = "accounts",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(
        description = "JSON Merge Patch (RFC 7396): `{\"steps\": {name: true | false | null}}`",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The checklist", body = Onboarding),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_onboarding(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    MergePatch(patch): MergePatch,
) -> Result<Json<Onboarding>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let checklist = onboarding::update(&state.store, &caller, &account_id, &patch).await?;
    Ok(Json(checklist))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(show_onboarding, update_onboarding))]
pub struct Api;
