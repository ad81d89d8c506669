//! Who calls the management API and what they may do on an account: the standing (role and
//! permissions) along the account's lineage (a superadmin's user-level token acts as owner),
//! 404 without a relation and 403 without the permission asked for. HTTP authenticates (`http::v1::caller`); this decides.

use std::sync::Arc;

use serde_json::Value;

use crate::access::{self, Held, Link, Reach, Standing};
use crate::api_key::{self, ApiKey};
use crate::audit::{Action, Actor, NewEvent, Origin};
use crate::clock;
use crate::ids::GrantId;
use crate::ids::{AccountId, ApiKeyId, UserId};
use crate::manage::Error;
use crate::oauth::claims::AccessTokenClaims;
use crate::permission::Permission;
use crate::role::Builtin;
use crate::secret;
use crate::store::{Store, accounts, api_keys, grants, users};
use crate::user::User;

/// An authenticated caller of the management API.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The accounts and the highest role the credential itself allows.
    pub reach: Reach,
    pub credential: Credential,
    /// Who the audit trail names, and from where the request came.
    pub actor: Actor,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who acts: a user (through an access token), or an API key of one account, whose role
/// stands in for a membership on that account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    User(UserId),
    ApiKey(ApiKeyId),
}

/// What the caller authenticated with.
#[derive(Clone, Debug)]
pub enum Credential {
    /// An access token of this server, verified and live.
    AccessToken(AccessTokenClaims),
    /// An API key, active when the request came.
    ApiKey(ApiKey),
}

impl Caller {
    /// The user acting, `None` for an API key.
    pub fn user_id(&self) -> Option<&UserId> {
        match &self.principal {
            Principal::User(user_id) => Some(user_id),
            Principal::ApiKey(_) => None,
        }
    }

    /// The user acting, for endpoints only a person may call (403 for an API key).
    pub fn user(&self) -> Result<&UserId, Error> {
        self.user_id()
            .ok_or_else(|| Error::forbidden("this needs a user's token, not an API key"))
    }

    /// The caller's login access token, for endpoints that trade it for another.
    pub fn access_token(&self) -> Result<&AccessTokenClaims, Error> {
        match &self.credential {
            Credential::AccessToken(claims) => Ok(claims),
            Credential::ApiKey(_) => Err(Error::forbidden(
                "this needs a user's access token, not an API key",
            )),
        }
    }

    /// The API key the caller authenticated with, if it did with one.
    pub fn api_key(&self) -> Option<&ApiKey> {
        match &self.credential {
            Credential::ApiKey(key) => Some(key),
            Credential::AccessToken(_) => None,
        }
    }

    /// An audit event of this caller's request.
    pub fn event<'a>(
        &'a self,
        account_id: Option<&'a AccountId>,
        action: Action,
        target_type: &'a str,
        target_id: &'a str,
        details: Value,
    ) -> NewEvent<'a> {
        self.origin()
            .event(account_id, action, target_type, target_id, details)
    }

    /// Who acts and from where, for the operator actions shared with the CLI (`admin`).
    pub fn origin(&self) -> Origin<'_> {
        Origin {
            actor: &self.actor,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }

    /// Whether the credential is limited to one account (and its descendants).
    pub fn is_account_scoped(&self) -> bool {
        self.reach.account_id.is_some()
    }

    /// Refuses account-scoped credentials: for actions outside any one account (creating a
    /// top-level account, joining another).
    pub fn require_user_level(&self) -> Result<(), Error> {
        if self.is_account_scoped() {
            return Err(Error::forbidden(
                "an account-scoped token cannot act outside its account",
            ));
        }
        Ok(())
    }
}

/// The active API key `token` names, with the role it holds (`None`: unknown, expired,
/// revoked, or its account or an ancestor suspended): from the store's cache, or one query.
/// Its last use is written down at most once a minute, off the request's path.
pub async fn authenticate_api_key(
    store: &Store,
    token: &str,
) -> Result<Option<(ApiKey, Held)>, sqlx::Error> {
    let now = clock::now();
    let Some(found) = store.api_key(&secret::hash(token)).await? else {
        return Ok(None);
    };
    if !found.key.is_active(now) {
        return Ok(None);
    }
    if found.claim_use(now) {
        let store = store.clone();
        let id = found.key.id.clone();
        tokio::spawn(async move {
            let granularity = api_key::LAST_USED_GRANULARITY_SECONDS;
            if let Err(error) = api_keys::touch(store.pool(), &id, now, granularity).await {
                tracing::warn!(%error, key = %id, "cannot record an API key's use");
            }
        });
    }
    Ok(Some((found.key.clone(), found.held.clone())))
}

/// Whether the caller is a superadmin acting with a user-level token (an account-scoped
/// token carries its account's powers only). Read now, so a revoked flag counts at once.
pub async fn is_superadmin(store: &Store, caller: &Caller) -> Result<bool, sqlx::Error> {
    match caller.user_id() {
        Some(user_id) if !caller.is_account_scoped() => {
            users::is_superadmin(store.pool(), user_id).await
        }
        _ => Ok(false),
    }
}

/// The caller's standing on `account_id` if it allows `needed`: no relation (or no such
/// account) is 404, a relation without the permission is 403. Read from the store's cache:
/// every change to what a standing is made of forgets it on commit.
pub async fn authorize(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    needed: Permission,
) -> Result<Standing, Error> {
    let standing = standing(Reading::Cached(store), caller, account_id).await?;
    permit(standing, needed)
}

/// [`authorize`] inside a transaction that holds `accounts::lock`: for changes whose
/// permission must not go stale before they are written (membership changes).
pub async fn authorize_in(
    db: &mut sqlx::AnyConnection,
    caller: &Caller,
    account_id: &AccountId,
    needed: Permission,
) -> Result<Standing, Error> {
    let standing = standing(Reading::Locked(db), caller, account_id).await?;
    permit(standing, needed)
}

/// The caller's standing on `account_id`, whatever it allows (404 without a relation): for
/// what any member may do, such as leaving.
pub async fn related_in(
    db: &mut sqlx::AnyConnection,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Standing, Error> {
    standing(Reading::Locked(db), caller, account_id)
        .await?
        .ok_or(Error::NotFound("account"))
}

/// 404 without a standing, 403 when it does not allow `needed`.
fn permit(standing: Option<Standing>, needed: Permission) -> Result<Standing, Error> {
    let standing = standing.ok_or(Error::NotFound("account"))?;
    if !standing.may(needed) {
        return Err(Error::forbidden(format!(
            "this needs the {} permission on the account",
            needed.as_str()
        )));
    }
    Ok(standing)
}

/// Where a standing is read: the store's cache (a read-only request, or a change that may
/// act on a standing a moment old), or the connection of a change holding the account's lock.
enum Reading<'a> {
    Cached(&'a Store),
    Locked(&'a mut sqlx::AnyConnection),
}

impl Reading<'_> {
    async fn lineage(
        &mut self,
        account_id: &AccountId,
        user_id: Option<&UserId>,
    ) -> Result<Arc<[Link]>, sqlx::Error> {
        match self {
            Reading::Cached(store) => store.lineage(account_id, user_id).await,
            Reading::Locked(db) => Ok(accounts::lineage(&mut **db, account_id, user_id)
                .await?
                .into()),
        }
    }

    async fn is_superadmin(&mut self, user_id: &UserId) -> Result<bool, sqlx::Error> {
        match self {
            Reading::Cached(store) => users::is_superadmin(store.pool(), user_id).await,
            Reading::Locked(db) => users::is_superadmin(&mut **db, user_id).await,
        }
    }
}

/// The caller's standing on an account, `None` without a relation. A superadmin's
/// user-level token acts on every existing account as its owner would (API.md §2).
async fn standing(
    mut reading: Reading<'_>,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Option<Standing>, sqlx::Error> {
    let lineage: Arc<[Link]> = match &caller.credential {
        Credential::AccessToken(_) => match caller.user_id() {
            Some(user_id) => reading.lineage(account_id, Some(user_id)).await?,
            None => return Ok(None),
        },
        // A key holds its role on its own account, as a membership would.
        Credential::ApiKey(key) => reading
            .lineage(account_id, None)
            .await?
            .iter()
            .map(|link| Link {
                held: (link.account_id == key.account_id)
                    .then(|| caller.reach.cap.clone())
                    .flatten(),
                ..link.clone()
            })
            .collect(),
    };
    let standing = access::standing(&lineage, &caller.reach);
    // Asked only when the caller is short of owner, so members pay nothing for it.
    let is_owner = standing
        .as_ref()
        .is_some_and(|standing| standing.role.is(Builtin::Owner));
    if !is_owner
        && !lineage.is_empty()
        && !caller.is_account_scoped()
        && let Some(user_id) = caller.user_id()
        && reading.is_superadmin(user_id).await?
    {
        return Ok(Some(Standing::superadmin()));
    }
    Ok(standing)
}

/// The calling user (a user's token only; an API key is 403), whose live token may outlive
/// them (then 401).
pub async fn user(store: &Store, caller: &Caller) -> Result<User, Error> {
    users::find(store.pool(), caller.user()?)
        .await?
        .ok_or(Error::CallerGone)
}

/// When the calling user last proved who they are: the login (`auth_time`) of the grant the
/// caller's token descends from; `None` for a credential that shows none (an API key, a
/// token without a grant).
pub async fn auth_time(store: &Store, caller: &Caller) -> Result<Option<i64>, Error> {
    let grant_id = match &caller.credential {
        Credential::AccessToken(claims) => claims.gid.as_deref().and_then(GrantId::parse),
        Credential::ApiKey(_) => None,
    };
    let Some(grant_id) = grant_id else {
        return Ok(None);
    };
    Ok(grants::find(store.pool(), &grant_id)
        .await?
        .and_then(|grant| grant.auth_time))
}
