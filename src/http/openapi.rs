//! `GET /openapi.json`: the OpenAPI 3.1 description of `/v1`, assembled from the
//! `#[utoipa::path]` annotations next to each handler, serialized once when the router is
//! built and served from memory.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

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
    describe_current_account(&mut document);
    document
}

/// The current-account paths (API.md §13) and the `/v1/accounts/{acc}` forms whose handlers
/// serve them, every method alike.
const CURRENT_ACCOUNT: [(&str, &str); 5] = [
    ("/v1/account", "/v1/accounts/{acc}"),
    ("/v1/account/members", "/v1/accounts/{acc}/members"),
    ("/v1/account/invites", "/v1/accounts/{acc}/invites"),
    (
        "/v1/account/webhook/rotate-secret",
        "/v1/accounts/{acc}/webhook/rotate-secret",
    ),
    ("/v1/account/profile", "/v1/accounts/{acc}/profile"),
];

/// Describes each current-account path as its `{acc}` form, without the `acc` parameter (the
/// credential names the account) and with operation ids of its own.
fn describe_current_account(document: &mut utoipa::openapi::OpenApi) {
    for (alias, original) in CURRENT_ACCOUNT {
        let Some(mut item) = document.paths.paths.get(original).cloned() else {
            continue;
        };
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(parameters) = &mut operation.parameters {
                parameters.retain(|parameter| parameter.name != "acc");
            }
            operation.operation_id = operation
                .operation_id
                .as_ref()
                .map(|id| format!("{id}_of_current_account"));
            operation.description = Some(format!(
                "As `{original}`, for the account of the caller's account-scoped token or API key; a user-level token → 400 `account_token_required`."
            ));
        }
        document.paths.paths.insert(alias.to_owned(), item);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "OAuth 2 / OpenID Connect server issuing account-scoped tokens: the /v1 REST API. \
            The OAuth 2 and OpenID Connect endpoints (/oauth2/authorize, /oauth2/token with the \
            RFC 8693 token exchange, /oauth2/userinfo, /oauth2/introspect, /oauth2/revoke, \
            /oauth2/register, /oauth2/logout, /.well-known/openid-configuration, \
            /.well-known/jwks.json) are listed in the discovery document and described, with \
            examples, in docs/http.md of the Tessera repository."
    ),
    components(schemas(Problem, ProblemField)),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags(
        (name = "me", description = "The caller's profile, accounts, invitations and signed-in browsers"),
        (name = "accounts", description = "Accounts (tenants) and their children"),
        (name = "members", description = "Who belongs to an account, with which role"),
        (name = "invites", description = "Invitations to join an account"),
        (name = "clients", description = "An account's OAuth clients"),
        (name = "api-keys", description = "An account's API keys"),
        (name = "audit-logs", description = "What happened on an account"),
        (name = "webhooks", description = "An account's webhook endpoint"),
        (name = "domains", description = "An account's email domains, verified by DNS"),
        (name = "files", description = "An account's files: presigned upload and download URLs, multipart uploads"),
        (name = "sso-connections", description = "An account's upstream OpenID Connect providers for its verified domains"),
        (name = "billing", description = "An account's billing records: subscriptions, invoices, payments"),
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

/// The content type of every `/v1` error.
pub const PROBLEM_JSON: &str = "application/problem+json";

// What each error status means, the same on every `/v1` path that answers it.
pub const INVALID_REQUEST: &str = "Invalid request (validation_failed)";
pub const UNAUTHORIZED: &str = "No or invalid bearer token";
pub const FORBIDDEN: &str = "Authenticated, but not allowed";
pub const NOT_FOUND: &str = "No such resource, or no relation to it";
pub const CONFLICT: &str = "Conflict";
pub const GONE: &str = "Gone";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "Wrong Content-Type";

/// The errors of an endpoint that checks the caller's role and takes neither a query nor a
/// body: no or an invalid bearer token, or a role that does not allow it. Listed in a path's
/// `responses(...)` next to the success response, with [`NotFound`] when the path names a
/// resource.
#[derive(IntoResponses)]
pub enum AuthErrors {
    #[response(status = 401, description = UNAUTHORIZED, content_type = PROBLEM_JSON)]
    Unauthorized(Problem),
    #[response(status = 403, description = FORBIDDEN, content_type = PROBLEM_JSON)]
    Forbidden(Problem),
}

/// [`AuthErrors`] and a 400 for an invalid query (`?limit=`, `?cursor=`, `?q=` …).
#[derive(IntoResponses)]
pub enum QueryErrors {
    #[response(status = 400, description = INVALID_REQUEST, content_type = PROBLEM_JSON)]
    InvalidRequest(Problem),
    #[response(status = 401, description = UNAUTHORIZED, content_type = PROBLEM_JSON)]
    Unauthorized(Problem),
    #[response(status = 403, description = FORBIDDEN, content_type = PROBLEM_JSON)]
    Forbidden(Problem),
}

/// [`AuthErrors`] and the errors of a JSON body: 400 when it is invalid, 415 when it is not
/// JSON.
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(status = 400, description = INVALID_REQUEST, content_type = PROBLEM_JSON)]
    InvalidRequest(Problem),
    #[response(status = 401, description = UNAUTHORIZED, content_type = PROBLEM_JSON)]
    Unauthorized(Problem),
    #[response(status = 403, description = FORBIDDEN, content_type = PROBLEM_JSON)]
    Forbidden(Problem),
    #[response(status = 415, description = UNSUPPORTED_MEDIA_TYPE, content_type = PROBLEM_JSON)]
    UnsupportedMediaType(Problem),
}

/// 404: what the path names does not exist, or the caller has no relation to it.
#[derive(IntoResponses)]
#[response(status = 404, description = NOT_FOUND, content_type = PROBLEM_JSON)]
pub struct NotFound(pub Problem);

/// 409: the request contradicts the current state (a duplicate, an answered invitation …).
#[derive(IntoResponses)]
#[response(status = 409, description = CONFLICT, content_type = PROBLEM_JSON)]
pub struct Conflict(pub Problem);

/// 410: the resource existed but can no longer be used (an expired invitation).
#[derive(IntoResponses)]
#[response(status = 410, description = GONE, content_type = PROBLEM_JSON)]
pub struct Gone(pub Problem);

/// 429 `rate_limited`: too many requests of this kind; `Retry-After` says when to try again.
#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "Too many requests (rate_limited); see Retry-After",
    content_type = PROBLEM_JSON
)]
pub struct RateLimited(pub Problem);

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

/// `?q=` of the billing lists, with the list's `limit` and `cursor`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "an OpenAPI description only")]
pub struct BillingSearchParams {
    /// `field:value` over `external_id`, `external_customer_id`, `status` and `plan`
    /// (subscriptions), `currency` (invoices, payments), `payment_method` (payments); `*`
    /// wildcards, "quoted phrases", bare words, `AND`/`OR`/`NOT`, parentheses.
    q: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
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
