//! `/v1/me/factors` and `/v1/me/recovery-codes` (API.md §10): a user's second factors. A TOTP
//! factor is enrolled pending, with its secret shown once, and turns active with a first
//! code; the user's first active factor comes with ten recovery codes, also shown once.
//! A passkey is enrolled in one WebAuthn ceremony: options, then the browser's credential,
//! and is active at once. Adding or removing one, or new recovery codes, needs a login
//! within 10 minutes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{CreationChallengeResponse, RegisterPublicKeyCredential};

use crate::clock;
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, OptionalApiJson};
use crate::manage::caller::Caller;
use crate::manage::factors::{self, FactorView, Owner};
use crate::manage::passkeys;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me/factors", get(list_factors))
        .route("/v1/me/factors/totp", post(enrol_totp))
        .route("/v1/me/factors/passkey/options", post(passkey_options))
        .route("/v1/me/factors/passkey", post(enrol_passkey))
        .route("/v1/me/factors/{id}/verify", post(verify_factor))
        .route("/v1/me/factors/{id}", delete(remove_factor))
        .route("/v1/me/recovery-codes", post(regenerate_recovery_codes))
}

/// The caller's factors, oldest first (a user has a handful: one page).
#[derive(Serialize, utoipa::ToSchema)]
struct FactorList {
    data: Vec<FactorView>,
    next_cursor: Option<String>,
}

/// List the caller's second factors.
#[utoipa::path(
    get,
    path = "/v1/me/factors",
    tag = "me",
    responses(
        (status = 200, description = "The caller's factors, never their secrets", body = FactorList),
        openapi::AuthErrors
    )
)]
async fn list_factors(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FactorList>, HttpError> {
    Ok(Json(FactorList {
        data: factors::list(
            &state.store,
            &Owner::of_caller(&state.store, &caller).await?,
        )
        .await?,
        next_cursor: None,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTotp {
    /// What the user calls it ("Phone"); "Authenticator app" when left out.
    name: Option<String>,
}

/// A pending TOTP factor with its secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct EnrolledTotp {
    #[serde(flatten)]
    factor: FactorView,
    /// Base32, for typing into an authenticator app.
    secret: String,
    /// `otpauth://totp/…`, for a QR code.
    otpauth_uri: String,
}

/// Start enrolling a TOTP app.
#[utoipa::path(
    post,
    path = "/v1/me/factors/totp",
    tag = "me",
    request_body(content = NewTotp, content_type = "application/json"),
    responses(
        (status = 201, description = "The pending factor, its secret and otpauth URI (shown once)", body = EnrolledTotp),
        openapi::BodyErrors
    )
)]
async fn enrol_totp(
    State(state): State<AppState>,
    caller: Caller,
    OptionalApiJson(body): OptionalApiJson<NewTotp>,
) -> Result<Response, HttpError> {
    let name = body.unwrap_or_default().name;
    let kek = state.keys.key_encryption_key();
    let owner = Owner::of_caller(&state.store, &caller).await?;
    let enrolled = factors::enrol_totp(&state.store, kek, &owner, name).await?;
    let answer = EnrolledTotp {
        factor: enrolled.factor,
        secret: enrolled.secret,
        otpauth_uri: enrolled.otpauth_uri,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Start enrolling a passkey.
#[utoipa::path(
    post,
    path = "/v1/me/factors/passkey/options",
    tag = "me",
    responses(
        (status = 200, description = "WebAuthn creation options for `navigator.credentials.create` (`{publicKey}`, binary fields base64url); they expire in 5 minutes", body = Object),
        openapi::BodyErrors
    )
)]
async fn passkey_options(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CreationChallengeResponse>, HttpError> {
    let owner = Owner::of_caller(&state.store, &caller).await?;
    let options =
        passkeys::enrolment_options(&state.store, state.relying_party(), &owner, clock::now())
            .await?;
    Ok(Json(options))
}

/// The browser's new credential, as `PublicKeyCredential.toJSON()` gives it, and optionally
/// what the user calls it.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewPasskey {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
    /// What the user calls it ("Laptop"); "Passkey" when left out.
    name: Option<String>,
}

/// Finish enrolling a passkey.
#[utoipa::path(
    post,
    path = "/v1/me/factors/passkey",
    tag = "me",
    request_body(content = NewPasskey, content_type = "application/json"),
    responses(
        (status = 201, description = "The active passkey factor (and recovery codes, shown once, for the first factor)", body = VerifiedFactor),
        openapi::BodyErrors,
        openapi::Conflict
    )
)]
async fn enrol_passkey(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewPasskey>,
) -> Result<Response, HttpError> {
    let owner = Owner::of_caller(&state.store, &caller).await?;
    let rp = state.relying_party();
    let now = clock::now();
    let enrolled =
        passkeys::enrol(&state.store, rp, &owner, &body.credential, body.name, now).await?;
    let answer = VerifiedFactor {
        factor: enrolled.factor,
        recovery_codes: enrolled.recovery_codes,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Verification {
    /// The app's current 6-digit code.
    code: String,
}

/// An active factor, with the first recovery codes when it is the user's first.
#[derive(Serialize, utoipa::ToSchema)]
struct VerifiedFactor {
    #[serde(flatten)]
    factor: FactorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// Activate a pending factor with a code.
#[utoipa::path(
    post,
    path = "/v1/me/factors/{id}/verify",
    tag = "me",
    params(("id" = String, Path, description = "Factor id (fac_...)")),
    request_body(content = Verification, content_type = "application/json"),
    responses(
        (status = 200, description = "The active factor (and recovery codes, shown once, for the first)", body = VerifiedFactor),
        openapi::BodyErrors,
        openapi::NotFound,
        openapi::Conflict
    )
)]
async fn verify_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Verification>,
) -> Result<Json<VerifiedFactor>, HttpError> {
    let kek = state.keys.key_encryption_key();
    let owner = Owner::of_caller(&state.store, &caller).await?;
    let verified = factors::verify(&state.store, kek, &owner, &id, &body.code).await?;
    Ok(Json(VerifiedFactor {
        factor: verified.factor,
        recovery_codes: verified.recovery_codes,
    }))
}

/// Remove a factor.
#[utoipa::path(
    delete,
    path = "/v1/me/factors/{id}",
    tag = "me",
    params(("id" = String, Path, description = "Factor id (fac_...)")),
    responses(
        (status = 204, description = "Removed (with the last one, the recovery codes)"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn remove_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let owner = Owner::of_caller(&state.store, &caller).await?;
    factors::remove(&state.store, &owner, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// Replace the recovery codes.
#[utoipa::path(
    post,
    path = "/v1/me/recovery-codes",
    tag = "me",
    responses(
        (status = 200, description = "Ten new recovery codes, shown once; the old ones stop working", body = RecoveryCodes),
        openapi::AuthErrors,
        openapi::Conflict
    )
)]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RecoveryCodes>, HttpError> {
    let owner = Owner::of_caller(&state.store, &caller).await?;
    let recovery_codes = factors::regenerate_recovery_codes(&state.store, &owner).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_factors,
    enrol_totp,
    passkey_options,
    enrol_passkey,
    verify_factor,
    remove_factor,
    regenerate_recovery_codes
))]
pub struct Api;
