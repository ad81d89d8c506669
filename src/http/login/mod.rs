//! The hosted login pages (API.md §4): sign in, sign out and the signed-in landing page
//! here; sign-up and email verification in `signup`, password reset in `password_reset`.
//! Every form posts the session's CSRF token back; a missing or wrong one is a 403.

mod passkey;
mod password_reset;
mod second_factor;
mod signup;
mod upstream;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::clock;
use crate::http::page::{ClientIp, HtmlForm, HtmlQuery, PageError, home, render, safe_return_to};
use crate::manage;
use crate::manage::sign_in::{self, Login, Visitor};
use crate::metrics::LoginFailure;
use crate::mfa::{self, FirstFactor};
use crate::profile;
use crate::session::LoginSession;
use crate::state::AppState;
use crate::upstream::IdentityProvider;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(show_home))
        .route("/login", get(show_login).post(submit_login))
        .route(
            "/login/mfa",
            get(second_factor::show_second_factor).post(second_factor::submit_second_factor),
        )
        .route("/login/passkey/options", post(passkey::sign_in_options))
        .route("/login/passkey", post(passkey::sign_in))
        .route(
            "/login/mfa/passkey/options",
            post(passkey::second_factor_options),
        )
        .route("/login/mfa/passkey", post(passkey::second_factor))
        .route("/login/idp/{id}", get(upstream::start_operator))
        .route("/login/idp/{id}/callback", get(upstream::operator_callback))
        .route("/login/sso/{id}", get(upstream::start_connection))
        .route(
            "/login/sso/{id}/callback",
            get(upstream::connection_callback),
        )
        .route("/logout", get(show_logout).post(submit_logout))
        .route(
            "/signup",
            get(signup::show_signup).post(signup::submit_signup),
        )
        .route("/verify-email", get(signup::verify_email))
        .route(
            "/forgot-password",
            get(password_reset::show_forgot_password).post(password_reset::submit_forgot_password),
        )
        .route(
            "/reset-password",
            get(password_reset::show_reset_password).post(password_reset::submit_reset_password),
        )
}

/// `?return_to=` of the pages that lead back somewhere after success.
#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
    /// Pre-fills the email field (OIDC's name for it), e.g. from an invitation page.
    login_hint: Option<String>,
    /// The secret of an invitation being answered: sign-up for its address only, open even
    /// with `TESSERA_SIGNUP=false`.
    invite: Option<String>,
}

/// `?token=` of the emailed links.
#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Every field defaults, so a form with a field missing reaches the CSRF check (403)
/// instead of failing to parse.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    csrf_token: String,
    return_to: Option<String>,
    /// `sso`: the "Continue with single sign-on" button, which needs no password.
    action: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    base: &'a str,
    csrf_token: String,
    return_to: String,
    email: &'a str,
    error: Option<&'a str>,
    signup_enabled: bool,
    /// Whether the page offers "Sign in with a passkey" (where JavaScript runs).
    passkeys: bool,
    /// The operator's identity providers, each a "Continue with {name}" button.
    providers: &'a [IdentityProvider],
}

impl<'a> LoginPage<'a> {
    fn new(
        state: &'a AppState,
        csrf_token: String,
        return_to: String,
        email: &'a str,
        error: Option<&'a str>,
    ) -> LoginPage<'a> {
        LoginPage {
            base: state.issuer.path(),
            csrf_token,
            return_to,
            email,
            error,
            signup_enabled: state.config.signup_enabled,
            passkeys: state.passkeys.is_some(),
            providers: &state.config.identity_providers,
        }
    }
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    base: &'a str,
    csrf_token: String,
    email: Option<String>,
}

/// A page that only says something, with an optional link (`href` below the issuer path).
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub base: &'a str,
    pub heading: &'a str,
    pub message: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

/// A failed login says only this, whether the email is unknown or the password wrong.
const WRONG_CREDENTIALS: &str = "The email address or password is not correct.";

/// "Continue with single sign-on" for an address no SSO connection covers.
const NO_SSO: &str =
    "Single sign-on is not set up for this email address. Sign in with your password.";

/// Said only to whoever knows the password: an operator disabled the user.
const USER_DISABLED: &str = "This user is disabled. Ask the operator of this server.";

pub(crate) async fn require_csrf(session: &LoginSession, submitted: &str) -> Result<(), PageError> {
    if session.csrf_matches(submitted).await? {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

/// The login page's URL, to come back to `return_to` (a path on this server, the issuer's
/// path included) afterwards; `/oauth2/authorize` sends anonymous browsers here.
pub fn login_url(base: &str, return_to: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("{base}/login?return_to={encoded}")
}

async fn show_login(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlQuery(query): HtmlQuery<ReturnTo>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(state.issuer.path(), query.return_to.as_deref());
    let email = query.login_hint.as_deref().unwrap_or_default();
    let csrf_token = session.csrf_token().await?;
    render(
        StatusCode::OK,
        &LoginPage::new(&state, csrf_token, return_to, email, None),
    )
}

async fn submit_login(
    State(state): State<AppState>,
    session: LoginSession,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<LoginForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    let base = state.issuer.path();
    let return_to = safe_return_to(base, form.return_to.as_deref());
    // Email first (API.md §12): an address whose domain has an enforced SSO connection signs
    // in there and never with a password; any other SSO address may choose.
    let wants_sso = form.action.as_deref() == Some("sso");
    let routed = manage::sso_connections::for_email(&state.store, &form.email)
        .await
        .map_err(page_error)?;
    match routed {
        Some(connection) if connection.enforce || wants_sso => {
            let query = serde_urlencoded::to_string([
                ("return_to", return_to.as_str()),
                ("login_hint", form.email.trim()),
            ])
            .unwrap_or_default();
            let next = format!("{base}/login/sso/{}?{query}", connection.id);
            return Ok(Redirect::to(&next).into_response());
        }
        None if wants_sso => {
            let csrf_token = session.csrf_token().await?;
            let page = LoginPage::new(
                &state,
                csrf_token,
                return_to,
                form.email.trim(),
                Some(NO_SSO),
            );
            return render(StatusCode::BAD_REQUEST, &page);
        }
        _ => {}
    }
    let now = clock::now();
    let visitor = visitor(ip, &headers);
    let login = sign_in::log_in(
        &state.store,
        &state.hasher,
        &form.email,
        form.password,
        visitor,
        now,
    )
    .await;
    let disabled = match login {
        Ok(Login::SignedIn(user)) => {
            let amr = mfa::amr(&FirstFactor::Password, None);
            return signed_in(&state, &session, &user, amr, visitor, now, &return_to).await;
        }
        Ok(Login::SecondFactorNeeded(user, attempt)) => {
            session
                .await_second_factor(&user.id, attempt, FirstFactor::Password, now)
                .await?;
            let encoded: String =
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
            let next = format!("{base}/login/mfa?return_to={encoded}");
            return Ok(Redirect::to(&next).into_response());
        }
        Ok(Login::Refused { disabled }) => disabled,
        Err(error) => {
            if let manage::Error::RateLimited { .. } = error {
                state.metrics.login_failed(LoginFailure::RateLimited);
            }
            return Err(page_error(error));
        }
    };
    state.metrics.login_failed(LoginFailure::Credentials);
    let error = if disabled {
        USER_DISABLED
    } else {
        WRONG_CREDENTIALS
    };
    let csrf_token = session.csrf_token().await?;
    let page = LoginPage::new(
        &state,
        csrf_token,
        return_to,
        form.email.trim(),
        Some(error),
    );
    render(StatusCode::UNAUTHORIZED, &page)
}

/// Who is asking, for the rate limits and the events.
fn visitor(ip: std::net::IpAddr, headers: &HeaderMap) -> Visitor<'_> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    Visitor { ip, user_agent }
}

/// The last step of every login: a browser session opens for `user`, signed in by `amr`;
/// the login session signs in (a new id and CSRF token) and the browser goes on to
/// `return_to`.
async fn signed_in(
    state: &AppState,
    session: &LoginSession,
    user: &crate::user::User,
    amr: Vec<String>,
    visitor: Visitor<'_>,
    now: i64,
    return_to: &str,
) -> Result<Response, PageError> {
    let opened = manage::sessions::open(&state.store, &user.id, amr, visitor, now).await?;
    session.sign_in(opened).await?;
    Ok(Redirect::to(return_to).into_response())
}

/// A refused sign-in step as an error page; the refusals a form can help with are rendered
/// by its handler instead.
pub(crate) fn page_error(error: manage::Error) -> PageError {
    use manage::Error;
    let message = error.to_string();
    let status = match error {
        Error::NotFound(_) => return PageError::NotFound,
        Error::RateLimited { retry_after, .. } => {
            return PageError::TooManyRequests { retry_after };
        }
        Error::Database(error) => return error.into(),
        Error::Password(error) => return error.into(),
        Error::Invalid(_) | Error::InvalidAt { .. } | Error::Rejected { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::Forbidden(_) | Error::Refused { .. } | Error::CallerGone => StatusCode::FORBIDDEN,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Gone { .. } => StatusCode::GONE,
        // No sign-in step touches the file store.
        Error::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    PageError::BadRequest {
        status,
        message: message.into(),
    }
}

/// The sentence of an `Invalid` refusal, for the form to show again; any other refusal as
/// an error page.
pub(crate) fn form_error(error: manage::Error) -> Result<String, PageError> {
    match error {
        manage::Error::Invalid(errors) => Ok(errors
            .into_iter()
            .next()
            .map(|error| error.message)
            .unwrap_or_default()),
        error => Err(page_error(error)),
    }
}

async fn show_logout(
    State(state): State<AppState>,
    session: LoginSession,
) -> Result<Response, PageError> {
    let email = match session.signed_in().await? {
        Some(signed_in) => profile::find(&state.store, &signed_in.user_id)
            .await?
            .map(|user| user.email),
        None => None,
    };
    render(
        StatusCode::OK,
        &LogoutPage {
            base: state.issuer.path(),
            csrf_token: session.csrf_token().await?,
            email,
        },
    )
}

async fn submit_logout(
    State(state): State<AppState>,
    session: LoginSession,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, PageError> {
    require_csrf(&session, &form.csrf_token).await?;
    session.sign_out().await?;
    Ok(Redirect::to(&format!("{}/login", state.issuer.path())).into_response())
}

/// The landing page after a login that had nowhere else to go; anonymous visitors are sent
/// to log in first.
async fn show_home(
    State(state): State<AppState>,
    session: LoginSession,
) -> Result<Response, PageError> {
    let base = state.issuer.path();
    let user = match session.signed_in().await? {
        Some(signed_in) => profile::find(&state.store, &signed_in.user_id).await?,
        None => None,
    };
    let Some(user) = user else {
        return Ok(Redirect::to(&login_url(base, &home(base))).into_response());
    };
    let message = format!("You are signed in as {}.", user.email);
    render(
        StatusCode::OK,
        &MessagePage {
            base,
            heading: "Welcome",
            message: &message,
            link: Some(("/account", "Manage your account")),
        },
    )
}
