//! `/v1/me`: the caller's profile, the accounts it belongs to and the invitations waiting
//! for its email address.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::Account;
use crate::clock::{self, Timestamp};
use crate::credentials;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::page::ClientIp;
use crate::http::v1::body::PatchJson;
use crate::http::v1::caller::Caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::ids::{AccountId, InvitationId};
use crate::invitation::InvitationStatus;
use crate::password;
use crate::rate_limit;
use crate::role::Role;
use crate::state::AppState;
use crate::store::audit_events;
use crate::store::{Position, accounts, invitations, users};
use crate::user::User;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(show_profile).patch(update_profile))
        .route("/v1/me/accounts", get(list_my_accounts))
        .route("/v1/me/invites", get(list_my_invites))
}

async fn load_user(state: &AppState, caller: &Caller) -> Result<User, HttpError> {
    // A verified, live token whose user is gone is no longer a credential.
    users::find(state.store.pool(), caller.user()?)
        .await?
        .ok_or_else(HttpError::invalid_token)
}

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
    let mut user = load_user(&state, &caller).await?;
    let mut changed = Vec::new();
    if let Some(name) = change.name {
        let name = name.map(|name| name.trim().to_owned());
        if name.as_ref().is_some_and(|name| name.chars().count() > 200) {
            return Err(HttpError::invalid_field(
                "name",
                "must be at most 200 characters",
            ));
        }
        if name
            .as_ref()
            .is_some_and(|name| !crate::text::is_one_line(name))
        {
            return Err(HttpError::invalid_field(
                "name",
                "must be one line without control characters",
            ));
        }
        user.name = name.filter(|name| !name.is_empty());
        changed.push("name");
    }
    if let Some(new_password) = change.password {
        password::check_strength(&new_password, &user.email)
            .map_err(|reason| HttpError::invalid_field("password", reason))?;
        let current = change.current_password.ok_or_else(|| {
            HttpError::invalid_field("current_password", "is required to change the password")
        })?;
        // A guess at the current password is a login attempt (API.md §4): the same counters
        // as `POST /login`, counted before checking and refunded when it is right.
        let attempt = rate_limit::begin_login(&state.store, &user.email, ip, clock::now())
            .await?
            .map_err(|limited| {
                HttpError::rate_limited("too many attempts; try again later", limited.retry_after)
            })?;
        let verified = state.hasher.verify(current, user.password_hash.clone());
        if !verified.await? {
            return Err(HttpError::invalid_field(
                "current_password",
                "is not the current password",
            ));
        }
        rate_limit::login_succeeded(&state.store, attempt).await?;
        user.password_hash = Some(state.hasher.hash(new_password).await?);
        changed.push("password");
    } else if change.current_password.is_some() {
        return Err(HttpError::invalid_field(
            "current_password",
            "is only used with password",
        ));
    }
    if changed.is_empty() {
        return Ok(Json(user));
    }
    let now = clock::now();
    user.updated_at = Timestamp(now);
    let mut tx = state.store.begin().await?;
    users::update_profile(&mut *tx, &user).await?;
    audit_events::insert(
        &mut *tx,
        &caller.event(
            None,
            "user.updated",
            "user",
            user.id.as_str(),
            json!({ "fields": changed }),
        ),
        now,
    )
    .await?;
    let new_password = changed.contains(&"password");
    if new_password {
        credentials::revoke_all(&mut tx, &user.id, now).await?;
    }
    tx.commit().await?;
    if new_password {
        state.store.access_changed();
    }
    Ok(Json(user))
}

#[derive(Serialize, utoipa::ToSchema)]
struct MyAccount {
    account: Account,
    role: Role,
}

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
    let rows = accounts::of_user(
        state.store.pool(),
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
    role: Role,
    status: InvitationStatus,
    expires_at: Timestamp,
    created_at: Timestamp,
}

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
    // Invitations lead into other accounts, beyond an account-scoped token's reach.
    caller.require_user_level()?;
    let user = load_user(&state, &caller).await?;
    let after = request.position(&state, "me/invites")?;
    let now = clock::now();
    // Listed whether or not the address is verified (users start unverified, API.md §8).
    // The listing names the inviting account and the role, never the token or accept URL:
    // accepting still needs the mailed link, which only the address's owner receives.
    let rows = invitations::pending_for_email(
        state.store.pool(),
        &user.email,
        now,
        &after,
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
#[openapi(paths(show_profile, update_profile, list_my_accounts, list_my_invites))]
pub struct Api;
