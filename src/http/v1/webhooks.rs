//! `/v1/accounts/{acc}/webhook`: an account's one webhook endpoint (admin+). PUT creates or
//! replaces it (the first PUT answers the `whsec_` secret, once); rotate-secret keeps the
//! previous secret signing for 24 hours. The secret is never shown again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::{self, authorize};
use crate::ids::AccountId;
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::state::AppState;
use crate::store::Change;
use crate::store::webhooks::{self, Webhook};
use crate::webhooks::{PREVIOUS_SECRET_SECONDS, Secret, address};

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
}

/// A webhook as the API shows it: never its secrets.
#[derive(Serialize, utoipa::ToSchema)]
struct WebhookView {
    url: String,
    events: Option<Vec<String>>,
    /// Whether the events of every descendant account are delivered too.
    include_descendants: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Only in the answer to the PUT that created the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookView {
    fn of(webhook: Webhook) -> WebhookView {
        WebhookView {
            url: webhook.url,
            events: webhook.events,
            include_descendants: webhook.include_descendants,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
            secret: None,
        }
    }
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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let webhook = webhooks::find(state.store.pool(), &account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("webhook"))?;
    Ok(Json(WebhookView::of(webhook)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookSettings {
    url: String,
    /// Audit actions to deliver; absent or `null` means all.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// Also deliver the events of every descendant account (`data.account_id` says whose).
    #[serde(default)]
    include_descendants: bool,
}

const MAX_EVENTS: usize = 100;

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
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let events = check_events(settings.events)?;
    // Resolving the host takes time: do it before the transaction takes any lock.
    let url = address::check_url(settings.url.trim(), state.config.webhook_block_private)
        .await
        .map_err(|error| HttpError::invalid_field("url", error.to_string()))?;
    let secret = Secret::generate();
    let sealed = secret.seal(state.keys.key_encryption_key(), &account_id);
    let mut change = locked(&state, &account_id).await?;
    caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    let now = clock::now();
    let webhook = webhooks::upsert(
        &mut *change,
        &account_id,
        url.as_str(),
        events.as_deref(),
        settings.include_descendants,
        &sealed,
        now,
    )
    .await?
    .ok_or_else(|| HttpError::not_found("webhook"))?;
    let created = webhook.secret_encrypted == sealed;
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::WebhookUpdated,
                "webhook",
                account_id.as_str(),
                json!({
                    "url": webhook.url,
                    "events": webhook.events,
                    "include_descendants": webhook.include_descendants,
                    "created": created,
                }),
            ),
            now,
        )
        .await?;
    change.commit().await?;
    let mut view = WebhookView::of(webhook);
    if created {
        view.secret = Some(secret.as_str().to_owned());
        Ok((StatusCode::CREATED, Json(view)).into_response())
    } else {
        Ok(Json(view).into_response())
    }
}

fn check_events(events: Option<Vec<String>>) -> Result<Option<Vec<String>>, HttpError> {
    let Some(events) = events else {
        return Ok(None);
    };
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(HttpError::invalid_field(
            "events",
            "must list 1 to 100 audit actions; leave it out for all",
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        if event.parse::<Action>().is_err() {
            return Err(HttpError::invalid_field(
                format!("events[{index}]"),
                "must be an audit action such as member.added",
            ));
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    Ok(Some(checked))
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
    let mut change = locked(&state, &account_id).await?;
    caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    // Deleted before the event is written: its own deletion is not delivered to it.
    if !webhooks::delete(&mut *change, &account_id).await? {
        return Err(HttpError::not_found("webhook"));
    }
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::WebhookDeleted,
                "webhook",
                account_id.as_str(),
                json!({}),
            ),
            clock::now(),
        )
        .await?;
    change.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct RotatedSecret {
    secret: String,
    previous_secret_expires_at: Timestamp,
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
    Path(acc): Path<String>,
) -> Result<Json<RotatedSecret>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let mut change = locked(&state, &account_id).await?;
    caller::authorize_in(&mut change, &caller, &account_id, Role::Admin).await?;
    let secret = Secret::generate();
    let sealed = secret.seal(state.keys.key_encryption_key(), &account_id);
    let now = clock::now();
    let previous_expires_at = now + PREVIOUS_SECRET_SECONDS;
    if !webhooks::rotate_secret(&mut *change, &account_id, &sealed, previous_expires_at, now)
        .await?
    {
        return Err(HttpError::not_found("webhook"));
    }
    let change = change
        .record(
            &caller.event(
                Some(&account_id),
                Action::WebhookSecretRotated,
                "webhook",
                account_id.as_str(),
                json!({ "previous_secret_expires_at": Timestamp(previous_expires_at) }),
            ),
            now,
        )
        .await?;
    change.commit().await?;
    Ok(Json(RotatedSecret {
        secret: secret.as_str().to_owned(),
        previous_secret_expires_at: Timestamp(previous_expires_at),
    }))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(show_webhook, put_webhook, delete_webhook, rotate_secret))]
pub struct Api;

/// A change holding the account's lock; 404 when there is no such account.
async fn locked<'s>(state: &'s AppState, account_id: &AccountId) -> Result<Change<'s>, HttpError> {
    state
        .store
        .change_account(account_id)
        .await?
        .ok_or_else(|| HttpError::not_found("account"))
}
