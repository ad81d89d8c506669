//! The `/v1` REST API (API.md §2, §7, §8): the conventions every endpoint shares live
//! here (`caller` authenticates and authorizes, `body` parses, `page` paginates), then one
//! module per resource family.

mod accounts;
mod admin;
mod api_keys;
mod audit_logs;
mod auth;
pub mod body;
pub mod caller;
pub mod clients;
mod invites;
mod me;
mod members;
pub mod page;
mod webhooks;

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(me::routes())
        .merge(accounts::routes())
        .merge(members::routes())
        .merge(invites::routes())
        .merge(clients::routes())
        .merge(api_keys::routes())
        .merge(audit_logs::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
}

/// The OpenAPI descriptions of every family, for `/openapi.json`.
pub fn openapi() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        auth::Api::openapi(),
        me::Api::openapi(),
        accounts::Api::openapi(),
        members::Api::openapi(),
        invites::Api::openapi(),
        clients::Api::openapi(),
        api_keys::Api::openapi(),
        audit_logs::Api::openapi(),
        webhooks::Api::openapi(),
        admin::Api::openapi(),
    ]
}
