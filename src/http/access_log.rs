//! The access log: one `info` line per request (target `tessera::access`) with the method, the
//! matched route, the status, the duration and a request id. The route is the pattern
//! (`/invites/{token}`), never the request's path or query, so that invitation and reset
//! tokens, codes and other secrets in URLs never reach the log.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Carries the request id in and out: a proxy's id is kept when it is a plain token,
/// otherwise one is made; the answer always says which one was used.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route a request matched, handed from inside the router (where it is known, by
/// `metrics::track`) to this outermost layer through the response's extensions.
#[derive(Clone, Debug)]
pub struct Route(pub String);

/// The outermost layer: logs every request once it is answered, whatever answered it.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_plain_id(id))
        .map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned);
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or("unmatched", |route| route.0.as_str());
    tracing::info!(
        target: "tessera::access",
        method = %method,
        route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_micros() as f64 / 1000.0,
        request_id = %request_id,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// An id a client or proxy sent is logged only when it cannot forge or break a log line.
fn is_plain_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::is_plain_id;

    #[test]
    fn only_plain_request_ids_are_taken_from_the_request() {
        assert!(is_plain_id("01J9ZQ-abc_def.1"));
        assert!(!is_plain_id(""));
        assert!(!is_plain_id("a b"));
        assert!(!is_plain_id("x\" level=ERROR"));
        assert!(!is_plain_id(&"a".repeat(65)));
    }
}
