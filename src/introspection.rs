//! Token introspection (RFC 7662): what a confidential client may learn about a token. A
//! client sees only what belongs to its own account; anything else is simply inactive.
//! Account credentials answer as things stand now: inactive once the membership, the
//! account or an ancestor's activity is gone, with the role held now.

use serde_json::{Value, json};

use crate::access::Held;
use crate::api_key;
use crate::config::Issuer;
use crate::ids::{AccountId, ClientId, UserId};
use crate::keys::KeyRing;
use crate::oauth::client::Client;
use crate::secret;
use crate::store::{Store, api_keys, grants, liveness, refresh_tokens};
use crate::tokens;

/// The introspection answer about `token` for the client `caller`: an access token, an API
/// key or a refresh token, `{"active": false}` for anything else.
pub async fn introspect(
    store: &Store,
    keys: &KeyRing,
    issuer: &Issuer,
    caller: &Client,
    token: &str,
    now: i64,
) -> Result<Value, sqlx::Error> {
    if api_key::looks_like_key(token) {
        return api_key_view(store, issuer, caller, token, now).await;
    }
    if let Some(view) = access_token_view(store, keys, caller, token, now).await? {
        return Ok(view);
    }
    Ok(refresh_token_view(store, caller, token, now)
        .await?
        .unwrap_or_else(|| json!({"active": false})))
}

/// An access token this client may see, or `None` to try other token types.
async fn access_token_view(
    store: &Store,
    keys: &KeyRing,
    caller: &Client,
    token: &str,
    now: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Ok(claims) = keys.verify_access_token(token) else {
        return Ok(None);
    };
    if !same_account(store, caller, &claims.client_id).await? {
        return Ok(Some(json!({"active": false})));
    }
    // A user's account token: its liveness and the member's role now, in one round trip.
    let member = claims
        .acc
        .as_deref()
        .and_then(AccountId::parse)
        .zip(claims.uid.as_deref().and_then(UserId::parse));
    let liveness = store
        .liveness(
            tokens::liveness_of(&claims),
            member
                .as_ref()
                .map(|(account_id, user_id)| (account_id, user_id)),
            now,
        )
        .await?;
    if !liveness.live {
        return Ok(Some(json!({"active": false})));
    }
    // The role held now, never more than the token was issued with: a demotion shows at once,
    // a promotion does not widen a token already out.
    let (role, permissions) = match (&member, liveness.standing) {
        (None, _) => (claims.role.clone(), None),
        (Some(_), Some(found)) => {
            let standing = match Held::carried_by(&claims) {
                Some(issued) => found.standing.clone().capped_by(&issued),
                None => return Ok(Some(json!({"active": false}))),
            };
            (
                Some(standing.role.to_string()),
                Some(standing.permissions.ids()),
            )
        }
        (Some(_), None) => return Ok(Some(json!({"active": false}))),
    };
    let mut view = json!({
        "active": true,
        "token_type": "Bearer",
        "iss": claims.iss,
        "sub": claims.sub,
        "aud": claims.aud,
        "client_id": claims.client_id,
        "scope": claims.scope,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "jti": claims.jti,
    });
    for (name, value) in [("uid", claims.uid), ("acc", claims.acc), ("role", role)] {
        if let Some(value) = value {
            view[name] = value.into();
        }
    }
    if let Some(permissions) = permissions {
        view["permissions"] = permissions.into();
    }
    Ok(Some(view))
}

/// An API key of the caller's own account: it acts for that account, so `sub` and `acc` both
/// name it; no `client_id`, no `scope`.
async fn api_key_view(
    store: &Store,
    issuer: &Issuer,
    caller: &Client,
    token: &str,
    now: i64,
) -> Result<Value, sqlx::Error> {
    let key =
        api_keys::find_by_token_hash_in_active_account(store.pool(), &secret::hash(token)).await?;
    let Some((key, _)) =
        key.filter(|(key, _)| key.is_active(now) && key.account_id == caller.account_id)
    else {
        return Ok(json!({"active": false}));
    };
    let mut view = json!({
        "active": true,
        "token_type": "api_key",
        "iss": issuer.as_str(),
        "sub": key.account_id,
        "acc": key.account_id,
        "role": key.role,
        "key_id": key.id,
        "iat": key.created_at.0,
    });
    if let Some(expires_at) = key.expires_at {
        view["exp"] = expires_at.0.into();
    }
    Ok(view)
}

async fn refresh_token_view(
    store: &Store,
    caller: &Client,
    token: &str,
    now: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(record) = refresh_tokens::find(store.pool(), &secret::hash(token)).await? else {
        return Ok(None);
    };
    let Some(grant) = grants::find(store.pool(), &record.grant_id).await? else {
        return Ok(None);
    };
    let live = record.used_at.is_none() && record.expires_at > now && grant.is_active(now);
    if !live || !same_account(store, caller, grant.client_id.as_str()).await? {
        return Ok(Some(json!({"active": false})));
    }
    let mut view = json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": grant.client_id,
        "scope": grant.scope,
        "exp": record.expires_at,
        "iat": grant.created_at,
    });
    if let Some(user_id) = &grant.user_id {
        view["sub"] = user_id.to_string().into();
        view["uid"] = user_id.to_string().into();
        if let Some(account_id) = &grant.account_id {
            let mut db = store.pool().acquire().await?;
            match liveness::standing(&mut db, account_id, user_id).await? {
                Some(found) => {
                    view["acc"] = account_id.to_string().into();
                    view["role"] = found.standing.role.as_str().into();
                    view["permissions"] = found.standing.permissions.ids().into();
                }
                None => return Ok(Some(json!({"active": false}))),
            }
        }
    }
    Ok(Some(view))
}

/// Whether the token's client is registered under the caller's account.
async fn same_account(
    store: &Store,
    caller: &Client,
    token_client_id: &str,
) -> Result<bool, sqlx::Error> {
    if token_client_id == caller.client_id.as_str() {
        return Ok(true);
    }
    let Some(client_id) = ClientId::parse(token_client_id) else {
        return Ok(false);
    };
    Ok(store
        .client(&client_id)
        .await?
        .is_some_and(|client| client.account_id == caller.account_id))
}
