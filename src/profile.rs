//! Changes a user makes to their own user, the same whether asked through `/v1/me`
//! (API.md §8) or the hosted `/account` page: name and password, a new email address
//! (changed only when a link mailed to it is followed), and deleting the user; and what
//! those pages show of it (the user, its accounts, the invitations to its address). The
//! rules live here once; the HTTP adapters only parse and render.

use std::net::IpAddr;

use serde_json::json;

use crate::account::Account;
use crate::audit::{Action, Actor, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, GrantId, UserId};
use crate::invitation::Invitation;
use crate::mailer;
use crate::manage::domains;
use crate::password::{self, Hasher, PasswordError};
use crate::rate_limit;
use crate::role::RoleId;
use crate::secret;
use crate::store::user_tokens::{self, Purpose};
use crate::store::{
    self, Position, Store, accounts, email_changes, grants, invitations, memberships, users,
};
use crate::user::{User, display_name};

/// How long the link to confirm a new address works.
pub const EMAIL_CHANGE_SECONDS: i64 = 24 * 60 * 60;
/// A login at most this old lets a user delete itself without typing its password again.
pub const RECENT_LOGIN_SECONDS: i64 = 10 * 60;

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
pub struct Edit {
    /// `Some(None)` removes the name.
    pub name: Option<Option<String>>,
    pub password: Option<String>,
    /// Required with `password`.
    pub current_password: Option<String>,
}

/// A new email address, and the current password that allows the change.
pub struct EmailChange {
    pub email: String,
    pub current_password: String,
}

/// Checks `current` against the user's password. A guess counts as a login attempt
/// (API.md §4): the same counters as `POST /login`, counted before checking and refunded
/// when it is right.
pub async fn check_current_password(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    current: String,
    ip: IpAddr,
) -> Result<(), ProfileError> {
    let attempt = rate_limit::begin_login(store, &user.email, ip, clock::now())
        .await?
        .map_err(|limited| ProfileError::RateLimited {
            retry_after: limited.retry_after,
        })?;
    if !hasher.verify(current, user.password_hash.clone()).await? {
        return Err(ProfileError::Invalid {
            field: "current_password",
            message: "is not the current password",
        });
    }
    rate_limit::login_succeeded(&mut *store.pool().acquire().await?, attempt).await?;
    Ok(())
}

/// Changes the name and/or the password (`PATCH /v1/me`, the account page). A new password
/// needs the current one, follows the policy, and ends every session and token issued
/// before it (`credentials::revoke_all`): a page that keeps its visitor signed in signs
/// them in again afterwards.
pub async fn update(
    store: &Store,
    hasher: &Hasher,
    mut user: User,
    edit: Edit,
    ip: IpAddr,
    audit: Origin<'_>,
) -> Result<User, ProfileError> {
    let mut changed = Vec::new();
    if let Some(name) = edit.name {
        user.name = match name {
            Some(name) => display_name(&name).map_err(|error| ProfileError::Invalid {
                field: "name",
                message: error.message(),
            })?,
            None => None,
        };
        changed.push("name");
    }
    if let Some(new_password) = edit.password {
        password::check_strength(&new_password, &user.email).map_err(|reason| {
            ProfileError::Invalid {
                field: "password",
                message: reason,
            }
        })?;
        let current = edit.current_password.ok_or(ProfileError::Invalid {
            field: "current_password",
            message: "is required to change the password",
        })?;
        check_current_password(store, hasher, &user, current, ip).await?;
        user.password_hash = Some(hasher.hash(new_password).await?);
        changed.push("password");
    } else if edit.current_password.is_some() {
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
    let mut change = store.change().await?;
    users::update_profile(&mut *change, &user).await?;
    if changed.contains(&"password") {
        credentials::revoke_all(&mut change, &user.id, now).await?;
    }
    let details = json!({ "fields": changed });
    let event = audit.event(None, Action::UserUpdated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    Ok(user)
}

/// Starts moving the user to `new_email` (`POST /v1/me/email`): after the current password
/// is checked, a single-use link goes to the new address, and the address changes only when
/// it is followed. Returns the address the link went to.
pub async fn request_email_change(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    user: &User,
    request: EmailChange,
    ip: IpAddr,
    audit: Origin<'_>,
) -> Result<String, ProfileError> {
    let email = EmailAddress::parse(&request.email).ok_or(ProfileError::Invalid {
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
    check_current_password(store, hasher, user, request.current_password, ip).await?;
    if users::find_by_email(store.pool(), email.as_str())
        .await?
        .is_some()
    {
        return Err(ProfileError::EmailTaken);
    }
    let token = secret::generate();
    let link = issuer.url(&format!("/confirm-email?token={token}"));
    let now = clock::now();
    let mut change = store.change().await?;
    // Only the latest request counts: an earlier link, perhaps to a mistyped address, dies.
    email_changes::void_pending(&mut *change, &user.id, now).await?;
    email_changes::insert(
        &mut *change,
        &secret::hash(&token),
        &user.id,
        email.as_str(),
        now,
        now + EMAIL_CHANGE_SECONDS,
    )
    .await?;
    change
        .queue_email(&mailer::email_change(email.as_str(), &link), now)
        .await?;
    let event = audit.event(
        None,
        Action::UserEmailChangeRequested,
        "user",
        user.id.as_str(),
        json!({ "new_email": email.as_str() }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(email.into_string())
}

/// Follows an email-change link: the user's address becomes the new one, verified (the
/// link proved it), once. Links mailed to the old address (password reset, set password,
/// verification) stop working. Returns the changed user.
pub async fn confirm_email_change(store: &Store, token: &str) -> Result<User, ProfileError> {
    let now = clock::now();
    let mut change = store.change().await?;
    let (user_id, email) = email_changes::consume(&mut *change, &secret::hash(token), now)
        .await?
        .ok_or(ProfileError::InvalidLink)?;
    match users::set_email(&mut *change, &user_id, &email, now).await {
        Ok(()) => {}
        Err(error) if store::is_unique_violation(&error) => return Err(ProfileError::EmailTaken),
        Err(error) => return Err(error.into()),
    }
    for purpose in [
        Purpose::PasswordReset,
        Purpose::SetPassword,
        Purpose::EmailVerification,
    ] {
        user_tokens::consume_all(&mut *change, &user_id, purpose, now).await?;
    }
    let user = users::find(&mut *change, &user_id)
        .await?
        .ok_or(ProfileError::InvalidLink)?;
    let actor = Actor::User(user_id.to_string());
    let audit = Origin {
        actor: &actor,
        ip: None,
        user_agent: None,
    };
    let details = json!({ "fields": ["email"] });
    let event = audit.event(None, Action::UserUpdated, "user", user_id.as_str(), details);
    // The new address is verified now, as a sign-up's is by its link: its domain may join
    // the user to an account.
    let joined = domains::auto_join(&mut change, &user_id, now).await?;
    let mut change = change.record(&event, now).await?;
    if let Some(joined) = &joined {
        change.record(&joined.event(audit, &user_id), now).await?;
    }
    change.commit().await?;
    Ok(user)
}

/// What shows that the person deleting the user is the user, now.
pub enum Proof {
    /// The current password, checked as a login attempt.
    CurrentPassword(String),
    /// The grant the caller's token descends from: its login (`auth_time`) must be within
    /// [`RECENT_LOGIN_SECONDS`].
    Login(GrantId),
    /// Neither: `RecentLoginRequired`.
    Nothing,
}

/// Deletes the user (`DELETE /v1/me`, the account page) once `proof` shows a recent login:
/// refused while it is the last owner of an account. Its sessions end and its tokens die
/// with it; each account it belonged to records `user.deleted` in its log.
pub async fn delete(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    proof: Proof,
    ip: IpAddr,
    audit: Origin<'_>,
) -> Result<(), ProfileError> {
    match proof {
        Proof::CurrentPassword(current) => {
            check_current_password(store, hasher, user, current, ip).await?;
        }
        Proof::Login(grant_id) => {
            let auth_time = grants::find(store.pool(), &grant_id)
                .await?
                .and_then(|grant| grant.auth_time);
            let recent = |auth_time| clock::now() - auth_time <= RECENT_LOGIN_SECONDS;
            if !auth_time.is_some_and(recent) {
                return Err(ProfileError::RecentLoginRequired);
            }
        }
        Proof::Nothing => return Err(ProfileError::RecentLoginRequired),
    }
    let now = clock::now();
    let mut change = store.change().await?;
    // Lock every account the user owns (in id order, so two deletions cannot deadlock),
    // then count owners: a co-owner leaving at the same moment cannot orphan an account.
    for account_id in memberships::owned_by(&mut *change, &user.id).await? {
        accounts::lock(&mut change, &account_id).await?;
    }
    let orphaned = memberships::solely_owned_by(&mut *change, &user.id).await?;
    if !orphaned.is_empty() {
        return Err(ProfileError::LastOwner(orphaned));
    }
    let account_ids = memberships::account_ids_of_user(&mut *change, &user.id).await?;
    // Sessions hold the user's id as data, with no foreign key: end them explicitly.
    credentials::revoke_all(&mut change, &user.id, now).await?;
    users::delete(&mut *change, &user.id).await?;
    let details = json!({ "email": user.email });
    let event = |account_id| {
        audit.event(
            account_id,
            Action::UserDeleted,
            "user",
            user.id.as_str(),
            details.clone(),
        )
    };
    change
        .record_for_user(&account_ids, event, now)
        .await?
        .commit()
        .await?;
    Ok(())
}

/// The user a session or a token names; `None` once it is gone.
pub async fn find(store: &Store, user_id: &UserId) -> Result<Option<User>, sqlx::Error> {
    users::find(store.pool(), user_id).await
}

/// The accounts the user belongs to, with its role, after `after`; with `within`, only that
/// account and its descendants (an account-scoped token's view).
pub async fn accounts(
    store: &Store,
    user_id: &UserId,
    within: Option<&AccountId>,
    after: &Position,
    limit: i64,
) -> Result<Vec<(Account, RoleId, Position)>, sqlx::Error> {
    accounts::of_user(store.pool(), user_id, within, after, limit).await
}

/// The pending invitations to `email`, with the inviting account's name, whether or not the
/// address is verified (users start unverified, API.md §8).
pub async fn invitations(
    store: &Store,
    email: &str,
    now: i64,
    after: &Position,
    limit: i64,
) -> Result<Vec<(Invitation, String)>, sqlx::Error> {
    invitations::pending_for_email(store.pool(), email, now, after, limit).await
}

/// The names of the accounts that still exist among `account_ids` (to say which ones a
/// refused deletion would orphan).
pub async fn account_names(
    store: &Store,
    account_ids: &[AccountId],
) -> Result<Vec<String>, sqlx::Error> {
    let mut names = Vec::new();
    for account_id in account_ids {
        if let Some(account) = accounts::find(store.pool(), account_id).await? {
            names.push(account.name);
        }
    }
    Ok(names)
}
