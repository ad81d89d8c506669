//! An account's API keys (`api_keys:write`): create keys with a role allowing no more than
//! the caller may (the token shown once), list, revoke and roll them.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access;
use crate::api_key::{self, ApiKey, ApiKeyStatus};
use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::ids::{AccountId, ApiKeyId};
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked, roles};
use crate::permission::Permission;
use crate::role::RoleId;
use crate::secret;
use crate::store::{Position, Store, api_keys};

/// A key as its account's admins see it; `token` only in the answer that made it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    #[serde(flatten)]
    pub key: ApiKey,
    pub status: ApiKeyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl KeyView {
    pub fn new(key: ApiKey, now: i64, token: Option<String>) -> KeyView {
        KeyView {
            status: key.status_at(now),
            key,
            token,
        }
    }

    /// Its place in a list, newest first.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.key.created_at.0,
            id: self.key.id.to_string(),
        }
    }
}

/// A key to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    pub role: RoleId,
    /// RFC 3339; absent: the key does not expire.
    pub expires_at: Option<String>,
}

/// An account's keys, newest first, for its admins. `after` (parsed from the request) is
/// looked at only once the caller may know the account exists.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: Result<Position, E>,
    limit: i64,
) -> Result<Vec<KeyView>, E> {
    caller::authorize(store, caller, account_id, Permission::ApiKeysWrite).await?;
    let rows = api_keys::list(store.pool(), account_id, &after?, limit)
        .await
        .map_err(Error::from)?;
    let now = clock::now();
    Ok(rows
        .into_iter()
        .map(|key| KeyView::new(key, now, None))
        .collect())
}

/// Creates a key (`api_key.created`) with a role no higher than the caller's.
pub async fn create(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    new: NewKey,
) -> Result<KeyView, Error> {
    let standing = caller::authorize(store, caller, account_id, Permission::ApiKeysWrite).await?;
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    let now = clock::now();
    let expires_at = match new.expires_at.as_deref() {
        Some(text) => {
            let at = Timestamp::parse(text)
                .ok_or_else(|| Error::invalid("expires_at", "must be an RFC 3339 timestamp"))?;
            if at.0 <= now {
                return Err(Error::invalid("expires_at", "must be in the future"));
            }
            Some(at)
        }
        None => None,
    };
    let key = ApiKey::new(
        account_id.clone(),
        name,
        new.role,
        caller.user_id(),
        expires_at,
        now,
    );
    let token = api_key::generate();
    // The account first, then the role (`roles::grantable`), in the order every grant and
    // every role change takes them: two changes never wait on each other crosswise.
    let mut change = locked(store, account_id).await?;
    roles::grantable(&mut change, &standing, account_id, &key.role).await?;
    api_keys::insert(&mut *change, &key, &secret::hash(&token)).await?;
    let event = caller.event(
        Some(account_id),
        Action::ApiKeyCreated,
        "api_key",
        key.id.as_str(),
        json!({"name": key.name, "role": &key.role}),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(KeyView::new(key, now, Some(token)))
}

async fn find(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    key: &str,
) -> Result<ApiKey, Error> {
    let id = ApiKeyId::parse(key).ok_or(Error::NotFound("API key"))?;
    api_keys::find(db, account_id, &id)
        .await?
        .ok_or(Error::NotFound("API key"))
}

/// Revokes a key (`api_key.revoked`); revoking a revoked key changes nothing.
pub async fn revoke(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
) -> Result<(), Error> {
    caller::authorize(store, caller, account_id, Permission::ApiKeysWrite).await?;
    let now = clock::now();
    let mut change = store.change().await?;
    let key = find(&mut change, account_id, key).await?;
    if api_keys::revoke(&mut *change, &key.id, now).await? {
        let event = caller.event(
            Some(account_id),
            Action::ApiKeyRevoked,
            "api_key",
            key.id.as_str(),
            json!({"name": key.name}),
        );
        change.record(&event, now).await?.commit().await?;
    }
    Ok(())
}

/// Gives a key a new token, same id (`api_key.rolled`); the previous token stops working.
pub async fn roll(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
) -> Result<KeyView, Error> {
    let standing = caller::authorize(store, caller, account_id, Permission::ApiKeysWrite).await?;
    let now = clock::now();
    let mut change = locked(store, account_id).await?;
    let mut key = find(&mut change, account_id, key).await?;
    // Rolling hands out the key's power: no more than the caller's own.
    let held = roles::held_by(&mut change, account_id, &key.role).await?;
    if !access::may_grant(&standing.permissions, &held.permissions) {
        return Err(Error::forbidden(
            "a key whose role allows more than yours cannot be rolled by you",
        ));
    }
    let token = api_key::generate();
    if !api_keys::roll(&mut *change, &key.id, &secret::hash(&token), now).await? {
        return Err(Error::conflict("the key is revoked"));
    }
    let event = caller.event(
        Some(account_id),
        Action::ApiKeyRolled,
        "api_key",
        key.id.as_str(),
        json!({"name": key.name}),
    );
    change.record(&event, now).await?.commit().await?;
    key.updated_at = Timestamp(now);
    Ok(KeyView::new(key, now, Some(token)))
}
