//! The `/v1` REST API (API.md §2, §7, §8): the conventions every endpoint shares live
//! here (`caller` authenticates and authorizes, `body` parses, `page` paginates), then one
//! module per resource family.

mod accounts;
mod auth;
pub mod body;
pub mod caller;
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
        .merge(webhooks::routes())
}
