//! `/account/security` (API.md §10): the signed-in user's second factors on a hosted page.
//! Enrol a TOTP app (QR code as inline SVG, the key as text) or a passkey (where JavaScript
//! runs: `/assets/passkeys.js` fetches the options, then posts the browser's credential), see
//! recovery codes once, remove a factor, get new recovery codes. The rules are `manage::factors`' (a login within 10
//! minutes to add or remove); this module parses forms and renders.

use std::net::IpAddr;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::audit::{Actor, Origin};
use crate::clock;
use crate::http::login::{login_url, require_csrf};
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, render, safe_return_to};
use crate::ids::SessionId;
use crate::manage::Error;
use crate::manage::factors::{self, FactorView, Owner, Verified};
use crate::manage::identities;
use crate::manage::passkeys;
use crate::manage::sessions;
use crate::mfa::SecondFactor;
use crate::profile;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::store::Position;
use crate::store::factors::FactorStatus;

const HERE: &str = "/account/security";
/// Browsers listed on the page (the API pages through all of them).
const LISTED_BROWSERS: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HERE, get(show))
        .route("/account/security/totp", post(enrol_totp))
        .route("/account/security/totp/verify", post(verify_totp))
        .route("/account/security/passkey/options", post(passkey_options))
        .route("/account/security/passkey", post(enrol_passkey))
        .route("/account/security/factors/{id}/remove", post(remove_factor))
        .route("/account/security/recovery-codes", post(new_recovery_codes))
        .route("/account/security/sessions/{id}/end", post(end_session))
        .route(
            "/account/security/identities/{id}/remove",
            post(disconnect_identity),
        )
}

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage<'a> {
    base: &'a str,
    csrf_token: String,
    return_here: String,
    factors: Vec<FactorRow>,
    has_active: bool,
    enrolment: Option<Enrolment>,
    recovery_codes: Option<Vec<String>>,
    notice: Option<&'a str>,
    error: Option<String>,
    reauthenticate: bool,
    browsers: Vec<BrowserRow>,
    /// The providers the user signs in through, each with a way to disconnect it.
    identities: Vec<IdentityRow>,
    /// The operator's providers not connected yet: (id, name), each a "Connect" button.
    connectable: Vec<(&'a str, &'a str)>,
    /// Where an enrolment asked for by an authorization request goes back to.
    return_to: Option<String>,
    /// Shown with the recovery codes once the enrolment it was for is done.
    continue_to: Option<String>,
    /// Whether passkeys can be added here (where JavaScript runs).
    passkeys: bool,
}

struct BrowserRow {
    id: String,
    user_agent: Option<String>,
    ip: Option<String>,
    created: String,
    last_seen: String,
    current: bool,
}

struct IdentityRow {
    id: String,
    provider: String,
    email: Option<String>,
}

struct FactorRow {
    id: String,
    name: String,
    status_text: &'static str,
    created: String,
}

struct Enrolment {
    factor_id: String,
    secret: String,
    qr_svg: Option<String>,
}

/// What the page shows beside the list.
#[derive(Default)]
struct Extra<'a> {
    enrolment: Option<Enrolment>,
    recovery_codes: Option<Vec<String>>,
    notice: Option<&'a str>,
    error: Option<String>,
    reauthenticate: bool,
    return_to: Option<String>,
    continue_to: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
    return_to: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EnrolForm {
    csrf_token: String,
    name: String,
    return_to: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    csrf_token: String,
    name: String,
    /// `PublicKeyCredential.toJSON()` of the new passkey.
    credential: String,
    return_to: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyForm {
    csrf_token: String,
    factor_id: String,
    code: String,
    return_to: Option<String>,
}

/// The signed-in visitor as the owner of their factors (the session's login is their proof
/// of a recent login), or the way to the login page.
struct Visitor {
    user: crate::user::User,
    auth_time: i64,
    /// This browser's session (`/v1/me/sessions`), if the login recorded one.
    session_id: Option<SessionId>,
    actor: Actor,
    ip: String,
    user_agent: Option<String>,
}

impl Visitor {
    fn owner(&self) -> Owner<'_> {
        Owner {
            user: self.user.clone(),
            auth_time: Some(self.auth_time),
            origin: Origin {
                actor: &self.actor,
                ip: Some(&self.ip),
                user_agent: self.user_agent.as_deref(),
            },
        }
    }
}

async fn visitor(
    state: &AppState,
    session: &LoginSession,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<Visitor, Response> {
    let base = state.issuer.path();
    let to_login = || Redirect::to(&login_url(base, &format!("{base}{HERE}"))).into_response();
    let signed_in = match session.signed_in().await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return Err(to_login()),
        Err(error) => return Err(PageError::from(error).into_response()),
    };
    let user = match profile::find(&state.store, &signed_in.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(to_login()),
        Err(error) => return Err(PageError::from(error).into_response()),
    };
    Ok(Visitor {
        actor: Actor::User(user.id.to_string()),
        user,
        auth_time: signed_in.auth_time,
        session_id: signed_in.session_id,
        ip: ip.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(512).collect()),
    })
}

/// [`visitor`] of a form post, once its CSRF token matches the session's.
async fn form_visitor(
    state: &AppState,
    session: &LoginSession,
    csrf_token: &str,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<Visitor, Response> {
    require_csrf(session, csrf_token)
        .await
        .map_err(IntoResponse::into_response)?;
    visitor(state, session, ip, headers).await
}

async fn page(
    state: &AppState,
    session: &LoginSession,
    visitor: &Visitor,
    status: StatusCode,
    extra: Extra<'_>,
) -> Result<Response, PageError> {
    let listed: Vec<FactorView> = factors::list(&state.store, &visitor.owner())
        .await
        .map_err(refusal)?;
    let now = clock::now();
    let current = visitor.session_id.as_ref();
    let browsers = sessions::list_for(
        &state.store,
        &visitor.user.id,
        current,
        &Position::start(),
        LISTED_BROWSERS,
        now,
    )
    .await
    .map_err(refusal)?;
    let linked = identities::list_for(
        &state.store,
        &visitor.user.id,
        &Position::start(),
        LISTED_BROWSERS,
    )
    .await
    .map_err(refusal)?;
    let providers = &state.config.identity_providers;
    let connectable = providers
        .iter()
        .filter(|provider| {
            !linked
                .iter()
                .any(|identity| identity.provider == provider.id)
        })
        .map(|provider| (provider.id.as_str(), provider.name.as_str()))
        .collect();
    let identities = linked
        .into_iter()
        .map(|identity| IdentityRow {
            provider: providers
                .iter()
                .find(|provider| provider.id == identity.provider)
                .map_or_else(|| identity.issuer.clone(), |provider| provider.name.clone()),
            id: identity.id,
            email: identity.email,
        })
        .collect();
    let base = state.issuer.path();
    let page = SecurityPage {
        identities,
        connectable,
        browsers: browsers
            .into_iter()
            .map(|browser| BrowserRow {
                id: browser.id,
                user_agent: browser.user_agent,
                ip: browser.ip,
                created: browser.created_at.rfc3339(),
                last_seen: browser.last_seen_at.rfc3339(),
                current: browser.current,
            })
            .collect(),
        base,
        csrf_token: session.csrf_token().await?,
        return_here: format!("{base}{HERE}"),
        has_active: listed.iter().any(|f| f.status == FactorStatus::Active),
        factors: listed
            .into_iter()
            .map(|factor| FactorRow {
                status_text: match factor.status {
                    FactorStatus::Active => "on",
                    FactorStatus::Pending => "not confirmed yet",
                },
                created: factor.created_at.rfc3339(),
                id: factor.id,
                name: factor.name,
            })
            .collect(),
        enrolment: extra.enrolment,
        recovery_codes: extra.recovery_codes,
        notice: extra.notice,
        error: extra.error,
        reauthenticate: extra.reauthenticate,
        return_to: extra.return_to,
        continue_to: extra.continue_to,
        passkeys: state.passkeys.is_some(),
    };
    render(status, &page)
}

/// A refusal the page explains (with the way to sign in again when a recent login is
/// needed); anything else is an error page.
async fn refused(
    state: &AppState,
    session: &LoginSession,
    visitor: &Visitor,
    error: Error,
) -> Result<Response, PageError> {
    let (status, message, reauthenticate) = match error {
        Error::Refused { message, .. } => (StatusCode::FORBIDDEN, message, true),
        Error::Rejected { message, .. } => (StatusCode::BAD_REQUEST, message, false),
        Error::Forbidden(message) => (StatusCode::FORBIDDEN, message, false),
        Error::Invalid(errors) => (
            StatusCode::BAD_REQUEST,
            errors
                .into_iter()
                .map(|error| format!("{} {}", error.field, error.message))
                .collect::<Vec<_>>()
                .join("; "),
            false,
        ),
        Error::Conflict { message, .. } => (StatusCode::CONFLICT, message, false),
        other => return Err(refusal(other)),
    };
    let extra = Extra {
        error: Some(message),
        reauthenticate,
        ..Extra::default()
    };
    page(state, session, visitor, status, extra).await
}

fn refusal(error: Error) -> PageError {
    crate::http::login::page_error(error)
}

async fn show(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlQuery(query): HtmlQuery<Done>,
) -> Result<Response, Response> {
    let visitor = visitor(&state, &session, ip, &headers).await?;
    let notice = match query.done.as_deref() {
        Some("removed") => Some("The factor is removed."),
        Some("added") => Some("Two-step verification is on for this factor."),
        Some("signed_out") => Some("That browser is signed out."),
        Some("disconnected") => Some("The provider no longer signs you in."),
        _ => None,
    };
    let extra = Extra {
        notice,
        return_to: back_to(&state, query.return_to.as_deref()),
        ..Extra::default()
    };
    page(&state, &session, &visitor, StatusCode::OK, extra)
        .await
        .map_err(IntoResponse::into_response)
}

async fn enrol_totp(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<EnrolForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let name = Some(form.name).filter(|name| !name.trim().is_empty());
    let kek = state.keys.key_encryption_key();
    let result = match factors::enrol_totp(&state.store, kek, &visitor.owner(), name).await {
        Ok(enrolled) => {
            let extra = Extra {
                enrolment: Some(Enrolment {
                    qr_svg: qr_svg(&enrolled.otpauth_uri),
                    factor_id: enrolled.factor.id,
                    secret: enrolled.secret,
                }),
                return_to: back_to(&state, form.return_to.as_deref()),
                ..Extra::default()
            };
            page(&state, &session, &visitor, StatusCode::OK, extra).await
        }
        Err(error) => refused(&state, &session, &visitor, error).await,
    };
    result.map_err(IntoResponse::into_response)
}

async fn verify_totp(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<VerifyForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let kek = state.keys.key_encryption_key();
    let owner = visitor.owner();
    let verified = factors::verify(&state.store, kek, &owner, &form.factor_id, &form.code).await;
    let back = form.return_to.as_deref();
    enrolled(
        &state,
        &session,
        &visitor,
        verified,
        back,
        SecondFactor::Totp,
    )
    .await
    .map_err(IntoResponse::into_response)
}

/// The end of an enrolment (`second`: what the new factor is). Refused, the page says why.
/// Added, the factor was proved: this session is a two-factor login now. The first
/// factor's recovery codes are shown; otherwise the browser goes back to where the
/// enrolment was asked for (`return_to`), or to this page.
async fn enrolled(
    state: &AppState,
    session: &LoginSession,
    visitor: &Visitor,
    verified: Result<Verified, Error>,
    return_to: Option<&str>,
    second: SecondFactor,
) -> Result<Response, PageError> {
    let verified = match verified {
        Ok(verified) => verified,
        Err(error) => return refused(state, session, visitor, error).await,
    };
    let back = back_to(state, return_to);
    session.proved_second_factor(second).await?;
    match (verified.recovery_codes, back) {
        (Some(codes), back) => {
            let extra = Extra {
                notice: Some("Two-step verification is on."),
                recovery_codes: Some(codes),
                continue_to: back,
                ..Extra::default()
            };
            page(state, session, visitor, StatusCode::OK, extra).await
        }
        (None, Some(back)) => Ok(Redirect::to(&back).into_response()),
        (None, None) => {
            Ok(Redirect::to(&format!("{}{HERE}?done=added", state.issuer.path())).into_response())
        }
    }
}

/// The options to create a passkey, as JSON for the page's script. A refusal (a login too
/// old, say) is an error here; the script then posts the form without a credential, and
/// [`enrol_passkey`] shows why.
async fn passkey_options(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let rp = state.relying_party();
    match passkeys::enrolment_options(&state.store, rp, &visitor.owner(), clock::now()).await {
        Ok(options) => Ok(Json(options).into_response()),
        Err(error) => Err(refusal(error).into_response()),
    }
}

async fn enrol_passkey(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<PasskeyForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let owner = visitor.owner();
    let credential = serde_json::from_str::<RegisterPublicKeyCredential>(&form.credential);
    let verified = match credential {
        Ok(credential) => {
            let name = Some(form.name).filter(|name| !name.trim().is_empty());
            let rp = state.relying_party();
            passkeys::enrol(&state.store, rp, &owner, &credential, name, clock::now()).await
        }
        // No passkey came: say why the options were refused, if they were.
        Err(_) => Err(owner
            .signed_in_recently()
            .err()
            .unwrap_or_else(|| passkeys::invalid_passkey("the browser created none; try again"))),
    };
    let back = form.return_to.as_deref();
    enrolled(
        &state,
        &session,
        &visitor,
        verified,
        back,
        SecondFactor::Passkey,
    )
    .await
    .map_err(IntoResponse::into_response)
}

async fn remove_factor(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let result = match factors::remove(&state.store, &visitor.owner(), &id).await {
        Ok(()) => Ok(
            Redirect::to(&format!("{}{HERE}?done=removed", state.issuer.path())).into_response(),
        ),
        Err(error) => refused(&state, &session, &visitor, error).await,
    };
    result.map_err(IntoResponse::into_response)
}

async fn new_recovery_codes(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let result = match factors::regenerate_recovery_codes(&state.store, &visitor.owner()).await {
        Ok(codes) => {
            let extra = Extra {
                notice: Some("New recovery codes: the old ones no longer work."),
                recovery_codes: Some(codes),
                ..Extra::default()
            };
            page(&state, &session, &visitor, StatusCode::OK, extra).await
        }
        Err(error) => refused(&state, &session, &visitor, error).await,
    };
    result.map_err(IntoResponse::into_response)
}

async fn end_session(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let Some(id) = SessionId::parse(&id) else {
        return Err(PageError::NotFound.into_response());
    };
    sessions::end_for(&state.store, &visitor.user.id, &id, clock::now())
        .await
        .map_err(|error| refusal(error).into_response())?;
    let base = state.issuer.path();
    // Ending this browser's own session signs it out: the login page is next.
    let next = if visitor.session_id.as_ref() == Some(&id) {
        login_url(base, &format!("{base}{HERE}"))
    } else {
        format!("{base}{HERE}?done=signed_out")
    };
    Ok(Redirect::to(&next).into_response())
}

async fn disconnect_identity(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, Response> {
    let visitor = form_visitor(&state, &session, &form.csrf_token, ip, &headers).await?;
    let owner = visitor.owner();
    let removed = identities::remove_for(
        &state.store,
        &visitor.user.id,
        &id,
        owner.origin,
        clock::now(),
    )
    .await;
    if let Err(error) = removed {
        return refused(&state, &session, &visitor, error)
            .await
            .map_err(IntoResponse::into_response);
    }
    let next = format!("{}{HERE}?done=disconnected", state.issuer.path());
    Ok(Redirect::to(&next).into_response())
}

/// A way back given with the request, if it is a path on this server.
fn back_to(state: &AppState, requested: Option<&str>) -> Option<String> {
    let requested = requested.filter(|path| !path.is_empty())?;
    Some(safe_return_to(state.issuer.path(), Some(requested)))
}

/// The otpauth URI as an inline SVG QR code (no script, no image request: the CSP stays
/// strict), without the XML declaration HTML does not want.
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Some(match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    })
}
