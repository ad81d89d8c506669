//! HTTP adapters: one module per endpoint family, each exposing `routes()`; this module
//! merges them, nests them under the issuer's path and adds the cross-cutting layers.

mod access_log;
mod account_page;
mod account_picker;
mod assets;
mod authorize;
mod cors;
pub mod discovery;
mod end_session;
pub mod error;
mod extract;
mod files;
mod health;
mod introspect;
mod invite_page;
pub mod login;
mod metrics;
pub mod openapi;
pub mod page;
mod register;
mod security_page;
mod token;
mod userinfo;
pub mod v1;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::http::error::HttpError;
use crate::state::AppState;
use crate::store::sessions::SqlSessionStore;

/// Request bodies beyond this are refused with 413 before any handler reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
        .merge(account_picker::routes())
        .merge(token::routes())
        .merge(userinfo::routes())
        .merge(introspect::routes())
        .merge(register::routes())
        .merge(end_session::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .merge(v1::routes())
        .merge(invite_page::routes())
        .merge(account_page::routes())
        .merge(security_page::routes())
        .fallback(not_found)
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
    // The local file store's signed URLs take bodies of any size (streamed) and no session.
    let file_routes = files::routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::track,
    ));
    let file_routes = if issuer_path.is_empty() {
        file_routes
    } else {
        Router::new().nest(&issuer_path, file_routes)
    };
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
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        refuse_oversized_v1_bodies,
    ))
    .merge(file_routes)
    .layer(security_header(
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    ))
    .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
    .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
    .layer(axum::middleware::from_fn(access_log::log_request))
    .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// A path no route takes: a problem+json 404 under `/v1`, the HTML "Page not found" page
/// elsewhere (a browser that follows a stale link sees a page, not a blank screen).
async fn not_found(uri: Uri) -> Response {
    // Below an issuer with a path this router is nested, and `uri` is relative to it.
    if v1::owns(uri.path()) {
        v1::no_such_endpoint().into_response()
    } else {
        page::PageError::NotFound.into_response()
    }
}

/// tower-http's body limit refuses a declared length over the limit in plain text before any
/// router runs; under `/v1` the same refusal comes first, as problem+json. (A body that
/// declares no length is cut off by that limit as it is read, and `v1::body` reports it.)
async fn refuse_oversized_v1_bodies(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let oversized = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES as u64);
    let under_v1 = request
        .uri()
        .path()
        .strip_prefix(state.issuer.path())
        .is_some_and(v1::owns);
    if oversized && under_v1 {
        return HttpError::payload_too_large().into_response();
    }
    next.run(request).await
}
