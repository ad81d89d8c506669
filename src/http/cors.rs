//! CORS for the endpoints browsers call directly (`/oauth2/token`, `/oauth2/userinfo`,
//! `/.well-known/jwks.json`), driven by the clients' `allowed_origins`. An origin is allowed
//! when a client registered it; at the token endpoint, when the client the request names
//! registered it. The client comes from `Store::client`, which forgets a client the moment it
//! changes; requests without an `Origin` header cost nothing.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::extract;
use crate::ids::ClientId;
use crate::state::AppState;
use crate::tokens;

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    Userinfo,
    Jwks,
}

impl Endpoint {
    fn of(state: &AppState, path: &str) -> Option<Endpoint> {
        match path.strip_prefix(state.issuer.path())? {
            "/oauth2/token" => Some(Endpoint::Token),
            "/oauth2/userinfo" => Some(Endpoint::Userinfo),
            "/.well-known/jwks.json" => Some(Endpoint::Jwks),
            _ => None,
        }
    }

    fn methods(self) -> &'static str {
        match self {
            Endpoint::Token => "POST",
            Endpoint::Userinfo => "GET, POST",
            Endpoint::Jwks => "GET",
        }
    }
}

pub async fn apply(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(endpoint) = Endpoint::of(&state, request.uri().path()) else {
        return next.run(request).await;
    };
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        let mut response = next.run(request).await;
        vary(&mut response);
        return response;
    };
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        // A preflight carries no credentials: any client's registration of the origin will
        // do; the actual request is checked against its own client.
        let mut response = StatusCode::NO_CONTENT.into_response();
        vary(&mut response);
        if any_client_allows(&state, &origin).await {
            let headers = response.headers_mut();
            allow_origin(headers, &origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(endpoint.methods()),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
        }
        return response;
    }
    let (request, allowed) = if endpoint == Endpoint::Token {
        let (parts, body) = request.into_parts();
        // The body limit layer outside this one has already bounded the body.
        let Ok(bytes) = to_bytes(body, usize::MAX).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        let allowed = match token_client(&parts.headers, &bytes) {
            Some(client_id) => client_allows(&state, &client_id, &origin).await,
            None => any_client_allows(&state, &origin).await,
        };
        (Request::from_parts(parts, Body::from(bytes)), allowed)
    } else {
        let allowed = any_client_allows(&state, &origin).await;
        (request, allowed)
    };
    let mut response = next.run(request).await;
    vary(&mut response);
    if allowed {
        allow_origin(response.headers_mut(), &origin);
    }
    response
}

/// The client a token request names: in HTTP Basic credentials or the `client_id` field.
fn token_client(headers: &HeaderMap, body: &[u8]) -> Option<ClientId> {
    let from_basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(extract::parse_basic)
        .map(|(id, _)| id);
    let id = from_basic.or_else(|| {
        url::form_urlencoded::parse(body)
            .find(|(key, _)| key == "client_id")
            .map(|(_, value)| value.into_owned())
    })?;
    ClientId::parse(&id)
}

async fn client_allows(state: &AppState, client_id: &ClientId, origin: &str) -> bool {
    match state.store.client(client_id).await {
        Ok(client) => client.is_some_and(|client| {
            client
                .settings
                .allowed_origins
                .iter()
                .any(|allowed| allowed == origin)
        }),
        Err(error) => {
            tracing::error!(%error, "cannot check a client's allowed origins");
            false
        }
    }
}

async fn any_client_allows(state: &AppState, origin: &str) -> bool {
    tokens::origin_is_allowed(&state.store, origin)
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "cannot check allowed origins");
            false
        })
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

fn vary(response: &mut Response) {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
}
