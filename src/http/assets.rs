//! Static assets of the hosted pages, compiled in and served from memory. The CSP forbids
//! inline styles and scripts, so the pages link these: the stylesheet, and the one script,
//! for the passkey buttons (the pages work without it).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const STYLESHEET: &str = include_str!("../../assets/tessera.css");
const PASSKEYS_SCRIPT: &str = include_str!("../../assets/passkeys.js");

/// A week: the pages stay usable if an asset is stale, and releases are rarer.
const CACHE_CONTROL: &str = "public, max-age=604800";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/tessera.css", get(stylesheet))
        .route("/assets/passkeys.js", get(passkeys_script))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        STYLESHEET,
    )
}

async fn passkeys_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        PASSKEYS_SCRIPT,
    )
}
