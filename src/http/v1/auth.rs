//! `POST /v1/auth/account-token` (API.md §7): the REST form of the RFC 8693 exchange. The
//! caller's login token, issued to some client, becomes an account-scoped token of that
//! same client, by the same rules and code as the token endpoint's grant.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller::AnyScopeCaller;
use crate::ids::{AccountId, ClientId};
use crate::oauth::client::GrantType;
use crate::oauth::error::ErrorCode;
use crate::oauth::scope::Scope;
use crate::role::RoleId;
use crate::state::AppState;
use crate::tokens::{self, TokenError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/auth/account-token", post(issue_account_token))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountTokenRequest {
    account_id: String,
    audience: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AccountTokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    account_id: AccountId,
    role: RoleId,
    /// What the role allows there, as the token's `permissions` claim.
    permissions: Vec<String>,
    /// The ancestor whose membership the role comes from, when not the account's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    inherited_from: Option<AccountId>,
    scope: String,
}

/// Trade a user token for an account-scoped token.
#[utoipa::path(
    post,
    path = "/v1/auth/account-token",
    tag = "auth",
    request_body(content = AccountTokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "An account-scoped access token; no refresh token", body = AccountTokenResponse),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn issue_account_token(
    State(state): State<AppState>,
    AnyScopeCaller(caller): AnyScopeCaller,
    ApiJson(request): ApiJson<AccountTokenRequest>,
) -> Result<Response, HttpError> {
    let not_found = || HttpError::not_found("account");
    let account_id = AccountId::parse(&request.account_id).ok_or_else(not_found)?;
    let scope = request
        .scope
        .as_deref()
        .map(|text| {
            Scope::parse(text).ok_or_else(|| HttpError::invalid_field("scope", "malformed scope"))
        })
        .transpose()?;
    let subject = caller.access_token()?;
    let client = match ClientId::parse(&subject.client_id) {
        Some(client_id) => state.store.client(&client_id).await?,
        None => None,
    }
    .ok_or_else(HttpError::invalid_token)?;
    if !client.allows_grant(GrantType::TokenExchange) {
        return Err(HttpError::forbidden(
            "the token's client may not obtain account tokens",
        ));
    }
    let (response, standing) = tokens::exchange(
        state.issuance(),
        &client,
        subject,
        &account_id,
        request.audience.as_deref(),
        scope.as_ref(),
        clock::now(),
    )
    .await
    .map_err(|error| match error {
        TokenError::OAuth(error) => match error.code {
            ErrorCode::InvalidTarget if error.description == tokens::AUDIENCE_REFUSED => {
                HttpError::invalid_field("audience", error.description)
            }
            ErrorCode::InvalidTarget => not_found(),
            ErrorCode::InvalidScope => {
                HttpError::invalid_field("scope", "must not be wider than the login token's")
            }
            ErrorCode::InvalidRequest => HttpError::invalid_field("audience", error.description),
            ErrorCode::InsufficientUserAuthentication => HttpError::new(
                axum::http::StatusCode::FORBIDDEN,
                "mfa_required",
                error.description,
            ),
            _ => HttpError::forbidden(error.description),
        },
        TokenError::Database(error) => HttpError::internal(&error),
        TokenError::Encoding(error) => HttpError::internal(&error),
        TokenError::Keys(error) => HttpError::internal(&error),
    })?;
    state.metrics.token_issued("account_token");
    let body = AccountTokenResponse {
        access_token: response.access_token,
        token_type: response.token_type,
        expires_in: response.expires_in,
        account_id,
        permissions: standing.permissions.ids(),
        role: standing.role,
        inherited_from: standing.inherited_from,
        scope: response.scope,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(issue_account_token))]
pub struct Api;
