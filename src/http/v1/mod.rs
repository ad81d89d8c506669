//! The `/v1` REST API (API.md §2, §7, §8): the conventions every endpoint shares live
//! here (`caller` authenticates and authorizes, `body` parses, `page` paginates), then one
//! module per resource family.

mod accounts;
pub mod admin;
mod api_keys;
mod audit_logs;
mod auth;
mod billing;
pub mod body;
pub mod caller;
pub mod clients;
mod domains;
mod factors;
mod files;
mod identities;
pub mod invites;
mod me;
mod members;
mod onboarding;
pub mod page;
mod roles;
mod sessions;
mod sso_connections;
mod webhooks;

use axum::Router;
use axum::http::StatusCode;

use crate::http::error::HttpError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(me::routes())
        .merge(factors::routes())
        .merge(sessions::routes())
        .merge(identities::routes())
        .merge(accounts::routes())
        .merge(members::routes())
        .merge(onboarding::routes())
        .merge(roles::routes())
        .merge(invites::routes())
        .merge(clients::routes())
        .merge(api_keys::routes())
        .merge(audit_logs::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
        .merge(domains::routes())
        .merge(files::routes())
        .merge(sso_connections::routes())
        .merge(billing::routes())
        // Last, so that it covers every route above; axum still sends `Allow`.
        .method_not_allowed_fallback(method_not_allowed)
}

/// Whether `path` (below the issuer's path) is the REST API's, whose every error is
/// problem+json (API.md §2), the router's own 404, 405 and 413 included.
pub fn owns(path: &str) -> bool {
    path.strip_prefix("/v1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The answer to a path under `/v1` that has no route.
pub fn no_such_endpoint() -> HttpError {
    HttpError::not_found("endpoint")
}

async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// The OpenAPI descriptions of every family, for `/openapi.json`.
pub fn openapi() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        auth::Api::openapi(),
        me::Api::openapi(),
        factors::Api::openapi(),
        sessions::Api::openapi(),
        identities::Api::openapi(),
        accounts::Api::openapi(),
        members::Api::openapi(),
        onboarding::Api::openapi(),
        roles::Api::openapi(),
        invites::Api::openapi(),
        clients::Api::openapi(),
        api_keys::Api::openapi(),
        audit_logs::Api::openapi(),
        webhooks::Api::openapi(),
        domains::Api::openapi(),
        files::Api::openapi(),
        sso_connections::Api::openapi(),
        billing::Api::openapi(),
        admin::Api::openapi(),
    ]
}
