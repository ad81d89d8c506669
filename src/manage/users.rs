//! The operator's and the superadmin's actions on users (the CLI and `/v1/admin/users`):
//! create, find, search, disable or enable, set a password. Each validates its input, then
//! writes everything in one change with its audit event. The name and password rules here
//! are also those of an account's new owner (`admin::create_account`).

use serde::Serialize;
use serde_json::json;

use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::UserId;
use crate::manage::Error;
use crate::manage::sign_in;
use crate::password::{self, Hasher};
use crate::search::Condition;
use crate::store::user_tokens::Purpose;
use crate::store::{self, Change, Position, Store, users};
use crate::user::{User, display_name};

pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub superadmin: bool,
}

/// A user as the superadmin API and the CLI show it: the profile plus the flags only
/// operators see.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    #[serde(flatten)]
    user: User,
    superadmin: bool,
    has_password: bool,
    /// When an operator disabled the user (`tessera users disable`); `null` while enabled.
    disabled_at: Option<Timestamp>,
}

impl From<User> for AdminUser {
    fn from(user: User) -> AdminUser {
        AdminUser {
            superadmin: user.superadmin,
            has_password: user.password_hash.is_some(),
            disabled_at: user.disabled_at,
            user,
        }
    }
}

/// Creates a user (see [`insert`]). The operator's path (CLI): outside a server, hashing is
/// bounded by a [`Hasher`] of its own.
pub async fn create(store: &Store, issuer: &Issuer, new: NewUser) -> Result<User, Error> {
    create_by(store, &Hasher::default(), issuer, new, Origin::system()).await
}

/// [`create`] on behalf of `origin`, recorded as `user.created` (no account).
pub async fn create_by(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: NewUser,
    origin: Origin<'_>,
) -> Result<User, Error> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| Error::invalid("email", "must be an email address"))?;
    let name = check_name(new.name, "name")?;
    let password_hash = hash_password(hasher, new.password, email.as_str(), "password").await?;
    let now = clock::now();
    let mut user = User::new(email, name, password_hash, now);
    user.superadmin = new.superadmin;
    let mut change = store.change().await?;
    insert(&mut change, issuer, &user, now).await?;
    let details = json!({"superadmin": user.superadmin});
    let event = origin.event(None, Action::UserCreated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    Ok(user)
}

/// Every user matching `condition` (a parsed search), newest first, after `after`.
pub async fn search(
    store: &Store,
    condition: Option<&Condition>,
    after: &Position,
    limit: i64,
) -> Result<Vec<User>, Error> {
    Ok(users::search(store.pool(), condition, after, limit).await?)
}

/// A user named by id (`usr_…`) or by email (any case).
pub async fn find(store: &Store, id_or_email: &str) -> Result<User, Error> {
    let user = match UserId::parse(id_or_email) {
        Some(id) => users::find(store.pool(), &id).await?,
        None => users::find_by_email(store.pool(), id_or_email.trim()).await?,
    };
    user.ok_or(Error::NotFound("user"))
}

/// Disables a user (`user.disabled`): they can no longer log in, their sessions end and
/// every token of theirs stops standing, as after a new password. Enabling
/// (`user.enabled`) lets them log in again; what disabling revoked stays revoked.
pub async fn set_disabled(
    store: &Store,
    user: &User,
    disabled: bool,
    origin: Origin<'_>,
) -> Result<User, Error> {
    let now = clock::now();
    let disabled_at = match (disabled, user.disabled_at) {
        (true, Some(since)) => Some(since.0),
        (true, None) => Some(now),
        (false, _) => None,
    };
    let mut change = store.change().await?;
    if !users::set_disabled(&mut *change, &user.id, disabled_at, now).await? {
        return Err(Error::NotFound("user"));
    }
    let action = if disabled {
        Action::UserDisabled
    } else {
        Action::UserEnabled
    };
    let event = origin.event(None, action, "user", user.id.as_str(), json!({}));
    let mut change = change.record(&event, now).await?;
    if disabled {
        credentials::revoke_all(&mut change, &user.id, now).await?;
    }
    change.commit().await?;
    let mut user = user.clone();
    user.disabled_at = disabled_at.map(Timestamp);
    user.updated_at = Timestamp(now);
    Ok(user)
}

/// Sets a user's password under the web's policy (`user.updated`, fields `password`); like
/// any new password it ends their sessions and revokes their tokens (`credentials`).
pub async fn set_password(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    password: String,
    origin: Origin<'_>,
) -> Result<User, Error> {
    check_password(&password, &user.email, "password")?;
    let hash = hasher.hash(password).await?;
    let now = clock::now();
    let mut change = store.change().await?;
    users::set_password_hash(&mut *change, &user.id, &hash, now).await?;
    let event = origin.event(
        None,
        Action::UserUpdated,
        "user",
        user.id.as_str(),
        json!({"fields": ["password"]}),
    );
    let mut change = change.record(&event, now).await?;
    credentials::revoke_all(&mut change, &user.id, now).await?;
    change.commit().await?;
    let mut user = user.clone();
    user.password_hash = Some(hash);
    user.updated_at = Timestamp(now);
    Ok(user)
}

/// Writes a new user in `change`: its email must be free (`Conflict` otherwise); without a
/// password the user cannot log in until they set one, and is mailed a single-use link on
/// `issuer` to do so. The caller records `user.created`.
pub(crate) async fn insert(
    change: &mut Change<'_>,
    issuer: &Issuer,
    user: &User,
    now: i64,
) -> Result<(), Error> {
    match users::insert(&mut **change, user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(Error::conflict(format!(
                "a user with email {} already exists",
                user.email
            )));
        }
        result => result?,
    }
    if user.password_hash.is_none() {
        sign_in::mail_link(change, issuer, user, Purpose::SetPassword, now).await?;
    }
    Ok(())
}

/// A user's optional display name under `user::display_name`, refused at `field`.
pub(crate) fn check_name(
    name: Option<String>,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match name {
        Some(name) => display_name(&name).map_err(|error| Error::invalid(field, error.message())),
        None => Ok(None),
    }
}

/// The password, checked against the web's policy (`password::check_strength`) and hashed;
/// none stays none.
pub(crate) async fn hash_password(
    hasher: &Hasher,
    password: Option<String>,
    email: &str,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match password {
        Some(password) => {
            check_password(&password, email, field)?;
            Ok(Some(hasher.hash(password).await?))
        }
        None => Ok(None),
    }
}

/// The web's password policy (`password::check_strength`), for operators too.
fn check_password(password: &str, email: &str, field: &'static str) -> Result<(), Error> {
    password::check_strength(password, email).map_err(|reason| Error::invalid(field, reason))
}
