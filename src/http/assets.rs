//! Static assets of the hosted pages, compiled in and served from memory. The CSP forbids
//! inline styles, so the pages link this stylesheet.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const STYLESHEET: &str = include_str!("../../assets/tessera.css");

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/tessera.css", get(stylesheet))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // A week: the pages stay usable if it is stale, and releases are rarer.
            (header::CACHE_CONTROL, "public, max-age=604800"),
        ],
        STYLESHEET,
    )
}
