//! `GET /v1/accounts/{acc}/audit-logs`: what happened on an account, newest first, cursor
//! paginated, optionally filtered by `?action=`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::audit_logs::{self, EventView, Filter};
use crate::manage::caller::Caller;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/accounts/{acc}/audit-logs", get(list_audit_logs))
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
    let action = action_param(&uri);
    // A cursor belongs to one filter: reusing it under another is a cursor of another list.
    let list = match &action {
        Ok(Some(action)) => format!("audit-logs?action={action}"),
        _ => "audit-logs".to_owned(),
    };
    let filter = action.and_then(|action| {
        Ok(Filter {
            after: request.position(&state, &list)?,
            action,
        })
    });
    let rows = audit_logs::list(
        &state.store,
        &caller,
        &account_id,
        filter,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        &list,
        &request,
        rows,
        EventView::position,
        |view| view,
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
