//! `/v1/accounts/{acc}/domains`: an account's email domains (API.md §12, `account:write`).
//! A claim answers the DNS TXT record to publish; `verify` looks it up; the verified names
//! are the account's `email_domains`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::caller::Caller;
use crate::manage::domains::{self, DomainView};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/domains",
            get(list_domains).post(create_domain),
        )
        .route(
            "/v1/accounts/{acc}/domains/{id}",
            get(show_domain).delete(delete_domain),
        )
        .route(
            "/v1/accounts/{acc}/domains/{id}/verify",
            post(verify_domain),
        )
}

/// List an account's domains.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/domains",
    tag = "domains",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::ListParams),
    responses(
        (status = 200, description = "The account's domains, newest first", body = Page<DomainView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
) -> Result<Json<Page<DomainView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let after = request.position(&state, "domains");
    let rows = domains::list(
        &state.store,
        &caller,
        &account_id,
        after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "domains",
        &request,
        rows,
        DomainView::position,
        |view| view,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    /// A domain name such as `example.com` (lower-cased; international names in IDNA form).
    domain: String,
}

/// Claim a domain.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/domains",
    tag = "domains",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewDomain, content_type = "application/json"),
    responses(
        (status = 201, description = "The pending claim, with the TXT record to publish", body = DomainView),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn create_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewDomain>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let view = domains::create(&state.store, &caller, &account_id, &new.domain).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Show a domain.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/domains/{id}",
    tag = "domains",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Domain id (dom_...)")),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<Json<DomainView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        domains::show(&state.store, &caller, &account_id, &id).await?,
    ))
}

/// Verify a domain by its DNS TXT record.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/domains/{id}/verify",
    tag = "domains",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Domain id (dom_...)")),
    responses(
        (status = 200, description = "The domain, verified", body = DomainView),
        openapi::AuthErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn verify_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<Json<DomainView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        domains::verify(
            &state.store,
            &state.config.dns_servers,
            &caller,
            &account_id,
            &id,
        )
        .await?,
    ))
}

/// Delete a domain.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/domains/{id}",
    tag = "domains",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Domain id (dom_...)")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    domains::delete(&state.store, &caller, &account_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_domains, create_domain, show_domain, verify_domain, delete_domain))]
pub struct Api;
