//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde::Serialize;
use serde_json::json;

use crate::account::Account;
use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, UserId};
use crate::keys::PublicJwk;
use crate::mailer;
use crate::manage::Error;
use crate::password::{self, Hasher};
use crate::role::Role;
use crate::secret;
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, Change, Recorded, Store, accounts, memberships, users};
use crate::user::User;
use crate::validation::FieldError;

fn invalid(field: &'static str, message: &str) -> Error {
    Error::Invalid(vec![FieldError {
        field,
        message: message.to_owned(),
    }])
}

pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub superadmin: bool,
}

/// How long the link in a set-password email works.
pub const SET_PASSWORD_SECONDS: i64 = 72 * 60 * 60;

/// A signing key just made active, as both `tessera keys rotate` and
/// `POST /v1/admin/keys/rotate` show it: the public JWK and `active: true`.
#[derive(Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub key: PublicJwk,
    pub active: bool,
}

/// Records a rotation that the key ring committed (in a transaction of its own), and says
/// what to show for it.
pub async fn record_key_rotation(
    store: &Store,
    key: PublicJwk,
    origin: Origin<'_>,
) -> Result<RotatedKey, sqlx::Error> {
    let details = json!({"alg": key.alg});
    let event = origin.event(
        None,
        Action::SigningKeyRotated,
        "signing_key",
        &key.kid,
        details,
    );
    let change = store.change().await?;
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(RotatedKey { key, active: true })
}

/// Queues the email with a single-use link (served by the reset-password page) with which
/// a user created without a password chooses one.
async fn mail_set_password_link(
    change: &mut Change<'_>,
    issuer: &Issuer,
    user: &User,
    now: i64,
) -> Result<(), sqlx::Error> {
    let token = secret::generate();
    user_tokens::insert(
        &mut **change,
        &secret::hash(&token),
        &user.id,
        Purpose::SetPassword,
        now,
        now + SET_PASSWORD_SECONDS,
    )
    .await?;
    let link = issuer.url(&format!("/reset-password?token={token}"));
    change
        .queue_email(&mailer::set_password(&user.email, &link, "3 days"), now)
        .await
}

/// Creates a user; without a password the user cannot log in until they set one, and is
/// mailed a single-use link on `issuer` to do so (in the same transaction). The operator's
/// path (CLI): outside a server, hashing is bounded by a [`Hasher`] of its own.
pub async fn create_user(store: &Store, issuer: &Issuer, new: NewUser) -> Result<User, Error> {
    create_user_by(store, &Hasher::default(), issuer, new, Origin::system()).await
}

/// [`create_user`] on behalf of `origin`, recorded as `user.created` (no account).
pub async fn create_user_by(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: NewUser,
    origin: Origin<'_>,
) -> Result<User, Error> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| invalid("email", "must be an email address"))?;
    let name = check_name(new.name, "name")?;
    let password_hash = hash_password(hasher, new.password, email.as_str(), "password").await?;
    let now = clock::now();
    let mut user = User::new(email, name, password_hash, now);
    user.superadmin = new.superadmin;
    let mut change = store.change().await?;
    match users::insert(&mut *change, &user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(duplicate_email(&user.email));
        }
        result => result?,
    }
    if user.password_hash.is_none() {
        mail_set_password_link(&mut change, issuer, &user, now).await?;
    }
    let details = json!({"superadmin": user.superadmin});
    let event = origin.event(None, Action::UserCreated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    Ok(user)
}

fn duplicate_email(email: &str) -> Error {
    Error::conflict(format!("a user with email {email} already exists"))
}

/// The owner of a new account: an existing user found by email, or one created with these.
pub struct NewOwner {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
}

pub struct NewAccount {
    pub name: String,
    pub owner: NewOwner,
    pub parent_id: Option<AccountId>,
}

/// An account just created, its owner, and whether the owner was created with it.
pub struct CreatedAccount {
    pub account: Account,
    pub owner: User,
    pub owner_created: bool,
}

/// Creates an account owned by the user with the owner's email, creating that user when the
/// email is new, all in one transaction. A name or password for an owner who already exists
/// is refused rather than silently dropped: this must never change an existing user.
pub async fn create_account(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: NewAccount,
    origin: Origin<'_>,
) -> Result<CreatedAccount, Error> {
    let name = check_account_name(&new.name)?;
    let owner_email = EmailAddress::parse(&new.owner.email)
        .ok_or_else(|| invalid("owner.email", "must be an email address"))?;
    let owner_name = check_name(new.owner.name, "owner.name")?;
    let has_profile = owner_name.is_some() || new.owner.password.is_some();
    if has_profile
        && users::find_by_email(store.pool(), owner_email.as_str())
            .await?
            .is_some()
    {
        return Err(existing_owner());
    }
    // Hashed before the transaction: argon2 takes a while and the write lock must not wait.
    let password_hash = hash_password(
        hasher,
        new.owner.password,
        owner_email.as_str(),
        "owner.password",
    )
    .await?;
    let now = clock::now();
    let mut change = store.change().await?;
    if let Some(parent_id) = &new.parent_id {
        accounts::find(&mut *change, parent_id)
            .await?
            .ok_or(Error::NotFound("parent account"))?;
    }
    let existing = users::find_by_email(&mut *change, owner_email.as_str()).await?;
    let (owner, owner_created) = match existing {
        Some(_) if has_profile => return Err(existing_owner()),
        Some(user) => (user, false),
        None => {
            let user = User::new(owner_email, owner_name, password_hash, now);
            match users::insert(&mut *change, &user).await {
                Err(error) if store::is_unique_violation(&error) => {
                    return Err(duplicate_email(&user.email));
                }
                result => result?,
            }
            if user.password_hash.is_none() {
                mail_set_password_link(&mut change, issuer, &user, now).await?;
            }
            (user, true)
        }
    };
    let account = Account::new(name, new.parent_id, now);
    let mut change = insert_account_with_owner(change, &account, &owner, origin, now).await?;
    if owner_created {
        let details = json!({"superadmin": false});
        let event = origin.event(
            None,
            Action::UserCreated,
            "user",
            owner.id.as_str(),
            details,
        );
        change.record(&event, now).await?;
    }
    change.commit().await?;
    Ok(CreatedAccount {
        account,
        owner,
        owner_created,
    })
}

fn existing_owner() -> Error {
    Error::Invalid(vec![FieldError {
        field: "owner",
        message: "a user with this email already exists: give only its email".to_owned(),
    }])
}

async fn hash_password(
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

/// Writes an account and its owner's membership, and records both (and the child's creation
/// in its parent's log, API.md §8).
pub async fn insert_account_with_owner<'s>(
    mut change: Change<'s>,
    account: &Account,
    owner: &User,
    origin: Origin<'_>,
    now: i64,
) -> Result<Recorded<'s>, sqlx::Error> {
    accounts::insert(&mut *change, account).await?;
    memberships::insert(&mut *change, &account.id, &owner.id, Role::Owner, now).await?;
    let account_id = account.id.as_str();
    let details = json!({"name": account.name});
    let created = origin.event(
        Some(&account.id),
        Action::AccountCreated,
        "account",
        account_id,
        details,
    );
    let mut change = change.record(&created, now).await?;
    let details = json!({"role": Role::Owner});
    let owner_added = origin.event(
        Some(&account.id),
        Action::MemberAdded,
        "user",
        owner.id.as_str(),
        details,
    );
    change.record(&owner_added, now).await?;
    if let Some(parent_id) = &account.parent_id {
        let details = json!({"name": account.name, "parent_id": parent_id});
        let child_created = origin.event(
            Some(parent_id),
            Action::AccountCreated,
            "account",
            account_id,
            details,
        );
        change.record(&child_created, now).await?;
    }
    Ok(change)
}

fn check_name(name: Option<String>, field: &'static str) -> Result<Option<String>, Error> {
    match name.map(|name| name.trim().to_owned()) {
        Some(name) if name.chars().count() > 200 => {
            Err(invalid(field, "must be at most 200 characters"))
        }
        Some(name) if !crate::text::is_one_line(&name) => Err(invalid(
            field,
            "must be one line without control characters",
        )),
        Some(name) if name.is_empty() => Ok(None),
        name => Ok(name),
    }
}

fn check_account_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    if !crate::text::is_one_line(name) {
        return Err(invalid(
            "name",
            "must be one line without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The web's password policy (`password::check_strength`), for operators too.
fn check_password(password: &str, email: &str, field: &'static str) -> Result<(), Error> {
    password::check_strength(password, email).map_err(|reason| invalid(field, reason))
}

/// A user named by id (`usr_…`) or by email (any case).
pub async fn find_user(store: &Store, id_or_email: &str) -> Result<User, Error> {
    let user = match UserId::parse(id_or_email) {
        Some(id) => users::find(store.pool(), &id).await?,
        None => users::find_by_email(store.pool(), id_or_email.trim()).await?,
    };
    user.ok_or(Error::NotFound("user"))
}

/// Disables a user (`user.disabled`): they can no longer log in, their sessions end and
/// every token of theirs stops standing, as after a new password. Enabling
/// (`user.enabled`) lets them log in again; what disabling revoked stays revoked.
pub async fn set_user_disabled(
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
pub async fn set_user_password(
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
