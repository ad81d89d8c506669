//! Discovery documents and the JWKS, served from memory: built once (metadata) or once per
//! key change (JWKS), with an ETag so caches can revalidate for free.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::error::HttpError;
use crate::ids::ClientId;
use crate::state::AppState;

const METADATA_CACHE: &str = "public, max-age=3600";
/// Short, so verifiers that cache the JWKS see a rotation's new key soon.
const JWKS_CACHE: &str = "public, max-age=60";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
}

/// For an issuer with a path, RFC 8414 metadata lives at the root with the path appended.
pub fn path_issuer_routes(issuer_path: &str) -> Router<AppState> {
    Router::new().route(
        &format!("/.well-known/oauth-authorization-server{issuer_path}"),
        get(metadata),
    )
}

async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let documents = &state.documents;
    cached_json(
        &headers,
        documents.metadata.clone(),
        &documents.metadata_etag,
        METADATA_CACHE,
    )
}

#[derive(Deserialize)]
struct JwksQuery {
    client_id: Option<String>,
}

/// All published keys. With `?client_id=` the keys that verify that client's tokens: those
/// of the algorithms its access and ID tokens are signed with.
async fn jwks(
    State(state): State<AppState>,
    Query(query): Query<JwksQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(client_id) = query.client_id {
        let client_id =
            ClientId::parse(&client_id).ok_or_else(|| HttpError::not_found("client"))?;
        let client = state
            .store
            .client(&client_id)
            .await?
            .ok_or_else(|| HttpError::not_found("client"))?;
        let default = state.keys.default_alg();
        let algs = [
            client.settings.access_token_signing_alg.unwrap_or(default),
            client
                .settings
                .id_token_signed_response_alg
                .unwrap_or(default),
        ];
        let (body, etag) = state.keys.jwks_of(&algs);
        return Ok(cached_json(&headers, body, &etag, JWKS_CACHE));
    }
    let (body, etag) = state.keys.jwks();
    Ok(cached_json(&headers, body, &etag, JWKS_CACHE))
}

fn cached_json(
    request: &HeaderMap,
    body: Bytes,
    etag: &str,
    cache_control: &'static str,
) -> Response {
    let headers = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
