//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde::Serialize;
use serde_json::json;

use crate::account::Account;
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, ClientId, UserId};
use crate::keys::PublicJwk;
use crate::mailer;
use crate::oauth::client::{Client, ClientSettings};
use crate::password::{self, Hasher, PasswordError};
use crate::role::Role;
use crate::secret;
use crate::store::audit_events::{self, Actor, NewEvent};
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, Store, Tx, accounts, clients, emails, memberships, users};
use crate::user::User;
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// One broken rule at a path only known at run time (a merge patch's `labels.x`).
    #[error("{field}: {message}")]
    InvalidAt { field: String, message: String },
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

/// Who asks for an operator action, for the audit trail.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub actor: &'a Actor,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

static SYSTEM: Actor = Actor::System;

impl Origin<'static> {
    /// The operator CLI and start-up.
    pub fn system() -> Origin<'static> {
        Origin {
            actor: &SYSTEM,
            ip: None,
            user_agent: None,
        }
    }
}

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
    audit_events::insert(
        store.pool().acquire().await?,
        &origin.event(
            None,
            "signing_key.rotated",
            "signing_key",
            &key.kid,
            json!({"alg": key.alg}),
        ),
        clock::now(),
    )
    .await?;
    Ok(RotatedKey { key, active: true })
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

impl<'a> Origin<'a> {
    fn event(
        self,
        account_id: Option<&'a AccountId>,
        action: &'a str,
        target_type: &'a str,
        target_id: &'a str,
        details: serde_json::Value,
    ) -> NewEvent<'a> {
        NewEvent {
            account_id,
            action,
            actor: self.actor,
            target_type,
            target_id,
            ip: self.ip,
            user_agent: self.user_agent,
            details,
        }
    }
}

/// Creates a user; without a password the user cannot log in until they set one, and is
/// mailed a single-use link on `issuer` to do so (in the same transaction). The operator's
/// path (CLI): outside a server, hashing is bounded by a [`Hasher`] of its own.
pub async fn create_user(store: &Store, issuer: &Issuer, new: NewUser) -> Result<User, AdminError> {
    create_user_by(store, &Hasher::default(), issuer, new, Origin::system()).await
}

/// [`create_user`] on behalf of `origin`, recorded as `user.created` (no account).
pub async fn create_user_by(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: NewUser,
    origin: Origin<'_>,
) -> Result<User, AdminError> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| invalid("email", "must be an email address"))?;
    let name = check_name(new.name, "name")?;
    let password_hash = hash_password(hasher, new.password, email.as_str(), "password").await?;
    let now = clock::now();
    let mut user = User::new(email, name, password_hash, now);
    user.superadmin = new.superadmin;
    let mut tx = store.begin().await?;
    match users::insert(&mut *tx, &user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(duplicate_email(&user.email));
        }
        result => result?,
    }
    let details = json!({"superadmin": user.superadmin});
    audit_events::insert(
        &mut *tx,
        &origin.event(None, "user.created", "user", user.id.as_str(), details),
        now,
    )
    .await?;
    if user.password_hash.is_none() {
        mail_set_password_link(&mut tx, issuer, &user, now).await?;
    }
    tx.commit().await?;
    Ok(user)
}

fn duplicate_email(email: &str) -> AdminError {
    AdminError::Conflict(format!("a user with email {email} already exists"))
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
) -> Result<CreatedAccount, AdminError> {
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
    let mut tx = store.begin().await?;
    if let Some(parent_id) = &new.parent_id {
        accounts::find(&mut *tx, parent_id)
            .await?
            .ok_or(AdminError::NotFound("parent account"))?;
    }
    let (owner, owner_created) = match users::find_by_email(&mut *tx, owner_email.as_str()).await? {
        Some(_) if has_profile => return Err(existing_owner()),
        Some(user) => (user, false),
        None => {
            let user = User::new(owner_email, owner_name, password_hash, now);
            match users::insert(&mut *tx, &user).await {
                Err(error) if store::is_unique_violation(&error) => {
                    return Err(duplicate_email(&user.email));
                }
                result => result?,
            }
            audit_events::insert(
                &mut *tx,
                &origin.event(
                    None,
                    "user.created",
                    "user",
                    user.id.as_str(),
                    json!({"superadmin": false}),
                ),
                now,
            )
            .await?;
            if user.password_hash.is_none() {
                mail_set_password_link(&mut tx, issuer, &user, now).await?;
            }
            (user, true)
        }
    };
    let account = Account::new(name, new.parent_id, now);
    insert_account_with_owner(&mut tx, &account, &owner, origin.actor, now).await?;
    tx.commit().await?;
    Ok(CreatedAccount {
        account,
        owner,
        owner_created,
    })
}

fn existing_owner() -> AdminError {
    AdminError::Invalid(vec![FieldError {
        field: "owner",
        message: "a user with this email already exists: give only its email".to_owned(),
    }])
}

async fn hash_password(
    hasher: &Hasher,
    password: Option<String>,
    email: &str,
    field: &'static str,
) -> Result<Option<String>, AdminError> {
    match password {
        Some(password) => {
            check_password(&password, email, field)?;
            Ok(Some(hasher.hash(password).await?))
        }
        None => Ok(None),
    }
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
    // The parent's log (and its webhook) hears of a new child too (API.md §8).
    if let Some(parent_id) = &account.parent_id {
        let parent_event = NewEvent {
            account_id: Some(parent_id),
            details: json!({"name": account.name, "parent_id": parent_id}),
            ..account_event
        };
        audit_events::insert(&mut **tx, &parent_event, now).await?;
    }
    Ok(())
}

/// A client to register, and who vouches for it.
pub struct NewClient {
    pub settings: ClientSettings,
    /// No consent page for its users: only the operator or a superadmin may ask for it.
    pub first_party: bool,
    /// Registered itself (RFC 7591): checked as dynamic registration and given a
    /// `registration_access_token` (RFC 7592).
    pub self_registered: bool,
}

/// A client just registered, with the secrets shown this once: its `client_secret` when it is
/// confidential, and its registration access token when it registered itself.
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_access_token: Option<String>,
}

/// Registers a client under `account_id`: the one path of the CLI, the REST API and dynamic
/// registration. Validates it, stores the secrets' hashes only, and records `client.created`
/// in the same transaction.
pub async fn register_client(
    store: &Store,
    account_id: &AccountId,
    new: NewClient,
    origin: Origin<'_>,
) -> Result<RegisteredClient, AdminError> {
    let errors = if new.self_registered {
        new.settings.validate_dynamic_registration()
    } else {
        new.settings.validate()
    };
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    let now = clock::now();
    let secret = (!new.settings.token_endpoint_auth_method.is_public()).then(secret::generate);
    let client = Client {
        client_id: ClientId::generate(),
        account_id: account_id.clone(),
        settings: new.settings,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        secret_hash: secret.as_deref().map(secret::hash),
        self_registered: new.self_registered,
        first_party: new.first_party,
        account_active: true,
    };
    let registration_access_token = new.self_registered.then(secret::generate);
    let mut tx = store.begin().await?;
    accounts::find(&mut *tx, account_id)
        .await?
        .ok_or(AdminError::NotFound("account"))?;
    clients::insert(&mut *tx, &client).await?;
    if let Some(token) = &registration_access_token {
        clients::set_registration_token_hash(&mut *tx, &client.client_id, &secret::hash(token))
            .await?;
    }
    let mut details = json!({"name": client.settings.name});
    if client.self_registered {
        details["self_registered"] = true.into();
    }
    audit_events::insert(
        &mut *tx,
        &origin.event(
            Some(account_id),
            "client.created",
            "client",
            client.client_id.as_str(),
            details,
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(RegisteredClient {
        client,
        secret,
        registration_access_token,
    })
}

/// [`register_client`] for the operator: `(client, client_secret)`.
pub async fn create_client(
    store: &Store,
    account_id: &AccountId,
    settings: ClientSettings,
    first_party: bool,
    actor: &Actor,
) -> Result<(Client, Option<String>), AdminError> {
    let new = NewClient {
        settings,
        first_party,
        self_registered: false,
    };
    let origin = Origin {
        actor,
        ip: None,
        user_agent: None,
    };
    let registered = register_client(store, account_id, new, origin).await?;
    Ok((registered.client, registered.secret))
}

fn check_name(name: Option<String>, field: &'static str) -> Result<Option<String>, AdminError> {
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

fn check_account_name(name: &str) -> Result<String, AdminError> {
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
fn check_password(password: &str, email: &str, field: &'static str) -> Result<(), AdminError> {
    password::check_strength(password, email).map_err(|reason| invalid(field, reason))
}

/// A user named by id (`usr_…`) or by email (any case).
pub async fn find_user(store: &Store, id_or_email: &str) -> Result<User, AdminError> {
    let user = match UserId::parse(id_or_email) {
        Some(id) => users::find(store.pool(), &id).await?,
        None => users::find_by_email(store.pool(), id_or_email.trim()).await?,
    };
    user.ok_or(AdminError::NotFound("user"))
}

/// Disables a user (`user.disabled`): they can no longer log in, their sessions end and
/// every token of theirs stops standing, as after a new password. Enabling
/// (`user.enabled`) lets them log in again; what disabling revoked stays revoked.
pub async fn set_user_disabled(
    store: &Store,
    user: &User,
    disabled: bool,
    origin: Origin<'_>,
) -> Result<User, AdminError> {
    let now = clock::now();
    let disabled_at = match (disabled, user.disabled_at) {
        (true, Some(since)) => Some(since.0),
        (true, None) => Some(now),
        (false, _) => None,
    };
    let mut tx = store.begin().await?;
    if !users::set_disabled(&mut *tx, &user.id, disabled_at, now).await? {
        return Err(AdminError::NotFound("user"));
    }
    let action = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    audit_events::insert(
        &mut *tx,
        &origin.event(None, action, "user", user.id.as_str(), json!({})),
        now,
    )
    .await?;
    if disabled {
        credentials::revoke_all(&mut tx, &user.id, now).await?;
    }
    tx.commit().await?;
    store.access_changed();
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
) -> Result<User, AdminError> {
    check_password(&password, &user.email, "password")?;
    let hash = hasher.hash(password).await?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    users::set_password_hash(&mut *tx, &user.id, &hash, now).await?;
    audit_events::insert(
        &mut *tx,
        &origin.event(
            None,
            "user.updated",
            "user",
            user.id.as_str(),
            json!({"fields": ["password"]}),
        ),
        now,
    )
    .await?;
    credentials::revoke_all(&mut tx, &user.id, now).await?;
    tx.commit().await?;
    store.access_changed();
    let mut user = user.clone();
    user.password_hash = Some(hash);
    user.updated_at = Timestamp(now);
    Ok(user)
}

/// Changes a registered client the way `PATCH /v1/.../clients/{cid}` does: `change` edits its
/// settings and first-party flag, the result is validated as a whole, and `client.updated`
/// names the fields that changed. A client turned confidential gets its first secret
/// (returned once); one turned public loses it.
/// With `in_account`, a client of another account is not found (the tenant's view).
pub async fn update_client(
    store: &Store,
    in_account: Option<&AccountId>,
    client_id: &ClientId,
    change: impl FnOnce(&mut ClientSettings, &mut bool) -> Result<(), AdminError>,
    origin: Origin<'_>,
) -> Result<(Client, Option<String>), AdminError> {
    let mut tx = store.begin().await?;
    let current = clients::find(&mut *tx, client_id)
        .await?
        .filter(|client| in_account.is_none_or(|account_id| &client.account_id == account_id))
        .ok_or(AdminError::NotFound("client"))?;
    let mut settings = current.settings.clone();
    let mut first_party = current.first_party;
    change(&mut settings, &mut first_party)?;
    let errors = settings.validate();
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    let mut changed = changed_fields(&current.settings, &settings);
    if first_party != current.first_party {
        changed.push("first_party".to_owned());
    }
    if changed.is_empty() {
        return Ok((current, None));
    }
    let now = clock::now();
    let mut updated = current;
    updated.settings = settings;
    updated.first_party = first_party;
    updated.updated_at = Timestamp(now);
    let mut new_secret = None;
    if updated.is_public() {
        updated.secret_hash = None;
    } else if updated.secret_hash.is_none() {
        let secret = secret::generate();
        updated.secret_hash = Some(secret::hash(&secret));
        new_secret = Some(secret);
    }
    clients::update(&mut *tx, &updated).await?;
    audit_events::insert(
        &mut *tx,
        &origin.event(
            Some(&updated.account_id),
            "client.updated",
            "client",
            updated.client_id.as_str(),
            json!({"fields": changed}),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    store.access_changed();
    Ok((updated, new_secret))
}

/// The top-level fields whose JSON differs between two settings.
fn changed_fields(before: &ClientSettings, after: &ClientSettings) -> Vec<String> {
    let (before, after) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    );
    match (before, after) {
        (serde_json::Value::Object(before), serde_json::Value::Object(after)) => after
            .into_iter()
            .filter(|(key, value)| before.get(key) != Some(value))
            .map(|(key, _)| key)
            .collect(),
        _ => Vec::new(),
    }
}

/// Gives a confidential client a new secret (`client.secret_rotated`), returned here once;
/// the previous one stops working at once.
pub async fn rotate_client_secret(
    store: &Store,
    client_id: &ClientId,
    origin: Origin<'_>,
) -> Result<(Client, String), AdminError> {
    let mut tx = store.begin().await?;
    let mut client = clients::find(&mut *tx, client_id)
        .await?
        .ok_or(AdminError::NotFound("client"))?;
    if client.is_public() {
        return Err(AdminError::Conflict(
            "a public client (token_endpoint_auth_method none) has no secret".to_owned(),
        ));
    }
    let now = clock::now();
    let secret = secret::generate();
    let hash = secret::hash(&secret);
    clients::set_secret_hash(&mut *tx, &client.client_id, &hash, now).await?;
    audit_events::insert(
        &mut *tx,
        &origin.event(
            Some(&client.account_id),
            "client.secret_rotated",
            "client",
            client.client_id.as_str(),
            json!({}),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    store.access_changed();
    client.secret_hash = Some(hash);
    client.updated_at = Timestamp(now);
    Ok((client, secret))
}
