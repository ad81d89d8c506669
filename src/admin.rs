//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde::Serialize;
use serde_json::json;

use crate::audit::{Action, Actor, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, ClientId, UserId};
use crate::keys::PublicJwk;
use crate::manage::Error;
use crate::manage::new_user::{self, check_name, check_password, hash_password};
use crate::oauth::client::{Client, ClientSettings};
use crate::password::Hasher;
use crate::secret;
use crate::store::{Store, accounts, clients, users};
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
    new_user::insert(&mut change, issuer, &user, now).await?;
    let details = json!({"superadmin": user.superadmin});
    let event = origin.event(None, Action::UserCreated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    Ok(user)
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
