//! `POST /oauth2/token` (RFC 6749 §3.2): authenticate the client, parse the grant, hand it to
//! its flow in `tokens`, answer with no-store JSON.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::clock;
use crate::http::error::OAuthJsonError;
use crate::http::extract;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::token::TokenRequest;
use crate::state::AppState;
use crate::tokens;

pub fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/token", post(exchange_token))
}

async fn exchange_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthJsonError> {
    let params = extract::form_params(&headers, &body)?;
    let client = extract::authenticate_client(&state.store, &headers, &params).await?;
    let request = TokenRequest::parse(&params)?;
    if !client.allows_grant(request.grant_type()) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use this grant type",
        )
        .into());
    }
    let now = clock::now();
    let grant_type = request.grant_type().as_str();
    let response = match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            tokens::redeem_code(
                state.issuance(),
                &client,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                now,
            )
            .await?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
            account_id,
        } => {
            tokens::refresh(
                state.issuance(),
                &client,
                &refresh_token,
                scope.as_ref(),
                account_id.as_ref(),
                now,
            )
            .await?
        }
        TokenRequest::ClientCredentials { scope } => {
            tokens::client_credentials(state.issuance(), &client, scope.as_ref(), now).await?
        }
        TokenRequest::TokenExchange {
            subject_token,
            account_id,
            audience,
            scope,
        } => {
            let subject = state
                .keys
                .verify_access_token(&subject_token)
                .map_err(|_| {
                    OAuthError::invalid_grant("the subject token is invalid or expired")
                })?;
            tokens::exchange(
                state.issuance(),
                &client,
                &subject,
                &account_id,
                audience.as_deref(),
                scope.as_ref(),
                now,
            )
            .await?
            .0
        }
    };
    state.metrics.token_issued(grant_type);
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(response),
    )
        .into_response())
}
