//! RFC 7009 token revocation: what a client may revoke and what revoking takes with it. Kept
//! out of the HTTP handler so the rule lives in one place.

use crate::keys::KeyRing;
use crate::oauth::client::Client;
use crate::secret;
use crate::store::{Store, Unaudited, grants, refresh_tokens, revoked_tokens};

/// Revokes `token` if `client` owns it: an access token by its `jti`, a refresh token with its
/// whole family (RFC 7009 §2.1: the family's access tokens too). Anything else (another
/// client's token, garbage) is silently ignored, as §2.2 wants; every instance forgets what
/// it held in memory.
pub async fn revoke(
    store: &Store,
    keys: &KeyRing,
    client: &Client,
    token: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    if let Ok(claims) = keys.verify_access_token(token) {
        if claims.client_id == client.client_id.as_str() {
            let mut change = store.change().await?;
            revoked_tokens::insert(&mut *change, &claims.jti, claims.exp).await?;
            change.commit_unaudited(Unaudited::Revocation).await?;
        }
        return Ok(());
    }
    if let Some(record) = refresh_tokens::find(store.pool(), &secret::hash(token)).await?
        && let Some(grant) = grants::find(store.pool(), &record.grant_id).await?
        && grant.client_id == client.client_id
    {
        let mut change = store.change().await?;
        grants::revoke(&mut *change, &grant.id, now).await?;
        change.commit_unaudited(Unaudited::Revocation).await?;
    }
    Ok(())
}
