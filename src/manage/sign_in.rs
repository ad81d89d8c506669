//! Signing in on the hosted pages (API.md §4), each step one use case: the password check
//! with its `user.login` / `user.login_failed` events, self-service sign-up, the emailed
//! link that verifies the address, and the password reset (mailing the link, then using it).
//! The pages (`http::login`) parse the forms and render what these answer.

use std::net::IpAddr;

use serde_json::json;

use crate::audit::{Action, Actor, Origin};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::UserId;
use crate::invitation::{Invitation, InvitationStatus};
use crate::keys::KeyEncryptionKey;
use crate::mailer;
use crate::manage::Error;
use crate::manage::{domains, factors, invites};
use crate::mfa::{FirstFactor, SecondFactor};
use crate::password::{self, Hasher};
use crate::rate_limit;
use crate::secret;
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, Change, Store, Unaudited, memberships, users};
use crate::user::{NameError, User, display_name};

/// How long the verification link works.
const VERIFICATION_SECONDS: i64 = 7 * 24 * 60 * 60;
/// How long a reset link works.
const RESET_SECONDS: i64 = 30 * 60;
/// How long the link in a set-password email works.
const SET_PASSWORD_SECONDS: i64 = 72 * 60 * 60;

/// The mailed links the reset page serves: a password reset, and the first password of a
/// user created without one (`manage::users::insert`).
const LINK_PURPOSES: [Purpose; 2] = [Purpose::PasswordReset, Purpose::SetPassword];

/// Queues, in `change`, the email with a single-use link for `purpose` to `user`'s address:
/// the address's verification (`/verify-email`), a password reset or a first password (both
/// `/reset-password`). Only the link's hash is stored.
pub(crate) async fn mail_link(
    change: &mut Change<'_>,
    issuer: &Issuer,
    user: &User,
    purpose: Purpose,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (path, seconds) = match purpose {
        Purpose::EmailVerification => ("/verify-email", VERIFICATION_SECONDS),
        Purpose::PasswordReset => ("/reset-password", RESET_SECONDS),
        Purpose::SetPassword => ("/reset-password", SET_PASSWORD_SECONDS),
    };
    let token = secret::generate();
    user_tokens::insert(
        &mut **change,
        &secret::hash(&token),
        &user.id,
        purpose,
        now,
        now + seconds,
    )
    .await?;
    let link = issuer.url(&format!("{path}?token={token}"));
    let email = match purpose {
        Purpose::EmailVerification => mailer::email_verification(&user.email, &link),
        Purpose::PasswordReset => mailer::password_reset(&user.email, &link),
        Purpose::SetPassword => mailer::set_password(&user.email, &link, "3 days"),
    };
    change.queue_email(&email, now).await
}

/// Where a request comes from, for the events and the rate limits.
#[derive(Clone, Copy, Debug)]
pub struct Visitor<'a> {
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// How a login attempt ended, short of an error.
pub enum Login {
    SignedIn(User),
    /// The password is right and the user has a second factor: not signed in until
    /// [`second_step`] passes. The attempt stays counted until then.
    SecondFactorNeeded(User, rate_limit::LoginAttempt),
    /// The email is unknown or the password wrong (`disabled: false`: never say which), or
    /// the password is right but an operator disabled the user (`disabled: true`).
    Refused {
        disabled: bool,
    },
}

/// Checks an email and password. Every attempt counts against the email's and the IP's
/// limits before the password is looked at (over the limit, `RateLimited` and no guess is
/// checked); a success is refunded and recorded as `user.login`, a failure for a known user
/// as `user.login_failed`, in the log of every account the user belongs to.
pub async fn log_in(
    store: &Store,
    hasher: &Hasher,
    email: &str,
    password: String,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<Login, Error> {
    let attempt = counted(rate_limit::begin_login(store, email, visitor.ip, now).await?)?;
    let user = users::find_by_email(store.pool(), email.trim()).await?;
    // An unknown email still costs one argon2 verification, so timing does not tell.
    let stored = user.as_ref().and_then(|user| user.password_hash.clone());
    let valid = hasher.verify(password, stored).await?;
    let ip = visitor.ip.to_string();
    match user {
        Some(user) if valid && user.disabled_at.is_none() => {
            if factors::required(store, &user).await? {
                // Refunded and recorded as a login once the second step passes.
                return Ok(Login::SecondFactorNeeded(user, attempt));
            }
            let actor = Actor::User(user.id.to_string());
            let origin = user_origin(&actor, Some(&ip), visitor.user_agent);
            let mut change = store.change().await?;
            rate_limit::login_succeeded(&mut change, attempt).await?;
            commit_login(change, Action::UserLogin, &user.id, origin, &json!({}), now).await?;
            Ok(Login::SignedIn(user))
        }
        user => {
            let disabled = valid && user.as_ref().is_some_and(|user| user.disabled_at.is_some());
            if let Some(user) = user {
                // Not awaited: a failure for a known email must take as long as one for an
                // unknown email, which writes nothing.
                let store = store.clone();
                let user_agent = visitor.user_agent.map(str::to_owned);
                tokio::spawn(async move {
                    let actor = Actor::User(user.id.to_string());
                    let origin = user_origin(&actor, Some(&ip), user_agent.as_deref());
                    let recorded =
                        record_login(&store, Action::UserLoginFailed, &user.id, origin, now);
                    if let Err(error) = recorded.await {
                        tracing::warn!(%error, "could not record a failed login");
                    }
                });
            }
            Ok(Login::Refused { disabled })
        }
    }
}

/// A login between its steps: the user who passed the password step (or, stepping up, is
/// signed in) and owes a second factor, and the rate-limit counters the password step holds
/// (none when stepping up), refunded once the second step passes.
#[derive(Clone, Debug)]
pub struct SecondStepDue {
    pub user_id: UserId,
    pub attempt: rate_limit::LoginAttempt,
    pub first: FirstFactor,
}

/// The second step of a login (API.md §10): a TOTP code or a recovery code of the user who
/// is `due` it. Each
/// attempt counts against the email's limit (`rate_limit::begin_second_step`). A success
/// uses the code up, refunds this attempt and the password step's, and records `user.login`, in one
/// change; a failure records `user.login_failed`. `None`: a wrong, reused or unknown code.
pub async fn second_step(
    store: &Store,
    kek: &KeyEncryptionKey,
    due: SecondStepDue,
    code: &str,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<Option<(User, SecondFactor)>, Error> {
    let user = users::find(store.pool(), &due.user_id)
        .await?
        .filter(|user| user.disabled_at.is_none())
        .ok_or(Error::NotFound("user"))?;
    let attempt = counted(rate_limit::begin_second_step(store, &user.email, now).await?)?;
    let matched = factors::match_code(store, kek, &user, code, now).await?;
    let ip = visitor.ip.to_string();
    let actor = Actor::User(user.id.to_string());
    let origin = user_origin(&actor, Some(&ip), visitor.user_agent);
    let mut change = store.change().await?;
    let passed = match &matched {
        Some(matched) => factors::use_code(&mut change, &user.id, matched, now).await?,
        None => None,
    };
    let action = match passed {
        Some(_) => {
            rate_limit::login_succeeded(&mut change, due.attempt.and(attempt)).await?;
            Action::UserLogin
        }
        None => Action::UserLoginFailed,
    };
    let details = due.first.login_details();
    commit_login(change, action, &user.id, origin, &details, now).await?;
    Ok(passed.map(|second| (user, second)))
}

/// A counted sign-in attempt (`rate_limit::begin_login` or `begin_second_step`), or its
/// refusal when a counter is over its limit.
pub(super) fn counted(
    attempt: Result<rate_limit::LoginAttempt, rate_limit::Limited>,
) -> Result<rate_limit::LoginAttempt, Error> {
    attempt.map_err(|limited| Error::RateLimited {
        message: "too many attempts".to_owned(),
        retry_after: limited.retry_after,
    })
}

/// Writes a `user.login*` event into the log of every account the user belongs to (a login
/// is not an account's own change, but its admins want to see them), in one change.
pub(super) async fn record_login(
    store: &Store,
    action: Action,
    user_id: &UserId,
    origin: Origin<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    commit_login(
        store.change().await?,
        action,
        user_id,
        origin,
        &json!({}),
        now,
    )
    .await
}

/// Commits `change` (what the sign-in step wrote: a code used up, counters refunded) with a
/// `user.login*` event in the log of every account of the user.
pub(super) async fn commit_login(
    mut change: Change<'_>,
    action: Action,
    user_id: &UserId,
    origin: Origin<'_>,
    details: &serde_json::Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    let account_ids = memberships::account_ids_of_user(&mut *change, user_id).await?;
    let mut events = account_ids.iter().map(|account_id| {
        origin.event(
            Some(account_id),
            action,
            "user",
            user_id.as_str(),
            details.clone(),
        )
    });
    let Some(first) = events.next() else {
        // A user in no account: the login is in no account's log.
        return change.commit_unaudited(Unaudited::SignIn).await;
    };
    let mut recorded = change.record(&first, now).await?;
    for event in events {
        recorded.record(&event, now).await?;
    }
    recorded.commit().await
}

/// The user acting on its own behalf.
pub(super) fn user_origin<'a>(
    actor: &'a Actor,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
) -> Origin<'a> {
    Origin {
        actor,
        ip,
        user_agent,
    }
}

/// A sign-up form.
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    /// The secret of the invitation being answered, if any.
    pub invite: Option<String>,
}

/// Whether sign-up is open to this visitor: to everyone when `open` (`TESSERA_SIGNUP`) and
/// no invitation is given (`None`); otherwise only through the pending invitation behind
/// `token`, for its own address (`Some`). Closed is `NotFound`; an invitation that is
/// unknown, answered or expired is `Gone`: it opens nothing.
pub async fn signup_opening(
    store: &Store,
    open: bool,
    token: Option<&str>,
    now: i64,
) -> Result<Option<Invitation>, Error> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return if open {
            Ok(None)
        } else {
            Err(Error::NotFound("page"))
        };
    };
    let invitation = invites::find(store, token)
        .await?
        .filter(|invitation| invitation.status_at(now) == InvitationStatus::Pending)
        .ok_or_else(|| Error::Gone {
            code: "invite_expired",
            message: "This invitation is no longer valid. Ask for a new one.".to_owned(),
        })?;
    Ok(Some(invitation))
}

/// Creates a user from the sign-up form (`user.created`, via `signup`) and mails the link
/// that verifies its address; the user may sign in at once, unverified. Who may sign up is
/// [`signup_opening`]'s answer. Refusals the form can help with are `Invalid` (field `email`,
/// `name` or `password`, with a sentence to show) and `Conflict` (the address has a user).
pub async fn sign_up(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    open: bool,
    form: SignUp,
    ip: IpAddr,
    now: i64,
) -> Result<User, Error> {
    let invitation = signup_opening(store, open, form.invite.as_deref(), now).await?;
    if let Some(invitation) = &invitation
        && !invitation.is_addressed_to(&form.email)
    {
        return Err(Error::forbidden(format!(
            "This invitation is for {}: sign up with that address.",
            invitation.email
        )));
    }
    let email = EmailAddress::parse(&form.email)
        .ok_or_else(|| Error::invalid("email", "Enter a valid email address."))?;
    let name = display_name(&form.name).map_err(|error| {
        Error::invalid(
            "name",
            match error {
                NameError::TooLong => "Enter a shorter name.",
                NameError::NotOneLine => "Enter a name on one line, without control characters.",
            },
        )
    })?;
    password::check_strength(&form.password, email.as_str())
        .map_err(|reason| Error::invalid("password", reason))?;
    rate_limit::begin_signup(store, ip, now)
        .await?
        .map_err(|limited| Error::RateLimited {
            message: "too many sign-ups".to_owned(),
            retry_after: limited.retry_after,
        })?;
    let password_hash = hasher.hash(form.password).await?;
    let user = User::new(email, name, Some(password_hash), now);
    let mut change = store.change().await?;
    match users::insert(&mut *change, &user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(Error::conflict(
                "An account with this email address exists already. Sign in, or reset its password.",
            ));
        }
        result => result?,
    }
    mail_link(&mut change, issuer, &user, Purpose::EmailVerification, now).await?;
    let actor = Actor::User(user.id.to_string());
    let details = json!({ "via": "signup" });
    let event = user_origin(&actor, None, None).event(
        None,
        Action::UserCreated,
        "user",
        user.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(user)
}

/// Follows the link from the sign-up email: the address is verified, once
/// (`NotFound("link")` for a link unknown, used or expired), and on a domain whose account
/// has `domain_auto_join` on, the user joins it.
pub async fn verify_email(store: &Store, token: &str, now: i64) -> Result<(), Error> {
    let mut change = store.change().await?;
    let user_id = user_tokens::consume(
        &mut *change,
        &secret::hash(token),
        Purpose::EmailVerification,
        now,
    )
    .await?
    .ok_or(Error::NotFound("link"))?;
    users::mark_email_verified(&mut *change, &user_id, now).await?;
    let actor = Actor::User(user_id.to_string());
    let origin = user_origin(&actor, None, None);
    let details = json!({ "fields": ["email_verified"] });
    let event = origin.event(None, Action::UserUpdated, "user", user_id.as_str(), details);
    let joined = domains::auto_join(&mut change, &user_id, now).await?;
    let mut change = change.record(&event, now).await?;
    if let Some(joined) = &joined {
        change.record(&joined.event(origin, &user_id), now).await?;
    }
    change.commit().await?;
    Ok(())
}

/// Asks for a reset link to `email` (`Invalid` when it is not an address). The answer and
/// the time it takes are the same whether or not a user has the address: finding the user,
/// counting the request, creating the link and queueing the mail happen in a task of their
/// own. (A task cut short by a shutdown loses one mail; the person can ask again.)
pub fn request_password_reset(store: &Store, issuer: &Issuer, email: &str) -> Result<(), Error> {
    let email = EmailAddress::parse(email)
        .ok_or_else(|| Error::invalid("email", "Enter a valid email address."))?;
    let store = store.clone();
    let issuer = issuer.clone();
    tokio::spawn(async move {
        if let Err(error) = mail_reset_link(&store, &issuer, &email, crate::clock::now()).await {
            tracing::warn!(%error, "could not mail a password reset link");
        }
    });
    Ok(())
}

/// Mails a reset link to `email` if it has a user and has not had too many links lately.
async fn mail_reset_link(
    store: &Store,
    issuer: &Issuer,
    email: &EmailAddress,
    now: i64,
) -> Result<(), sqlx::Error> {
    let allowed = rate_limit::allow_reset_email(store, email.as_str(), now).await?;
    let Some(user) = users::find_by_email(store.pool(), email.as_str()).await? else {
        return Ok(());
    };
    if !allowed {
        return Ok(());
    }
    let mut change = store.change().await?;
    mail_link(&mut change, issuer, &user, Purpose::PasswordReset, now).await?;
    change.commit_unaudited(Unaudited::SignIn).await
}

/// The user and purpose of a usable link, without using it up.
async fn usable_link(
    store: &Store,
    token_hash: &str,
    now: i64,
) -> Result<Option<(UserId, Purpose)>, sqlx::Error> {
    for purpose in LINK_PURPOSES {
        if let Some(user_id) =
            user_tokens::find_usable(store.pool(), token_hash, purpose, now).await?
        {
            return Ok(Some((user_id, purpose)));
        }
    }
    Ok(None)
}

/// Whether `token` is a reset (or set-password) link that still works.
pub async fn reset_link_is_usable(
    store: &Store,
    token: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(usable_link(store, &secret::hash(token), now)
        .await?
        .is_some())
}

/// Sets a new password with a reset (or set-password) link, once (`NotFound("link")` for a
/// link that does not work; `Invalid` at `password` with the policy's sentence). The link
/// arrived by mail, which proves the address; the user's other links and every session and
/// token (possibly an attacker's) end with the old password (`user.updated`, via
/// `reset_link`).
pub async fn reset_password(
    store: &Store,
    hasher: &Hasher,
    token: &str,
    password: String,
    now: i64,
) -> Result<(), Error> {
    let token_hash = secret::hash(token);
    let (user_id, purpose) = usable_link(store, &token_hash, now)
        .await?
        .ok_or(Error::NotFound("link"))?;
    let user = users::find(store.pool(), &user_id)
        .await?
        .ok_or(Error::NotFound("link"))?;
    password::check_strength(&password, &user.email)
        .map_err(|reason| Error::invalid("password", reason))?;
    let password_hash = hasher.hash(password).await?;

    let mut change = store.change().await?;
    // The check above was a courtesy; this conditional update is what makes the link
    // single-use, also against a concurrent request with the same link.
    if user_tokens::consume(&mut *change, &token_hash, purpose, now)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("link"));
    }
    users::set_password_hash(&mut *change, &user.id, &password_hash, now).await?;
    users::mark_email_verified(&mut *change, &user.id, now).await?;
    for purpose in LINK_PURPOSES {
        user_tokens::consume_all(&mut *change, &user.id, purpose, now).await?;
    }
    credentials::revoke_all(&mut change, &user.id, now).await?;
    let actor = Actor::User(user.id.to_string());
    let details = json!({ "fields": ["password"], "via": "reset_link" });
    let event = user_origin(&actor, None, None).event(
        None,
        Action::UserUpdated,
        "user",
        user.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(())
}
