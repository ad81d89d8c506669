//! `GET /metrics` (Prometheus text format) and the middleware that counts and times every
//! request by its matched route: never the raw URI, so labels stay few.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::access_log::Route;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(show_metrics))
}

async fn show_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Records one request after it was answered (requests no route matched share one label),
/// and hands its route to the access log (`access_log::Route`, read by the outermost layer,
/// which the route is not known to): one layer inside the router for both.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let method = request.method().clone();
    let mut response = next.run(request).await;
    state.metrics.http_request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(route) = route {
        response.extensions_mut().insert(Route(route));
    }
    response
}
