//! `GET /openapi.json`: the OpenAPI 3.1 description of `/v1`, assembled from the
//! `#[utoipa::path]` annotations next to each handler, serialized once when the router is
//! built and served from memory.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::http::v1;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let document = Bytes::from(document().to_json().unwrap_or_default());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], document) }
        }),
    )
}

/// The whole document: every `/v1` family's paths and their schemas.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    for part in v1::openapi() {
        document.merge(part);
    }
    document
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "OAuth 2 / OpenID Connect server issuing account-scoped tokens: the /v1 REST API."
    ),
    components(schemas(Problem, ProblemField)),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags(
        (name = "me", description = "The caller's profile, accounts and invitations"),
        (name = "accounts", description = "Accounts (tenants) and their children"),
        (name = "members", description = "Who belongs to an account, with which role"),
        (name = "invites", description = "Invitations to join an account"),
        (name = "clients", description = "An account's OAuth clients"),
        (name = "api-keys", description = "An account's API keys"),
        (name = "audit-logs", description = "What happened on an account"),
        (name = "webhooks", description = "An account's webhook endpoint"),
        (name = "auth", description = "Account-scoped tokens"),
        (name = "admin", description = "The superadmin API"),
    )
)]
struct Base;

/// `Authorization: Bearer <token>`: an access token of this server (a JWT) or an API key.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// An RFC 9457 problem, as every `/v1` error is answered (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `urn:tessera:problem:<code>`
    #[serde(rename = "type")]
    type_: String,
    title: String,
    status: u16,
    detail: String,
    /// A stable snake_case code: `not_found`, `validation_failed`, `forbidden`, `conflict` …
    code: String,
    /// For `validation_failed`: what is wrong with which field.
    errors: Option<Vec<ProblemField>>,
}

#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    field: String,
    message: String,
}

/// The query of every list: `?limit=` and `?cursor=`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "an OpenAPI description only")]
pub struct ListParams {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `?q=` of the superadmin searches.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "an OpenAPI description only")]
pub struct SearchParams {
    /// `field:value`, `*` wildcards, "quoted phrases", bare words, `AND`/`OR`/`NOT`, parentheses.
    q: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}
