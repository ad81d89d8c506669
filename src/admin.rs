//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde_json::json;

use crate::account::Account;
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, ClientId};
use crate::mailer;
use crate::oauth::client::{Client, ClientSettings, FieldError};
use crate::password::{self, PasswordError};
use crate::role::Role;
use crate::secret;
use crate::store::audit_events::{self, Actor, NewEvent};
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, Store, Tx, accounts, clients, emails, memberships, users};
use crate::user::User;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| format!("{}: {}", error.field, error.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid(field: &'static str, message: &str) -> AdminError {
    AdminError::Invalid(vec![FieldError {
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

/// Creates a user; without a password the user cannot log in until they set one, and is
/// mailed a single-use link on `issuer` to do so (in the same transaction).
pub async fn create_user(store: &Store, issuer: &Issuer, new: NewUser) -> Result<User, AdminError> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| invalid("email", "must be an email address"))?;
    let name = check_name(new.name)?;
    let password_hash = match new.password {
        Some(password) => {
            check_password(&password)?;
            Some(password::hash(password).await?)
        }
        None => None,
    };
    let now = clock::now();
    let mut user = User::new(email, name, password_hash, now);
    user.superadmin = new.superadmin;
    let mut tx = store.begin().await?;
    match users::insert(&mut *tx, &user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(AdminError::Conflict(format!(
                "a user with email {} already exists",
                user.email
            )));
        }
        result => result?,
    }
    if user.password_hash.is_none() {
        mail_set_password_link(&mut tx, issuer, &user, now).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Queues the email with a single-use link (served by the reset-password page) with which
/// a user created without a password chooses one.
pub async fn mail_set_password_link(
    tx: &mut Tx,
    issuer: &Issuer,
    user: &User,
    now: i64,
) -> Result<(), sqlx::Error> {
    let token = secret::generate();
    user_tokens::insert(
        &mut **tx,
        &secret::hash(&token),
        &user.id,
        Purpose::SetPassword,
        now,
        now + SET_PASSWORD_SECONDS,
    )
    .await?;
    let link = issuer.url(&format!("/reset-password?token={token}"));
    emails::enqueue(
        &mut **tx,
        &mailer::set_password(&user.email, &link, "3 days"),
        now,
    )
    .await?;
    Ok(())
}

/// Creates an account owned by the user with `owner_email`, creating that user (with no
/// password, mailed a set-password link on `issuer`) when the email is new.
pub async fn create_account(
    store: &Store,
    issuer: &Issuer,
    name: &str,
    owner_email: &str,
    parent_id: Option<&AccountId>,
    actor: &Actor,
) -> Result<Account, AdminError> {
    let name = check_account_name(name)?;
    let owner_email = EmailAddress::parse(owner_email)
        .ok_or_else(|| invalid("owner", "must be an email address"))?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    if let Some(parent_id) = parent_id {
        accounts::find(&mut *tx, parent_id)
            .await?
            .ok_or(AdminError::NotFound("parent account"))?;
    }
    let owner = match users::find_by_email(&mut *tx, owner_email.as_str()).await? {
        Some(user) => user,
        None => {
            let user = User::new(owner_email, None, None, now);
            users::insert(&mut *tx, &user).await?;
            mail_set_password_link(&mut tx, issuer, &user, now).await?;
            user
        }
    };
    let account = Account::new(name, parent_id.cloned(), now);
    insert_account_with_owner(&mut tx, &account, &owner, actor, now).await?;
    tx.commit().await?;
    Ok(account)
}

/// Writes an account, its owner's membership and both audit events.
pub async fn insert_account_with_owner(
    tx: &mut Tx,
    account: &Account,
    owner: &User,
    actor: &Actor,
    now: i64,
) -> Result<(), sqlx::Error> {
    accounts::insert(&mut **tx, account).await?;
    memberships::insert(&mut **tx, &account.id, &owner.id, Role::Owner, now).await?;
    let account_event = NewEvent {
        account_id: Some(&account.id),
        action: "account.created",
        actor,
        target_type: "account",
        target_id: account.id.as_str(),
        ip: None,
        user_agent: None,
        details: json!({"name": account.name}),
    };
    audit_events::insert(&mut **tx, &account_event, now).await?;
    let member_event = NewEvent {
        action: "member.added",
        target_type: "user",
        target_id: owner.id.as_str(),
        details: json!({"role": Role::Owner}),
        ..account_event
    };
    audit_events::insert(&mut **tx, &member_event, now).await?;
    Ok(())
}

/// Registers a client under `account_id`; confidential clients get a secret, returned here
/// once and stored only as a hash.
pub async fn create_client(
    store: &Store,
    account_id: &AccountId,
    settings: ClientSettings,
    actor: &Actor,
) -> Result<(Client, Option<String>), AdminError> {
    let errors = settings.validate();
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    let secret = (!settings.token_endpoint_auth_method.is_public()).then(secret::generate);
    let now = clock::now();
    let client = Client {
        client_id: ClientId::generate(),
        account_id: account_id.clone(),
        settings,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        secret_hash: secret.as_deref().map(secret::hash),
        self_registered: false,
        account_status: crate::account::AccountStatus::Active,
    };
    let mut tx = store.begin().await?;
    accounts::find(&mut *tx, account_id)
        .await?
        .ok_or(AdminError::NotFound("account"))?;
    clients::insert(&mut *tx, &client).await?;
    audit_events::insert(
        &mut *tx,
        &NewEvent {
            account_id: Some(account_id),
            action: "client.created",
            actor,
            target_type: "client",
            target_id: client.client_id.as_str(),
            ip: None,
            user_agent: None,
            details: json!({"name": client.settings.name}),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((client, secret))
}

fn check_name(name: Option<String>) -> Result<Option<String>, AdminError> {
    match name.map(|name| name.trim().to_owned()) {
        Some(name) if name.chars().count() > 200 => {
            Err(invalid("name", "must be at most 200 characters"))
        }
        Some(name) if name.is_empty() => Ok(None),
        name => Ok(name),
    }
}

fn check_account_name(name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

fn check_password(password: &str) -> Result<(), AdminError> {
    let length = password.chars().count();
    if !(password::MIN_LENGTH..=password::MAX_LENGTH).contains(&length) {
        return Err(invalid("password", "must be 8 to 256 characters"));
    }
    Ok(())
}
