//! `/v1/me`: the caller's profile, the accounts it belongs to and the invitations waiting
//! for its email address.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::clock::{self, Timestamp};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::page::ClientIp;
use crate::http::v1::body::{ApiJson, OptionalApiJson, PatchJson};
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, GrantId, InvitationId};
use crate::invitation::InvitationStatus;
use crate::manage::caller::Caller;
use crate::manage::invites;
use crate::profile::{self, Proof};
use crate::role::RoleId;
use crate::state::AppState;
use crate::store::Position;
use crate::user::User;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/me",
            get(show_profile).patch(update_profile).delete(delete_me),
        )
        .route("/v1/me/email", post(request_email_change))
        .route("/v1/me/accounts", get(list_my_accounts))
        .route("/v1/me/invites", get(list_my_invites))
}

async fn load_user(state: &AppState, caller: &Caller) -> Result<User, HttpError> {
    // A verified, live token whose user is gone is no longer a credential.
    profile::find(&state.store, caller.user()?)
        .await?
        .ok_or_else(HttpError::invalid_token)
}

/// Show the caller's profile.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "me",
    responses(
        (status = 200, description = "The caller's profile", body = crate::user::User),
        (status = 401, description = openapi::UNAUTHORIZED, body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn show_profile(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<User>, HttpError> {
    Ok(Json(load_user(&state, &caller).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileChange {
    #[serde(default, with = "nullable")]
    name: Option<Option<String>>,
    password: Option<String>,
    current_password: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Update the caller's profile.
#[utoipa::path(
    patch,
    path = "/v1/me",
    tag = "me",
    request_body(content(
        (ProfileChange = "application/merge-patch+json"),
        (ProfileChange = "application/json")
    )),
    responses(
        (status = 200, description = "The updated profile", body = crate::user::User),
        openapi::BodyErrors,
        (status = 429, description = "Too many wrong current passwords (rate_limited); see Retry-After", body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        (status = 503, description = "Too many password checks at once (overloaded); see Retry-After", body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    PatchJson(change): PatchJson<ProfileChange>,
) -> Result<Json<User>, HttpError> {
    // A token handed to an app for one account must not take over the person.
    caller.require_user_level()?;
    let user = load_user(&state, &caller).await?;
    let edit = profile::Edit {
        name: change.name,
        password: change.password,
        current_password: change.current_password,
    };
    let user = profile::update(&state.store, &state.hasher, user, edit, ip, caller.origin())
        .await
        .map_err(problem)?;
    Ok(Json(user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailChange {
    email: String,
    current_password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EmailChangeStarted {
    /// Always `pending`: the address changes when the mailed link is followed.
    status: &'static str,
    /// The new address, where the confirmation link went.
    email: String,
}

/// Change the caller's email address.
#[utoipa::path(
    post,
    path = "/v1/me/email",
    tag = "me",
    request_body(content = EmailChange, content_type = "application/json"),
    responses(
        (status = 202, description = "A confirmation link went to the new address; the email changes when it is followed", body = EmailChangeStarted),
        openapi::BodyErrors,
        (status = 409, description = "Another user has this address (email_taken)", body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        (status = 429, description = "Too many wrong current passwords (rate_limited); see Retry-After", body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn request_email_change(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    ApiJson(change): ApiJson<EmailChange>,
) -> Result<(StatusCode, Json<EmailChangeStarted>), HttpError> {
    caller.require_user_level()?;
    let user = load_user(&state, &caller).await?;
    let request = profile::EmailChange {
        email: change.email,
        current_password: change.current_password,
    };
    let email = profile::request_email_change(
        &state.store,
        &state.hasher,
        &state.issuer,
        &user,
        request,
        ip,
        caller.origin(),
    )
    .await
    .map_err(problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailChangeStarted {
            status: "pending",
            email,
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteMe {
    /// Needed unless the token comes from a login within the last 10 minutes.
    current_password: Option<String>,
}

/// Delete the caller's user.
#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "me",
    request_body(content = Option<DeleteMe>, content_type = "application/json", description = "Optional; `current_password` is needed when the token's login is older than 10 minutes"),
    responses(
        (status = 204, description = "The user, its sessions, tokens and memberships are gone"),
        openapi::BodyErrors,
        (status = 403, description = "No login within 10 minutes and no current_password (recent_login_required), or an account-scoped token", body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        (status = 409, description = "The user is the last owner of an account (last_owner)", body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    OptionalApiJson(body): OptionalApiJson<DeleteMe>,
) -> Result<StatusCode, HttpError> {
    caller.require_user_level()?;
    let user = load_user(&state, &caller).await?;
    // "A login within 10 minutes" (API.md §8): the token's login when it shows one (its
    // grant's auth_time), else the current password, checked as a login attempt.
    // Tokens without a grant show no login.
    let proof = match body.and_then(|body| body.current_password) {
        Some(current) => Proof::CurrentPassword(current),
        None => match caller
            .access_token()?
            .gid
            .as_deref()
            .and_then(GrantId::parse)
        {
            Some(grant_id) => Proof::Login(grant_id),
            None => Proof::Nothing,
        },
    };
    profile::delete(
        &state.store,
        &state.hasher,
        &user,
        proof,
        ip,
        caller.origin(),
    )
    .await
    .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The problem+json answer to a refused self-service change.
fn problem(error: profile::ProfileError) -> HttpError {
    use profile::ProfileError;
    match error {
        ProfileError::Invalid { field, message } => HttpError::invalid_field(field, message),
        ProfileError::RateLimited { retry_after } => {
            HttpError::rate_limited("too many attempts; try again later", retry_after)
        }
        ProfileError::EmailTaken => {
            HttpError::conflict("email_taken", "another user has this email address")
        }
        ProfileError::LastOwner(accounts) => HttpError::conflict(
            "last_owner",
            format!(
                "the user is the last owner of {}; make someone else owner or delete the account first",
                accounts
                    .iter()
                    .map(AccountId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ProfileError::RecentLoginRequired => HttpError::new(
            StatusCode::FORBIDDEN,
            "recent_login_required",
            "deleting the user needs a login within the last 10 minutes, or current_password",
        ),
        ProfileError::InvalidLink => HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "the link is not valid",
        ),
        ProfileError::Password(error) => error.into(),
        ProfileError::Database(error) => error.into(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct MyAccount {
    account: Account,
    role: RoleId,
}

/// List the caller's accounts.
#[utoipa::path(
    get,
    path = "/v1/me/accounts",
    tag = "me",
    params(openapi::ListParams),
    responses(
        (status = 200, description = "The accounts the caller belongs to, with its role", body = Page<MyAccount>),
        (status = 400, description = openapi::INVALID_REQUEST, body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        (status = 401, description = openapi::UNAUTHORIZED, body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn list_my_accounts(
    State(state): State<AppState>,
    caller: Caller,
    request: PageRequest,
) -> Result<Json<Page<MyAccount>>, HttpError> {
    let after = request.position(&state, "me/accounts")?;
    // An account-scoped token sees its account and descendants only.
    let rows = profile::accounts(
        &state.store,
        caller.user()?,
        caller.reach.account_id.as_ref(),
        &after,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "me/accounts",
        &request,
        rows,
        |(_, _, position)| position.clone(),
        |(account, role, _)| MyAccount { account, role },
    ))
}

/// An invitation as the invitee's listing shows it: deliberately without the secret token or
/// the accept URL, which exist in clear only in the mailed link.
#[derive(Serialize, utoipa::ToSchema)]
struct MyInvite {
    id: InvitationId,
    account_id: AccountId,
    account_name: String,
    email: String,
    role: RoleId,
    status: InvitationStatus,
    expires_at: Timestamp,
    created_at: Timestamp,
}

/// List invitations to the caller's address.
#[utoipa::path(
    get,
    path = "/v1/me/invites",
    tag = "me",
    params(openapi::ListParams),
    responses(
        (status = 200, description = "Pending invitations to the caller's email (never their token)", body = Page<MyInvite>),
        (status = 400, description = openapi::INVALID_REQUEST, body = openapi::Problem, content_type = openapi::PROBLEM_JSON),
        (status = 401, description = openapi::UNAUTHORIZED, body = openapi::Problem, content_type = openapi::PROBLEM_JSON)
    )
)]
async fn list_my_invites(
    State(state): State<AppState>,
    caller: Caller,
    request: PageRequest,
) -> Result<Json<Page<MyInvite>>, HttpError> {
    let now = clock::now();
    let rows = invites::mine(
        &state.store,
        &caller,
        now,
        || request.position(&state, "me/invites"),
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        &state,
        "me/invites",
        &request,
        rows,
        |(invitation, _)| Position {
            created_at: invitation.created_at.0,
            id: invitation.id.to_string(),
        },
        |(invitation, account_name)| MyInvite {
            status: invitation.status_at(now),
            id: invitation.id,
            account_id: invitation.account_id,
            account_name,
            email: invitation.email,
            role: invitation.role,
            expires_at: invitation.expires_at,
            created_at: invitation.created_at,
        },
    ))
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    show_profile,
    update_profile,
    request_email_change,
    delete_me,
    list_my_accounts,
    list_my_invites
))]
pub struct Api;
