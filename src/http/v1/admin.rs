//! `/v1/admin`: the superadmin's API (key rotation, creating users and accounts, searching
//! them). Only a user-level token of a user with the superadmin flag passes: no credential
//! is 401, anyone else (account-scoped tokens of a superadmin included) 403.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, OptionalApiJson};
use crate::http::v1::page::{Page, PageRequest, page, query_param};
use crate::ids::AccountId;
use crate::keys::SigningAlg;
use crate::manage::accounts::{self, NewOwner, OwnedAccount};
use crate::manage::caller::Caller;
use crate::manage::keys::{self, RotatedKey};
use crate::manage::users::{self, AdminUser, NewUser};
use crate::search::{self, Schema};
use crate::state::AppState;
use crate::store::Position;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/keys/rotate", post(rotate_keys))
        .route("/v1/admin/users", get(search_users).post(create_user))
        .route(
            "/v1/admin/accounts",
            get(search_accounts).post(create_account),
        )
}

/// The search fields of accounts and users, each with the column it compares. Only these
/// fixed names reach the SQL text.
const ACCOUNT_SEARCH: Schema = Schema {
    fields: &[
        ("id", "id"),
        ("name", "name"),
        ("external_id", "external_id"),
        ("status", "status"),
        ("parent_id", "parent_id"),
    ],
    text_columns: &["id", "name", "external_id", "status", "parent_id"],
};

const USER_SEARCH: Schema = Schema {
    fields: &[("id", "id"), ("email", "email"), ("name", "name")],
    text_columns: &["id", "email", "name"],
};

/// A caller who is a superadmin, acting with a user-level token.
pub struct Superadmin(pub Caller);

impl FromRequestParts<AppState> for Superadmin {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Superadmin, HttpError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        // A token scoped to one account carries that account's powers only, even when its
        // user is a superadmin: handing an app an account token must not hand it the server.
        if caller.is_account_scoped() {
            return Err(HttpError::forbidden(
                "an account-scoped token cannot use the superadmin API",
            ));
        }
        caller.user()?;
        // Read on every request, so revoking the flag takes effect at once.
        if !crate::manage::caller::is_superadmin(&state.store, &caller).await? {
            return Err(HttpError::forbidden("this needs a superadmin"));
        }
        Ok(Superadmin(caller))
    }
}

/// Which algorithm's key a rotation replaces.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// `RS256`, `ES256` or `EdDSA`; default the server's (`TESSERA_SIGNING_ALG`).
    alg: Option<SigningAlg>,
}

/// Rotate a signing key.
///
/// `POST /v1/admin/keys/rotate`, optionally with `{"alg": "ES256"}`: a new signing key of
/// that algorithm (default the server's) is active at once on this instance (others pick it
/// up within seconds); the previous one of that algorithm stays published until its tokens
/// expire, and keys of other algorithms go on signing.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    tag = "admin",
    request_body(content = Option<RotateBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The new active key's public JWK (kid, alg, kty, use, n, e) and `active: true`", body = serde_json::Value),
        openapi::AuthErrors
    )
)]
async fn rotate_keys(
    State(state): State<AppState>,
    Superadmin(caller): Superadmin,
    OptionalApiJson(body): OptionalApiJson<RotateBody>,
) -> Result<Json<RotatedKey>, HttpError> {
    let alg = body.and_then(|body| body.alg);
    let rotated = keys::rotate(&state.store, &state.keys, alg, caller.origin())
        .await
        .map_err(|error| {
            tracing::error!(%error, "key rotation failed");
            HttpError::internal(&error)
        })?;
    Ok(Json(rotated))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    email: String,
    name: Option<String>,
    password: Option<String>,
    #[serde(default)]
    superadmin: bool,
}

/// Create a user.
///
/// `POST /v1/admin/users` → 201. Without a password the user cannot log in until they set
/// one with the single-use link mailed to them (queued in the same transaction).
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    request_body(content = NewUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new user", body = AdminUser),
        openapi::BodyErrors,
        openapi::Conflict
    )
)]
async fn create_user(
    State(state): State<AppState>,
    Superadmin(caller): Superadmin,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, HttpError> {
    let user = users::create_by(
        &state.store,
        &state.hasher,
        &state.issuer,
        NewUser {
            email: body.email,
            name: body.name,
            password: body.password,
            superadmin: body.superadmin,
        },
        caller.origin(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AdminUser::from(user))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccountBody {
    name: String,
    owner: NewOwnerBody,
    parent_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOwnerBody {
    email: String,
    name: Option<String>,
    password: Option<String>,
}

/// The account, and who owns it.
#[derive(Serialize, utoipa::ToSchema)]
struct CreatedAccount {
    #[serde(flatten)]
    account: Account,
    owner: OwnerSummary,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OwnerSummary {
    id: String,
    email: String,
    created: bool,
}

/// Create an account for an owner.
///
/// `POST /v1/admin/accounts` → 201, creating the owner when the email is new.
#[utoipa::path(
    post,
    path = "/v1/admin/accounts",
    tag = "admin",
    request_body(content = NewAccountBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new account and its owner", body = CreatedAccount),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn create_account(
    State(state): State<AppState>,
    Superadmin(caller): Superadmin,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<Response, HttpError> {
    let parent_id = match body.parent_id.as_deref() {
        Some(text) => Some(
            AccountId::parse(text)
                .ok_or_else(|| HttpError::invalid_field("parent_id", "not an account id"))?,
        ),
        None => None,
    };
    let created = accounts::create_with_owner(
        &state.store,
        &state.hasher,
        &state.issuer,
        OwnedAccount {
            name: body.name,
            owner: NewOwner {
                email: body.owner.email,
                name: body.owner.name,
                password: body.owner.password,
            },
            parent_id,
        },
        caller.origin(),
    )
    .await?;
    let body = CreatedAccount {
        account: created.account,
        owner: OwnerSummary {
            id: created.owner.id.to_string(),
            email: created.owner.email,
            created: created.owner_created,
        },
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The `?q=` of a search, parsed and translated; placeholders start after the page's three.
fn search_condition(uri: &Uri, schema: &Schema) -> Result<Option<search::Condition>, HttpError> {
    let q = query_param(uri, "q").unwrap_or_default();
    let expr = search::parse(&q, schema)
        .map_err(|error| HttpError::invalid_field("q", error.to_string()))?;
    Ok(expr.map(|expr| search::to_sql(&expr, schema, 4)))
}

/// Search all accounts.
///
/// `GET /v1/admin/accounts?q=`: every account, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/accounts",
    tag = "admin",
    params(openapi::SearchParams),
    responses(
        (status = 200, description = "Matching accounts, newest first", body = Page<Account>),
        openapi::QueryErrors
    )
)]
async fn search_accounts(
    State(state): State<AppState>,
    Superadmin(_): Superadmin,
    uri: Uri,
    request: PageRequest,
) -> Result<Json<Page<Account>>, HttpError> {
    let condition = search_condition(&uri, &ACCOUNT_SEARCH)?;
    let after = request.position(&state, "admin_accounts")?;
    let rows = accounts::search(
        &state.store,
        condition.as_ref(),
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "admin_accounts",
        &request,
        rows,
        |account| Position {
            created_at: account.created_at.0,
            id: account.id.to_string(),
        },
        |account| account,
    ))
}

/// Search all users.
///
/// `GET /v1/admin/users?q=`: every user, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    params(openapi::SearchParams),
    responses(
        (status = 200, description = "Matching users, newest first", body = Page<AdminUser>),
        openapi::QueryErrors
    )
)]
async fn search_users(
    State(state): State<AppState>,
    Superadmin(_): Superadmin,
    uri: Uri,
    request: PageRequest,
) -> Result<Json<Page<AdminUser>>, HttpError> {
    let condition = search_condition(&uri, &USER_SEARCH)?;
    let after = request.position(&state, "admin_users")?;
    let rows = users::search(
        &state.store,
        condition.as_ref(),
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "admin_users",
        &request,
        rows,
        |user| Position {
            created_at: user.created_at.0,
            id: user.id.to_string(),
        },
        AdminUser::from,
    ))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    rotate_keys,
    create_user,
    create_account,
    search_accounts,
    search_users
))]
pub struct Api;
