//! `GET /v1/accounts/{acc}/audit-logs`: what happened on an account, newest first, cursor
//! paginated, optionally filtered by `?action=`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::caller::{self, authorize};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::caller::Caller;
use crate::role::Role;
use crate::state::AppState;
use crate::store::Position;
use crate::store::audit_events::{self, Event};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/accounts/{acc}/audit-logs", get(list_audit_logs))
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventView {
    id: String,
    action: String,
    actor: Party,
    target: Party,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: Timestamp,
    details: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Party {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl From<Event> for EventView {
    fn from(event: Event) -> EventView {
        EventView {
            details: serde_json::from_str(&event.details).unwrap_or(Value::Null),
            id: event.id,
            action: event.action,
            actor: Party {
                kind: event.actor_type,
                id: event.actor_id,
            },
            target: Party {
                kind: event.target_type,
                id: Some(event.target_id),
            },
            ip: event.ip,
            user_agent: event.user_agent,
            created_at: Timestamp(event.created_at),
        }
    }
}

/// List an account's audit events.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/audit-logs",
    tag = "audit-logs",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("action" = Option<String>, Query, description = "Only events with this action, e.g. member.added"), openapi::ListParams),
    responses(
        (status = 200, description = "Events, newest first", body = Page<EventView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_audit_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    uri: Uri,
    request: PageRequest,
) -> Result<Json<Page<EventView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    authorize(&state, &caller, &account_id, Role::Admin).await?;
    let action = action_param(&uri)?;
    // A cursor belongs to one filter: reusing it under another is a cursor of another list.
    let list = match &action {
        Some(action) => format!("audit-logs?action={action}"),
        None => "audit-logs".to_owned(),
    };
    let after = request.position(&state, &list)?;
    let rows = audit_events::list(
        state.store.pool(),
        &account_id,
        action.as_deref(),
        &after.id,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        &list,
        &request,
        rows,
        |event| Position {
            created_at: event.created_at,
            id: event.id.clone(),
        },
        EventView::from,
    ))
}

fn action_param(uri: &Uri) -> Result<Option<String>, HttpError> {
    let query = uri.query().unwrap_or_default();
    let mut action = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key == "action" {
            let valid = !value.is_empty()
                && value.len() <= 100
                && value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
            if !valid {
                return Err(HttpError::invalid_field(
                    "action",
                    "must be an action name such as member.added",
                ));
            }
            action = Some(value.into_owned());
        }
    }
    Ok(action)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_audit_logs))]
pub struct Api;
