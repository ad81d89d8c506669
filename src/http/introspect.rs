//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009): the client
//! authenticates, then `introspection` answers what it may see and `revocation` revokes what
//! belongs to it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::clock;
use crate::http::error::OAuthJsonError;
use crate::http::extract;
use crate::introspection;
use crate::oauth::error::OAuthError;
use crate::revocation;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/revoke", post(revoke))
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthJsonError> {
    let params = extract::form_params(&headers, &body)?;
    let client = extract::authenticate_client(&state.store, &headers, &params).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client().into());
    }
    let token = params.require("token")?;
    let answer = introspection::introspect(
        &state.store,
        &state.keys,
        &state.issuer,
        &client,
        token,
        clock::now(),
    )
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(answer)).into_response())
}

/// RFC 7009: 200 for every well-formed request, whether or not anything was revoked.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthJsonError> {
    let params = extract::form_params(&headers, &body)?;
    let client = extract::authenticate_client(&state.store, &headers, &params).await?;
    let token = params.require("token")?;
    revocation::revoke(&state.store, &state.keys, &client, token, clock::now()).await?;
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
