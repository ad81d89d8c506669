//! The browser's login session, typed: who is signed in since when, and the CSRF token of
//! its forms. Handlers use `LoginSession`; nobody else spells session keys.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::clock;
use crate::ids::{SessionId, UserId};
use crate::manage::sessions::ABSOLUTE_LIFETIME_SECONDS;
use crate::manage::sign_in::SecondStepDue;
use crate::mfa::{self, FirstFactor, SecondFactor};
use crate::rate_limit::LoginAttempt;
use crate::secret;
use crate::store::browser_sessions::BrowserSession;

const USER_KEY: &str = "user";
const CSRF_KEY: &str = "csrf";
const PENDING_KEY: &str = "second_factor_pending";
const PASSKEY_CEREMONY_KEY: &str = "passkey_ceremony";
const UPSTREAM_KEY: &str = "upstream_login";

/// How long the second step of a login waits after a correct password.
pub const SECOND_STEP_SECONDS: i64 = 5 * 60;

/// How long a login may stay at another provider before its callback is refused.
pub const UPSTREAM_SECONDS: i64 = 10 * 60;

/// A login sent to another provider, waiting for its callback: the values the callback must
/// match, kept here so that only the browser that started the login can end it (no login
/// CSRF), and only once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingUpstream {
    /// `idp:{id}` for an operator provider, `sso:{id}` for an SSO connection.
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// The signed-in user connecting the identity to itself, if that is what this is.
    pub connecting: Option<UserId>,
    pub started_at: i64,
}

/// A user who passed the password step and owes a second factor; not signed in.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingSecondFactor {
    user_id: UserId,
    password_at: i64,
    /// The password step's rate-limit counters, still counted: a login is a failure until
    /// its second step passes too (none when a signed-in user steps up).
    #[serde(default)]
    attempt: LoginAttempt,
    /// How the first step was passed (a password, or another provider).
    #[serde(default)]
    first: FirstFactor,
}

/// The signed-in user and when they last proved it (the OIDC `auth_time`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub user_id: UserId,
    pub auth_time: i64,
    /// The same moment to the millisecond, to tell a login from a request in its second.
    #[serde(default)]
    pub signed_in_at_ms: i64,
    /// How the user signed in (RFC 8176 method references); a session from before these
    /// were recorded signed in with a password.
    #[serde(default = "password_only")]
    pub amr: Vec<String>,
    /// The browser session (`/v1/me/sessions`) this login opened; none for a login from
    /// before they were kept.
    #[serde(default)]
    pub session_id: Option<SessionId>,
}

fn password_only() -> Vec<String> {
    vec!["pwd".to_owned()]
}

#[derive(Debug, thiserror::Error)]
#[error("session storage failed: {0}")]
pub struct SessionError(#[from] tower_sessions::session::Error);

pub struct LoginSession(Session);

impl<S: Send + Sync> FromRequestParts<S> for LoginSession {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(LoginSession)
    }
}

impl LoginSession {
    /// Who is signed in, unless the sign-in is older than the absolute lifetime (then the
    /// session is ended here).
    pub async fn signed_in(&self) -> Result<Option<SignedIn>, SessionError> {
        let signed_in: Option<SignedIn> = self.0.get(USER_KEY).await?;
        match signed_in {
            Some(signed_in) if clock::now() - signed_in.auth_time > ABSOLUTE_LIFETIME_SECONDS => {
                self.sign_out().await?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// The signed-in user just proved a second factor (a first code of a new factor): the
    /// session now counts as a two-factor login (`amr`), with the same sign-in otherwise.
    pub async fn proved_second_factor(&self, second: SecondFactor) -> Result<(), SessionError> {
        if let Some(mut signed_in) = self.0.get::<SignedIn>(USER_KEY).await? {
            let first = FirstFactor::of_session(&signed_in.amr);
            signed_in.amr = mfa::amr(&first, Some(second));
            self.0.insert(USER_KEY, signed_in).await?;
        }
        Ok(())
    }

    /// Records a successful login, the browser session `manage::sessions::open` just opened
    /// for it (its user, time and `amr`: RFC 8176 `pwd`, plus `otp` and `mfa` after a second
    /// factor). The session id changes (no fixation; the store ends the browser session of
    /// the old id) and so does the CSRF token, so nothing an anonymous visitor saw stays
    /// valid.
    pub async fn sign_in(&self, opened: BrowserSession) -> Result<(), SessionError> {
        self.0.cycle_id().await?;
        self.0.remove::<PendingSecondFactor>(PENDING_KEY).await?;
        self.0
            .insert(
                USER_KEY,
                SignedIn {
                    user_id: opened.user_id,
                    auth_time: opened.created_at.0,
                    signed_in_at_ms: clock::now_ms(),
                    amr: opened.amr,
                    session_id: Some(opened.id),
                },
            )
            .await?;
        self.0.insert(CSRF_KEY, secret::generate()).await?;
        Ok(())
    }

    /// Remembers that `user_id` passed the first step (`first`; a password's attempt counted
    /// in `attempt`, refunded when the second step passes) and owes a second factor.
    pub async fn await_second_factor(
        &self,
        user_id: &UserId,
        attempt: LoginAttempt,
        first: FirstFactor,
        now: i64,
    ) -> Result<(), SessionError> {
        let pending = PendingSecondFactor {
            user_id: user_id.clone(),
            password_at: now,
            attempt,
            first,
        };
        Ok(self.0.insert(PENDING_KEY, pending).await?)
    }

    /// The user who owes a second factor, if the password step was recent enough.
    pub async fn second_factor_pending(
        &self,
        now: i64,
    ) -> Result<Option<SecondStepDue>, SessionError> {
        let pending: Option<PendingSecondFactor> = self.0.get(PENDING_KEY).await?;
        Ok(pending
            .filter(|pending| now - pending.password_at <= SECOND_STEP_SECONDS)
            .map(|pending| SecondStepDue {
                user_id: pending.user_id,
                attempt: pending.attempt,
                first: pending.first,
            }))
    }

    /// The secret a passkey ceremony of this browser waits under (`manage::passkeys`); created
    /// on first use.
    pub async fn passkey_ceremony(&self) -> Result<String, SessionError> {
        if let Some(key) = self.0.get::<String>(PASSKEY_CEREMONY_KEY).await? {
            return Ok(key);
        }
        let key = secret::generate();
        self.0.insert(PASSKEY_CEREMONY_KEY, &key).await?;
        Ok(key)
    }

    /// Remembers a login sent to another provider (replacing one sent before).
    pub async fn await_upstream(&self, pending: PendingUpstream) -> Result<(), SessionError> {
        Ok(self.0.insert(UPSTREAM_KEY, pending).await?)
    }

    /// The login sent to another provider whose `state` the callback brings back, taken out
    /// of the session (a replayed callback finds nothing); `None` when there is none, the
    /// state differs (constant-time compare; the pending login stays) or it is too old.
    pub async fn take_upstream(
        &self,
        state: &str,
        now: i64,
    ) -> Result<Option<PendingUpstream>, SessionError> {
        let pending: Option<PendingUpstream> = self.0.get(UPSTREAM_KEY).await?;
        let Some(pending) = pending else {
            return Ok(None);
        };
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Ok(None);
        }
        self.0.remove::<PendingUpstream>(UPSTREAM_KEY).await?;
        Ok(Some(pending).filter(|pending| now - pending.started_at <= UPSTREAM_SECONDS))
    }

    /// Ends the session everywhere: the stored record is deleted and the cookie cleared.
    pub async fn sign_out(&self) -> Result<(), SessionError> {
        Ok(self.0.flush().await?)
    }

    /// The token every form of this session must post back; created on first use.
    pub async fn csrf_token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.0.get::<String>(CSRF_KEY).await? {
            return Ok(token);
        }
        let token = secret::generate();
        self.0.insert(CSRF_KEY, &token).await?;
        Ok(token)
    }

    /// Whether `submitted` is this session's CSRF token (constant-time).
    pub async fn csrf_matches(&self, submitted: &str) -> Result<bool, SessionError> {
        let expected: Option<String> = self.0.get(CSRF_KEY).await?;
        Ok(expected.is_some_and(|expected| expected.as_bytes().ct_eq(submitted.as_bytes()).into()))
    }
}
