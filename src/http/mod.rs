//! HTTP adapters: one module per endpoint family, each exposing `routes()`; this module
//! merges them, nests them under the issuer's path and adds the cross-cutting layers.

mod assets;
mod authorize;
mod cors;
pub mod discovery;
mod end_session;
pub mod error;
mod extract;
mod health;
mod introspect;
mod invite_page;
pub mod login;
mod metrics;
pub mod openapi;
pub mod page;
mod register;
mod token;
mod userinfo;
pub mod v1;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::state::AppState;
use crate::store::sessions::SqlSessionStore;

/// Request bodies beyond this are refused with 413 before any handler reads them.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A login lasts while it is used at least this often.
const SESSION_IDLE_TIMEOUT: time::Duration = time::Duration::hours(12);

const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn router(state: AppState) -> Router {
    let issuer_path = state.issuer.path().to_owned();
    let routes = Router::new()
        .merge(discovery::routes())
        .merge(health::routes())
        .merge(assets::routes())
        .merge(login::routes())
        .merge(authorize::routes())
        .merge(token::routes())
        .merge(userinfo::routes())
        .merge(introspect::routes())
        .merge(register::routes())
        .merge(end_session::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .merge(v1::routes())
        .merge(invite_page::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    let app = if issuer_path.is_empty() {
        routes
    } else {
        // RFC 8414 §3: metadata of an issuer with a path sits at the root, path appended.
        Router::new()
            .nest(&issuer_path, routes)
            .merge(discovery::path_issuer_routes(&issuer_path))
    };
    // Sessions load lazily: endpoints that never touch the session cost no database read.
    let sessions = SessionManagerLayer::new(SqlSessionStore::new(state.store.clone()))
        .with_name("tessera_session")
        .with_path(if issuer_path.is_empty() {
            "/".to_owned()
        } else {
            issuer_path.clone()
        })
        .with_secure(state.issuer.is_https())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE_TIMEOUT));
    app.layer(axum::middleware::map_response_with_state(
        state.clone(),
        page::render_error_pages,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        cors::apply,
    ))
    .layer(sessions)
    .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
    .layer(security_header(
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    ))
    .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
    .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
