//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde_json::json;

use crate::account::Account;
use crate::audit::{Action, Actor, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, ClientId};
use crate::manage::Error;
use crate::manage::users::{check_name, hash_password};
use crate::oauth::client::{Client, ClientSettings};
use crate::password::Hasher;
use crate::role::Role;
use crate::secret;
use crate::store::{Change, Recorded, Store, accounts, clients, memberships, users};
use crate::user::User;
use crate::validation::FieldError;

fn invalid(field: &'static str, message: &str) -> Error {
    Error::Invalid(vec![FieldError {
        field,
        message: message.to_owned(),
    }])
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
            crate::manage::users::insert(&mut change, issuer, &user, now).await?;
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
) -> Result<RegisteredClient, Error> {
    let errors = if new.self_registered {
        new.settings.validate_dynamic_registration()
    } else {
        new.settings.validate()
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
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
    let mut change = store.change().await?;
    accounts::find(&mut *change, account_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    clients::insert(&mut *change, &client).await?;
    if let Some(token) = &registration_access_token {
        clients::set_registration_token_hash(&mut *change, &client.client_id, &secret::hash(token))
            .await?;
    }
    let mut details = json!({"name": client.settings.name});
    if client.self_registered {
        details["self_registered"] = true.into();
    }
    let event = origin.event(
        Some(account_id),
        Action::ClientCreated,
        "client",
        client.client_id.as_str(),
        details,
    );
    let change = change.record(&event, now).await?;
    change.commit().await?;
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
) -> Result<(Client, Option<String>), Error> {
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

/// Changes a registered client the way `PATCH /v1/.../clients/{cid}` does: `change` edits its
/// settings and first-party flag, the result is validated as a whole, and `client.updated`
/// names the fields that changed. A client turned confidential gets its first secret
/// (returned once); one turned public loses it.
/// With `in_account`, a client of another account is not found (the tenant's view).
pub async fn update_client(
    store: &Store,
    in_account: Option<&AccountId>,
    client_id: &ClientId,
    edit: impl FnOnce(&mut ClientSettings, &mut bool) -> Result<(), Error>,
    origin: Origin<'_>,
) -> Result<(Client, Option<String>), Error> {
    let mut change = store.change().await?;
    let current = clients::find(&mut *change, client_id)
        .await?
        .filter(|client| in_account.is_none_or(|account_id| &client.account_id == account_id))
        .ok_or(Error::NotFound("client"))?;
    let mut settings = current.settings.clone();
    let mut first_party = current.first_party;
    edit(&mut settings, &mut first_party)?;
    let errors = settings.validate();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
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
    clients::update(&mut *change, &updated).await?;
    let event = origin.event(
        Some(&updated.account_id),
        Action::ClientUpdated,
        "client",
        updated.client_id.as_str(),
        json!({"fields": changed}),
    );
    let change = change.record(&event, now).await?;
    change.commit().await?;
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
) -> Result<(Client, String), Error> {
    let mut change = store.change().await?;
    let mut client = clients::find(&mut *change, client_id)
        .await?
        .ok_or(Error::NotFound("client"))?;
    if client.is_public() {
        return Err(Error::conflict(
            "a public client (token_endpoint_auth_method none) has no secret".to_owned(),
        ));
    }
    let now = clock::now();
    let secret = secret::generate();
    let hash = secret::hash(&secret);
    clients::set_secret_hash(&mut *change, &client.client_id, &hash, now).await?;
    let event = origin.event(
        Some(&client.account_id),
        Action::ClientSecretRotated,
        "client",
        client.client_id.as_str(),
        json!({}),
    );
    let change = change.record(&event, now).await?;
    change.commit().await?;
    client.secret_hash = Some(hash);
    client.updated_at = Timestamp(now);
    Ok((client, secret))
}
