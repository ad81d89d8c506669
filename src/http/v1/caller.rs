//! Who is calling `/v1`: the `Caller` extractor authenticates `Authorization: Bearer` (RFC
//! 6750 challenges); what the caller may do is `manage::caller`'s to answer.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::access::{Held, Reach};
use crate::api_key;
use crate::audit::Actor;
use crate::clock;
use crate::http::error::HttpError;
use crate::http::extract;
use crate::http::page::ClientIp;
use crate::ids::{AccountId, UserId};
use crate::manage::caller::{self, Caller, Credential, Principal};
use crate::oauth::scope;
use crate::state::AppState;
use crate::tokens;

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
        let (key, held) = caller::authenticate_api_key(&state.store, token)
            .await?
            .ok_or_else(HttpError::invalid_token)?;
        return Ok(Caller {
            actor: Actor::ApiKey(key.id.to_string()),
            principal: Principal::ApiKey(key.id.clone()),
            reach: Reach {
                account_id: Some(key.account_id.clone()),
                cap: Some(held),
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
            cap: Some(Held::carried_by(&claims).ok_or_else(HttpError::invalid_token)?),
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

/// An account id from the path; one that cannot exist is simply not found.
pub fn account_id(text: &str) -> Result<AccountId, HttpError> {
    AccountId::parse(text).ok_or_else(|| HttpError::not_found("account"))
}

/// The account a request is about: `{acc}` in the path, or, on the current-account routes
/// (`/v1/account…`, API.md §13), the account the caller's credential is scoped to. One
/// handler serves both forms, so they behave alike by construction.
pub enum TargetAccount {
    Named(String),
    Current,
}

impl<S: Send + Sync> FromRequestParts<S> for TargetAccount {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<TargetAccount, HttpError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| HttpError::not_found("account"))?;
        Ok(params
            .iter()
            .find(|(name, _)| *name == "acc")
            .map_or(TargetAccount::Current, |(_, value)| {
                TargetAccount::Named(value.to_owned())
            }))
    }
}

impl TargetAccount {
    /// The account's id: the path's (an id of no account is a 404, as any unknown account),
    /// or the credential's own (a user-level token has none: 400 `account_token_required`).
    pub fn resolve(&self, caller: &Caller) -> Result<AccountId, HttpError> {
        match self {
            TargetAccount::Named(text) => account_id(text),
            TargetAccount::Current => caller.reach.account_id.clone().ok_or_else(|| {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    "account_token_required",
                    "/v1/account needs an account-scoped token or an API key; a user-level token names no account (use /v1/accounts/{acc})",
                )
            }),
        }
    }
}
