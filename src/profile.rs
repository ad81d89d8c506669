//! Changes a user makes to their own user, the same whether asked through `/v1/me`
//! (API.md §8) or the hosted `/account` page: name and password, a new email address
//! (changed only when a link mailed to it is followed), and deleting the user. The rules
//! live here once; the HTTP adapters only parse and render.

use std::net::IpAddr;

use serde_json::json;

use crate::clock::{self, Timestamp};
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, UserId};
use crate::mailer;
use crate::password::{self, PasswordError};
use crate::rate_limit;
use crate::secret;
use crate::state::AppState;
use crate::store::audit_events::{self, Actor, NewEvent};
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, accounts, email_changes, emails, memberships, users};
use crate::user::User;

/// How long the link to confirm a new address works.
pub const EMAIL_CHANGE_SECONDS: i64 = 24 * 60 * 60;
/// A login at most this old lets a user delete itself without typing its password again.
pub const RECENT_LOGIN_SECONDS: i64 = 10 * 60;
const MAX_NAME_CHARS: usize = 200;

/// Who asks, for the audit trail.
#[derive(Clone, Copy, Debug)]
pub struct Audit<'a> {
    pub actor: &'a Actor,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> Audit<'a> {
    fn event(
        &self,
        account_id: Option<&'a AccountId>,
        action: &'a str,
        user_id: &'a UserId,
        details: serde_json::Value,
    ) -> NewEvent<'a> {
        NewEvent {
            account_id,
            action,
            actor: self.actor,
            target_type: "user",
            target_id: user_id.as_str(),
            ip: self.ip,
            user_agent: self.user_agent,
            details,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A field is missing or wrong; `message` completes "`field` …".
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    /// Too many wrong current passwords (they count as failed logins).
    #[error("too many attempts")]
    RateLimited { retry_after: i64 },
    #[error("another user has this email address")]
    EmailTaken,
    /// The user is the last owner of these accounts.
    #[error("the last owner of an account")]
    LastOwner(Vec<AccountId>),
    /// Deleting needs a login within the last ten minutes or the current password.
    #[error("a recent login or the current password is needed")]
    RecentLoginRequired,
    /// The email-change link is unknown, used or expired.
    #[error("the link is not valid")]
    InvalidLink,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a user changes about itself; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change {
    /// `Some(None)` removes the name.
    pub name: Option<Option<String>>,
    pub password: Option<String>,
    /// Required with `password`.
    pub current_password: Option<String>,
}

/// Checks `current` against the user's password. A guess counts as a login attempt
/// (API.md §4): the same counters as `POST /login`, counted before checking and refunded
/// when it is right.
pub async fn check_current_password(
    state: &AppState,
    user: &User,
    current: String,
    ip: IpAddr,
) -> Result<(), ProfileError> {
    let attempt = rate_limit::begin_login(&state.store, &user.email, ip, clock::now())
        .await?
        .map_err(|limited| ProfileError::RateLimited {
            retry_after: limited.retry_after,
        })?;
    if !state
        .hasher
        .verify(current, user.password_hash.clone())
        .await?
    {
        return Err(ProfileError::Invalid {
            field: "current_password",
            message: "is not the current password",
        });
    }
    rate_limit::login_succeeded(&state.store, attempt).await?;
    Ok(())
}

/// Changes the name and/or the password (`PATCH /v1/me`, the account page). A new password
/// needs the current one, follows the policy, and ends every session and token issued
/// before it (`credentials::revoke_all`): a page that keeps its visitor signed in signs
/// them in again afterwards.
pub async fn update(
    state: &AppState,
    mut user: User,
    change: Change,
    ip: IpAddr,
    audit: &Audit<'_>,
) -> Result<User, ProfileError> {
    let mut changed = Vec::new();
    if let Some(name) = change.name {
        let name = name.map(|name| name.trim().to_owned());
        if name
            .as_ref()
            .is_some_and(|name| name.chars().count() > MAX_NAME_CHARS)
        {
            return Err(ProfileError::Invalid {
                field: "name",
                message: "must be at most 200 characters",
            });
        }
        if name
            .as_ref()
            .is_some_and(|name| !crate::text::is_one_line(name))
        {
            return Err(ProfileError::Invalid {
                field: "name",
                message: "must be one line without control characters",
            });
        }
        user.name = name.filter(|name| !name.is_empty());
        changed.push("name");
    }
    if let Some(new_password) = change.password {
        password::check_strength(&new_password, &user.email).map_err(|reason| {
            ProfileError::Invalid {
                field: "password",
                message: reason,
            }
        })?;
        let current = change.current_password.ok_or(ProfileError::Invalid {
            field: "current_password",
            message: "is required to change the password",
        })?;
        check_current_password(state, &user, current, ip).await?;
        user.password_hash = Some(state.hasher.hash(new_password).await?);
        changed.push("password");
    } else if change.current_password.is_some() {
        return Err(ProfileError::Invalid {
            field: "current_password",
            message: "is only used with password",
        });
    }
    if changed.is_empty() {
        return Ok(user);
    }
    let now = clock::now();
    user.updated_at = Timestamp(now);
    let mut tx = state.store.begin().await?;
    users::update_profile(&mut *tx, &user).await?;
    let event = audit.event(None, "user.updated", &user.id, json!({ "fields": changed }));
    audit_events::insert(&mut *tx, &event, now).await?;
    let new_password = changed.contains(&"password");
    if new_password {
        credentials::revoke_all(&mut tx, &user.id, now).await?;
    }
    tx.commit().await?;
    if new_password {
        state.store.access_changed();
    }
    Ok(user)
}

/// Starts moving the user to `new_email` (`POST /v1/me/email`): after the current password
/// is checked, a single-use link goes to the new address, and the address changes only when
/// it is followed. Returns the address the link went to.
pub async fn request_email_change(
    state: &AppState,
    user: &User,
    new_email: &str,
    current_password: String,
    ip: IpAddr,
    audit: &Audit<'_>,
) -> Result<String, ProfileError> {
    let email = EmailAddress::parse(new_email).ok_or(ProfileError::Invalid {
        field: "email",
        message: "must be an email address",
    })?;
    if email.as_str().eq_ignore_ascii_case(&user.email) {
        return Err(ProfileError::Invalid {
            field: "email",
            message: "is already your address",
        });
    }
    // The password comes first: a stolen token alone must not learn which addresses exist.
    check_current_password(state, user, current_password, ip).await?;
    if users::find_by_email(state.store.pool(), email.as_str())
        .await?
        .is_some()
    {
        return Err(ProfileError::EmailTaken);
    }
    let token = secret::generate();
    let link = state.issuer.url(&format!("/confirm-email?token={token}"));
    let now = clock::now();
    let mut tx = state.store.begin().await?;
    // Only the latest request counts: an earlier link, perhaps to a mistyped address, dies.
    email_changes::void_pending(&mut *tx, &user.id, now).await?;
    email_changes::insert(
        &mut *tx,
        &secret::hash(&token),
        &user.id,
        email.as_str(),
        now,
        now + EMAIL_CHANGE_SECONDS,
    )
    .await?;
    emails::enqueue(&mut *tx, &mailer::email_change(email.as_str(), &link), now).await?;
    let event = audit.event(
        None,
        "user.email_change_requested",
        &user.id,
        json!({ "new_email": email.as_str() }),
    );
    audit_events::insert(&mut *tx, &event, now).await?;
    tx.commit().await?;
    Ok(email.into_string())
}

/// Follows an email-change link: the user's address becomes the new one, verified (the
/// link proved it), once. Links mailed to the old address (password reset, set password,
/// verification) stop working. Returns the changed user.
pub async fn confirm_email_change(state: &AppState, token: &str) -> Result<User, ProfileError> {
    let now = clock::now();
    let mut tx = state.store.begin().await?;
    let (user_id, email) = email_changes::consume(&mut *tx, &secret::hash(token), now)
        .await?
        .ok_or(ProfileError::InvalidLink)?;
    match users::set_email(&mut *tx, &user_id, &email, now).await {
        Ok(()) => {}
        Err(error) if store::is_unique_violation(&error) => return Err(ProfileError::EmailTaken),
        Err(error) => return Err(error.into()),
    }
    for purpose in [
        Purpose::PasswordReset,
        Purpose::SetPassword,
        Purpose::EmailVerification,
    ] {
        user_tokens::consume_all(&mut *tx, &user_id, purpose, now).await?;
    }
    let actor = Actor::User(user_id.to_string());
    let audit = Audit {
        actor: &actor,
        ip: None,
        user_agent: None,
    };
    let event = audit.event(
        None,
        "user.updated",
        &user_id,
        json!({ "fields": ["email"] }),
    );
    audit_events::insert(&mut *tx, &event, now).await?;
    let user = users::find(&mut *tx, &user_id)
        .await?
        .ok_or(ProfileError::InvalidLink)?;
    tx.commit().await?;
    Ok(user)
}

/// Deletes the user (`DELETE /v1/me`, the account page): refused while it is the last owner
/// of an account. Its sessions end and its tokens die with it; each account it belonged to
/// records `user.deleted` in its log. The caller has checked a recent login.
pub async fn delete(state: &AppState, user: &User, audit: &Audit<'_>) -> Result<(), ProfileError> {
    let now = clock::now();
    let mut tx = state.store.begin().await?;
    // Lock every account the user owns (in id order, so two deletions cannot deadlock),
    // then count owners: a co-owner leaving at the same moment cannot orphan an account.
    for account_id in memberships::owned_by(&mut *tx, &user.id).await? {
        accounts::lock(&state.store, &mut tx, &account_id).await?;
    }
    let orphaned = memberships::solely_owned_by(&mut *tx, &user.id).await?;
    if !orphaned.is_empty() {
        return Err(ProfileError::LastOwner(orphaned));
    }
    let account_ids = memberships::account_ids_of_user(&mut *tx, &user.id).await?;
    let details = json!({ "email": user.email });
    for account_id in &account_ids {
        let event = audit.event(Some(account_id), "user.deleted", &user.id, details.clone());
        audit_events::insert(&mut *tx, &event, now).await?;
    }
    let event = audit.event(None, "user.deleted", &user.id, details);
    audit_events::insert(&mut *tx, &event, now).await?;
    // Sessions hold the user's id as data, with no foreign key: end them explicitly.
    credentials::revoke_all(&mut tx, &user.id, now).await?;
    users::delete(&mut *tx, &user.id).await?;
    tx.commit().await?;
    state.store.access_changed();
    Ok(())
}
