//! OAuth clients: one creation path (the REST API, RFC 7591 dynamic registration and
//! `tessera clients create`), one update path (REST `PATCH`, RFC 7592 `PUT` and
//! `tessera clients update`) holding the public/confidential secret rule, deletion, secret
//! rotation and the reads. A secret is shown once, in the answer that made it; only its hash
//! is stored, and [`ClientView`], what every adapter shows, has no field that could hold it.

use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::ids::{AccountId, ClientId};
use crate::manage::Error;
use crate::manage::caller::{self, Caller};
use crate::oauth::client::{Client, ClientSettings};
use crate::permission::Permission;
use crate::secret;
use crate::store::{Change, Position, Store, accounts, clients};

/// A client as the REST API and the CLI show it; `client_secret` only in the answer that made
/// it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: ClientId,
    pub account_id: AccountId,
    #[serde(flatten)]
    pub settings: ClientSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Registered itself through `/oauth2/register`.
    pub self_registered: bool,
    /// Trusted by the operator: its users see no consent page.
    pub first_party: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ClientView {
    /// The client, and its secret when this answer is the one time it is shown.
    pub fn new(client: Client, client_secret: Option<String>) -> ClientView {
        ClientView {
            client_id: client.client_id,
            account_id: client.account_id,
            settings: client.settings,
            created_at: client.created_at,
            updated_at: client.updated_at,
            self_registered: client.self_registered,
            first_party: client.first_party,
            client_secret,
        }
    }

    /// Its place in a list, newest first.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at.0,
            id: self.client_id.to_string(),
        }
    }
}

/// An account's clients, newest first, for its admins. `after` (parsed from the request) is
/// looked at only once the caller may know the account exists.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: Result<Position, E>,
    limit: i64,
) -> Result<Vec<ClientView>, E> {
    caller::authorize(store, caller, account_id, Permission::ClientsRead).await?;
    let rows = clients::list(store.pool(), account_id, &after?, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows
        .into_iter()
        .map(|row| ClientView::new(row, None))
        .collect())
}

/// One client of the account (`cid` as the caller named it), for its admins.
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    cid: &str,
) -> Result<ClientView, Error> {
    caller::authorize(store, caller, account_id, Permission::ClientsRead).await?;
    let client = find_in_account(&mut *store.pool().acquire().await?, account_id, cid).await?;
    Ok(ClientView::new(client, None))
}

/// The operator's list: the clients of one account, or of every account (newest accounts
/// first).
pub async fn list_for_operator(
    store: &Store,
    account_id: Option<&AccountId>,
) -> Result<Vec<ClientView>, Error> {
    let account_ids = match account_id {
        Some(account_id) => {
            accounts::find(store.pool(), account_id)
                .await?
                .ok_or(Error::NotFound("account"))?;
            vec![account_id.clone()]
        }
        None => accounts::search(store.pool(), None, &Position::start(), i64::MAX)
            .await?
            .into_iter()
            .map(|account| account.id)
            .collect(),
    };
    let mut views = Vec::new();
    for account_id in &account_ids {
        let rows = clients::list(store.pool(), account_id, &Position::start(), i64::MAX).await?;
        views.extend(rows.into_iter().map(|row| ClientView::new(row, None)));
    }
    Ok(views)
}

/// Any client, for the operator.
pub async fn show_for_operator(store: &Store, client_id: &ClientId) -> Result<ClientView, Error> {
    let client = clients::find(store.pool(), client_id)
        .await?
        .ok_or(Error::NotFound("client"))?;
    Ok(ClientView::new(client, None))
}

async fn find_in_account(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    cid: &str,
) -> Result<Client, Error> {
    let client_id = ClientId::parse(cid).ok_or(Error::NotFound("client"))?;
    clients::find_in_account(db, account_id, &client_id)
        .await?
        .ok_or(Error::NotFound("client"))
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

/// An account admin registers a client (`POST /v1/accounts/{acc}/clients`); `first_party`
/// only a superadmin may ask for.
pub async fn create(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    settings: ClientSettings,
    first_party: bool,
) -> Result<ClientView, Error> {
    caller::authorize(store, caller, account_id, Permission::ClientsWrite).await?;
    if first_party {
        require_superadmin(store, caller).await?;
    }
    let new = NewClient {
        settings,
        first_party,
        self_registered: false,
    };
    let registered = register(store, account_id, new, caller.origin()).await?;
    Ok(ClientView::new(registered.client, registered.secret))
}

/// Registers a client under `account_id`: the one path of the CLI, the REST API and dynamic
/// registration. Validates it, stores the secrets' hashes only, and records `client.created`
/// in the same change.
pub async fn register(
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
    let mut client = Client {
        client_id: ClientId::generate(),
        account_id: account_id.clone(),
        settings: new.settings,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        secret_hash: None,
        self_registered: new.self_registered,
        first_party: new.first_party,
        account_active: true,
    };
    let secret = settle_secret(&mut client);
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
    change.record(&event, now).await?.commit().await?;
    Ok(RegisteredClient {
        client,
        secret,
        registration_access_token,
    })
}

/// The secret rule: a public client has no secret; a confidential one has one, made here
/// (and returned, to be shown once) when it has none yet.
fn settle_secret(client: &mut Client) -> Option<String> {
    if client.is_public() {
        client.secret_hash = None;
        return None;
    }
    if client.secret_hash.is_some() {
        return None;
    }
    let secret = secret::generate();
    client.secret_hash = Some(secret::hash(&secret));
    Some(secret)
}

/// A change to a client's settings (`settings` edits them in place) and, when given, its
/// first-party flag.
pub struct Patch<M> {
    pub first_party: Option<bool>,
    pub settings: M,
}

/// An account admin updates a client (`PATCH`, a merge patch `settings` applies to the
/// settings as the change reads them); changing `first_party` is a superadmin's call. The
/// patch (parsed from the request) is looked at only once the caller may know the account.
pub async fn update<M, E>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    cid: &str,
    patch: Result<Patch<M>, E>,
) -> Result<ClientView, E>
where
    M: FnOnce(&mut ClientSettings) -> Result<(), Error>,
    E: From<Error>,
{
    caller::authorize(store, caller, account_id, Permission::ClientsWrite).await?;
    let patch = patch?;
    let mut db = store.pool().acquire().await.map_err(Error::from)?;
    let current = find_in_account(&mut db, account_id, cid).await?;
    // Back to the pool before the change takes a connection of its own.
    drop(db);
    if patch
        .first_party
        .is_some_and(|wanted| wanted != current.first_party)
    {
        require_superadmin(store, caller).await?;
    }
    let (client, secret) = apply_update(
        store,
        &current.client_id,
        Some(account_id),
        Updater::Manager,
        patch,
        caller.origin(),
    )
    .await?;
    Ok(ClientView::new(client, secret))
}

/// The operator updates any client (`tessera clients update`).
pub async fn update_for_operator(
    store: &Store,
    client_id: &ClientId,
    patch: Patch<impl FnOnce(&mut ClientSettings) -> Result<(), Error>>,
    origin: Origin<'_>,
) -> Result<ClientView, Error> {
    let (client, secret) =
        apply_update(store, client_id, None, Updater::Manager, patch, origin).await?;
    Ok(ClientView::new(client, secret))
}

/// A client replaces its own registration (RFC 7592 §2.2): `settings` as a whole, checked as
/// dynamic registration. Returns the client, and its first secret when it turned confidential.
pub async fn update_registration(
    store: &Store,
    client: &Client,
    settings: ClientSettings,
    origin: Origin<'_>,
) -> Result<(Client, Option<String>), Error> {
    let patch = Patch {
        first_party: None,
        settings: |current: &mut ClientSettings| {
            *current = settings;
            Ok(())
        },
    };
    let kind = Updater::Registration;
    apply_update(store, &client.client_id, None, kind, patch, origin).await
}

/// Who updates a client decides how the update is checked and recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Updater {
    /// An account admin or the operator: validated as a registration, recorded with the
    /// fields that changed, and nothing written when none did.
    Manager,
    /// The client itself (RFC 7592): validated as dynamic registration, always recorded.
    Registration,
}

/// The one update path: reads the client in the change, applies `patch`, validates the whole,
/// applies the secret rule (a client turned confidential gets its first secret, returned
/// once; one turned public loses it), writes and records `client.updated`. With `in_account`,
/// a client of another account is not found (the tenant's view).
async fn apply_update(
    store: &Store,
    client_id: &ClientId,
    in_account: Option<&AccountId>,
    updater: Updater,
    patch: Patch<impl FnOnce(&mut ClientSettings) -> Result<(), Error>>,
    origin: Origin<'_>,
) -> Result<(Client, Option<String>), Error> {
    let mut change = store.change().await?;
    let current = clients::find(&mut *change, client_id)
        .await?
        .filter(|client| in_account.is_none_or(|account_id| &client.account_id == account_id))
        .ok_or(Error::NotFound("client"))?;
    let mut settings = current.settings.clone();
    (patch.settings)(&mut settings)?;
    let first_party = patch.first_party.unwrap_or(current.first_party);
    let errors = match updater {
        Updater::Manager => settings.validate(),
        Updater::Registration => settings.validate_dynamic_registration(),
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let details = match updater {
        Updater::Manager => {
            let mut changed = changed_fields(&current.settings, &settings);
            if first_party != current.first_party {
                changed.push("first_party".to_owned());
            }
            if changed.is_empty() {
                return Ok((current, None));
            }
            json!({"fields": changed})
        }
        Updater::Registration => json!({"registration": true}),
    };
    let now = clock::now();
    let mut updated = current;
    updated.settings = settings;
    updated.first_party = first_party;
    updated.updated_at = Timestamp(now);
    let new_secret = settle_secret(&mut updated);
    clients::update(&mut *change, &updated).await?;
    let event = origin.event(
        Some(&updated.account_id),
        Action::ClientUpdated,
        "client",
        updated.client_id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok((updated, new_secret))
}

/// The top-level fields whose JSON differs between two settings.
fn changed_fields(before: &ClientSettings, after: &ClientSettings) -> Vec<String> {
    let (before, after) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    );
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => after
            .into_iter()
            .filter(|(key, value)| before.get(key) != Some(value))
            .map(|(key, _)| key)
            .collect(),
        _ => Vec::new(),
    }
}

/// `first_party` takes the consent page away from a client's users: the operator's call, so a
/// superadmin's (API.md §4), never a tenant admin's.
async fn require_superadmin(store: &Store, caller: &Caller) -> Result<(), Error> {
    if caller::is_superadmin(store, caller).await? {
        return Ok(());
    }
    Err(Error::forbidden("only a superadmin may set first_party"))
}

/// An account admin deletes a client (`client.deleted`).
pub async fn delete(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    cid: &str,
) -> Result<(), Error> {
    caller::authorize(store, caller, account_id, Permission::ClientsWrite).await?;
    let mut change = store.change().await?;
    let client = find_in_account(&mut change, account_id, cid).await?;
    let details = json!({"name": client.settings.name});
    remove(change, &client, caller.origin(), details).await
}

/// A client deletes its own registration (RFC 7592 §2.3).
pub async fn delete_registration(
    store: &Store,
    client: &Client,
    origin: Origin<'_>,
) -> Result<(), Error> {
    let change = store.change().await?;
    let details = json!({"name": client.settings.name, "registration": true});
    remove(change, client, origin, details).await
}

async fn remove(
    mut change: Change<'_>,
    client: &Client,
    origin: Origin<'_>,
    details: Value,
) -> Result<(), Error> {
    clients::delete(&mut *change, &client.client_id).await?;
    let event = origin.event(
        Some(&client.account_id),
        Action::ClientDeleted,
        "client",
        client.client_id.as_str(),
        details,
    );
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(())
}

/// An account admin gives a confidential client a new secret.
pub async fn rotate_secret(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    cid: &str,
) -> Result<ClientView, Error> {
    caller::authorize(store, caller, account_id, Permission::ClientsWrite).await?;
    let client_id = ClientId::parse(cid).ok_or(Error::NotFound("client"))?;
    rotate(store, Some(account_id), &client_id, caller.origin()).await
}

/// The operator gives any confidential client a new secret.
pub async fn rotate_secret_for_operator(
    store: &Store,
    client_id: &ClientId,
    origin: Origin<'_>,
) -> Result<ClientView, Error> {
    rotate(store, None, client_id, origin).await
}

/// A new secret (`client.secret_rotated`), shown once in the answer; the previous one stops
/// working at once. With `in_account`, a client of another account is not found.
async fn rotate(
    store: &Store,
    in_account: Option<&AccountId>,
    client_id: &ClientId,
    origin: Origin<'_>,
) -> Result<ClientView, Error> {
    let mut change = store.change().await?;
    let mut client = clients::find(&mut *change, client_id)
        .await?
        .filter(|client| in_account.is_none_or(|account_id| &client.account_id == account_id))
        .ok_or(Error::NotFound("client"))?;
    if client.is_public() {
        return Err(Error::conflict(
            "a public client (token_endpoint_auth_method none) has no secret",
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
    change.record(&event, now).await?.commit().await?;
    client.secret_hash = Some(hash);
    client.updated_at = Timestamp(now);
    Ok(ClientView::new(client, Some(secret)))
}

/// The client a registration access token manages (RFC 7592 §3): `None` for an unknown
/// client or a token that is not its own, which callers answer alike.
pub async fn authenticate_registration(
    store: &Store,
    client_id: &str,
    token: &str,
) -> Result<Option<Client>, Error> {
    let Some(client_id) = ClientId::parse(client_id) else {
        return Ok(None);
    };
    let Some(stored) = clients::registration_token_hash(store.pool(), &client_id).await? else {
        return Ok(None);
    };
    if !secret::verify(token, &stored) {
        return Ok(None);
    }
    Ok(store.client(&client_id).await?)
}

/// Whether `sent` is the client's current secret (RFC 7592 §2.2: a `client_secret` in an
/// update must be).
pub fn is_current_secret(client: &Client, sent: &str) -> bool {
    client
        .secret_hash
        .as_deref()
        .is_some_and(|stored| secret::verify(sent, stored))
}
