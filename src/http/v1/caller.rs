//! Who is calling `/v1`: the `Caller` extractor authenticates `Authorization: Bearer` and
//! `authorize` answers what the caller may do on an account (RFC 6750 challenges, 404 for
//! no relation, 403 for a role too low).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::Value;

use crate::access::{self, Link, Reach};
use crate::admin::Origin;
use crate::api_key::{self, ApiKey};
use crate::clock;
use crate::http::error::HttpError;
use crate::http::extract;
use crate::http::page::ClientIp;
use crate::ids::{AccountId, ApiKeyId, UserId};
use crate::oauth::claims::AccessTokenClaims;
use crate::oauth::scope;
use crate::role::Role;
use crate::secret;
use crate::state::AppState;
use crate::store::audit_events::{Actor, NewEvent};
use crate::store::{Tx, accounts, api_keys, users};
use crate::tokens;

/// An authenticated caller of the `/v1` API.
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
    pub fn user(&self) -> Result<&UserId, HttpError> {
        self.user_id()
            .ok_or_else(|| HttpError::forbidden("this needs a user's token, not an API key"))
    }

    /// The caller's login access token, for endpoints that trade it for another.
    pub fn access_token(&self) -> Result<&AccessTokenClaims, HttpError> {
        match &self.credential {
            Credential::AccessToken(claims) => Ok(claims),
            Credential::ApiKey(_) => Err(HttpError::forbidden(
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
        action: &'a str,
        target_type: &'a str,
        target_id: &'a str,
        details: Value,
    ) -> NewEvent<'a> {
        NewEvent {
            account_id,
            action,
            actor: &self.actor,
            target_type,
            target_id,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            details,
        }
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
    pub fn require_user_level(&self) -> Result<(), HttpError> {
        if self.is_account_scoped() {
            return Err(HttpError::forbidden(
                "an account-scoped token cannot act outside its account",
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    /// A caller whose user token carries `tessera:manage` (API.md §2): a token granted to a
    /// third-party app for sign-in (`openid email`) must not manage the user's accounts.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, HttpError> {
        let caller = authenticate(parts, state).await?;
        if let Credential::AccessToken(claims) = &caller.credential
            && !claims.scope.split(' ').any(|token| token == scope::MANAGE)
        {
            return Err(HttpError::insufficient_scope(scope::MANAGE));
        }
        Ok(caller)
    }
}

/// A caller of the one `/v1` endpoint a token of any scope may call: the account token's
/// REST form (API.md §7), which trades a login token whatever it was granted for.
pub struct AnyScopeCaller(pub Caller);

impl FromRequestParts<AppState> for AnyScopeCaller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<AnyScopeCaller, HttpError> {
        authenticate(parts, state).await.map(AnyScopeCaller)
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, HttpError> {
    let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
    let ip = (!ip.is_unspecified()).then(|| ip.to_string());
    let token = extract::bearer_token(&parts.headers)
        .map_err(|()| HttpError::invalid_token())?
        .ok_or_else(HttpError::unauthenticated)?;
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(512).collect());
    if api_key::looks_like_key(token) {
        let key = authenticate_api_key(state, token)
            .await?
            .ok_or_else(HttpError::invalid_token)?;
        return Ok(Caller {
            actor: Actor::ApiKey(key.id.to_string()),
            principal: Principal::ApiKey(key.id.clone()),
            reach: Reach {
                account_id: Some(key.account_id.clone()),
                max_role: Some(key.role),
            },
            credential: Credential::ApiKey(key),
            ip,
            user_agent,
        });
    }
    let claims = state
        .keys
        .verify_access_token(token)
        .map_err(|_| HttpError::invalid_token())?;
    if !tokens::is_live(&state.store, &claims, clock::now()).await? {
        return Err(HttpError::invalid_token());
    }
    // A client's own token (client credentials) speaks for no user; API keys, not client
    // tokens, are the machine credentials of this API.
    let user_id = claims
        .uid
        .as_deref()
        .and_then(UserId::parse)
        .ok_or_else(|| HttpError::forbidden("this API needs a user's token or an API key"))?;
    let reach = match claims.acc.as_deref() {
        Some(acc) => Reach {
            account_id: Some(AccountId::parse(acc).ok_or_else(HttpError::invalid_token)?),
            max_role: Some(
                claims
                    .role
                    .as_deref()
                    .and_then(Role::parse)
                    .ok_or_else(HttpError::invalid_token)?,
            ),
        },
        None => Reach::default(),
    };
    Ok(Caller {
        actor: Actor::User(user_id.to_string()),
        principal: Principal::User(user_id),
        reach,
        credential: Credential::AccessToken(claims),
        ip,
        user_agent,
    })
}

/// The active API key `token` names (`None`: unknown, expired, revoked, or its account or an
/// ancestor suspended): one query. Its last use is written down at most once a minute, off
/// the request's path.
pub async fn authenticate_api_key(
    state: &AppState,
    token: &str,
) -> Result<Option<ApiKey>, sqlx::Error> {
    let now = clock::now();
    let found =
        api_keys::find_by_token_hash_in_active_account(state.store.pool(), &secret::hash(token))
            .await?;
    let Some(key) = found.filter(|key| key.is_active(now)) else {
        return Ok(None);
    };
    if key.use_is_news(now) {
        let store = state.store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            let granularity = api_key::LAST_USED_GRANULARITY_SECONDS;
            if let Err(error) = api_keys::touch(store.pool(), &id, now, granularity).await {
                tracing::warn!(%error, key = %id, "cannot record an API key's use");
            }
        });
    }
    Ok(Some(key))
}

/// Whether the caller is a superadmin acting with a user-level token (an account-scoped
/// token carries its account's powers only). Read now, so a revoked flag counts at once.
pub async fn is_superadmin(state: &AppState, caller: &Caller) -> Result<bool, sqlx::Error> {
    match caller.user_id() {
        Some(user_id) if !caller.is_account_scoped() => {
            users::is_superadmin(state.store.pool(), user_id).await
        }
        _ => Ok(false),
    }
}

/// The caller's effective role on `account_id` if it is at least `needed`: no relation (or
/// no such account) is 404, a relation with a lower role is 403.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    account_id: &AccountId,
    needed: Role,
) -> Result<Role, HttpError> {
    require(
        effective_role(
            &mut *state.store.pool().acquire().await?,
            caller,
            account_id,
        )
        .await?,
        needed,
    )
}

/// [`authorize`] inside a transaction that holds `accounts::lock`: for changes whose
/// permission must not go stale before they are written (membership changes).
pub async fn authorize_in(
    tx: &mut Tx,
    caller: &Caller,
    account_id: &AccountId,
    needed: Role,
) -> Result<Role, HttpError> {
    require(effective_role(tx, caller, account_id).await?, needed)
}

fn require(role: Option<Role>, needed: Role) -> Result<Role, HttpError> {
    let role = role.ok_or_else(|| HttpError::not_found("account"))?;
    if role < needed {
        return Err(HttpError::forbidden(format!(
            "this needs the {} role or higher on the account",
            needed.as_str()
        )));
    }
    Ok(role)
}

/// The caller's effective role on an account, `None` without a relation. A superadmin's
/// user-level token acts on every existing account as its owner would (API.md §2).
pub async fn effective_role(
    db: &mut sqlx::AnyConnection,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Option<Role>, sqlx::Error> {
    let lineage = match &caller.credential {
        Credential::AccessToken(_) => match caller.user_id() {
            Some(user_id) => accounts::lineage(&mut *db, account_id, user_id).await?,
            None => return Ok(None),
        },
        // A key holds its role on its own account, as a membership would.
        Credential::ApiKey(key) => accounts::ancestry(&mut *db, account_id)
            .await?
            .into_iter()
            .map(|id| Link {
                role: (id == key.account_id).then_some(key.role),
                account_id: id,
            })
            .collect(),
    };
    let role = access::effective_role(&lineage, &caller.reach);
    // Asked only when the caller is short of owner, so members pay nothing for it.
    if role != Some(Role::Owner)
        && !lineage.is_empty()
        && !caller.is_account_scoped()
        && let Some(user_id) = caller.user_id()
        && users::is_superadmin(&mut *db, user_id).await?
    {
        return Ok(Some(Role::Owner));
    }
    Ok(role)
}

/// An account id from the path; one that cannot exist is simply not found.
pub fn account_id(text: &str) -> Result<AccountId, HttpError> {
    AccountId::parse(text).ok_or_else(|| HttpError::not_found("account"))
}
