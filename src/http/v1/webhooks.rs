//! `/v1/accounts/{acc}/webhook`: an account's one webhook endpoint (admin+). PUT creates or
//! replaces it (the first PUT answers the `whsec_` secret, once); rotate-secret keeps the
//! previous secret signing for 24 hours. The secret is never shown again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, TargetAccount};
use crate::manage::caller::Caller;
use crate::manage::webhooks::{self, RotatedSecret, Saved, WebhookSettings, WebhookView};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/webhook",
            get(show_webhook).put(put_webhook).delete(delete_webhook),
        )
        .route(
            "/v1/accounts/{acc}/webhook/rotate-secret",
            post(rotate_secret),
        )
        // The current account's (API.md §13).
        .route("/v1/account/webhook/rotate-secret", post(rotate_secret))
}

/// Show the account's webhook.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/webhook",
    tag = "webhooks",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 200, description = "The webhook, without its secret", body = WebhookView),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
) -> Result<Json<WebhookView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        webhooks::show(&state.store, &caller, &account_id).await?,
    ))
}

/// Create or replace the account's webhook.
#[utoipa::path(
    put,
    path = "/v1/accounts/{acc}/webhook",
    tag = "webhooks",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = WebhookSettings, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced webhook", body = WebhookView),
        (status = 201, description = "The new webhook with its `secret`, shown once", body = WebhookView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn put_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(settings): ApiJson<WebhookSettings>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let saved = webhooks::put(
        &state.store,
        state.keys.key_encryption_key(),
        state.config.webhook_block_private,
        &caller,
        &account_id,
        settings,
    )
    .await?;
    Ok(match saved {
        Saved::Created(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Saved::Replaced(view) => Json(view).into_response(),
    })
}

/// Delete the account's webhook.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/webhook",
    tag = "webhooks",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    webhooks::delete(&state.store, &caller, &account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the webhook's signing secret.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/webhook/rotate-secret",
    tag = "webhooks",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    responses(
        (status = 200, description = "The new secret, shown once; the previous one keeps signing until `previous_secret_expires_at`", body = RotatedSecret),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    target: TargetAccount,
) -> Result<Json<RotatedSecret>, HttpError> {
    let account_id = target.resolve(&caller)?;
    let kek = state.keys.key_encryption_key();
    Ok(Json(
        webhooks::rotate_secret(&state.store, kek, &caller, &account_id).await?,
    ))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(show_webhook, put_webhook, delete_webhook, rotate_secret))]
pub struct Api;
