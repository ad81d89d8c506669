//! What a new password does to everything the old one let in (API.md §4): every session of
//! the user ends, every refresh family is revoked, and every access token issued before now
//! stops standing. One function, so a reset and a change cannot drift apart.

use crate::ids::UserId;
use crate::store::{Tx, grants, sessions, users};

/// Ends the user's sessions and revokes their tokens, inside the transaction that sets the
/// new password. The caller clears the token cache after commit (`Store::access_changed`).
pub async fn revoke_all(tx: &mut Tx, user_id: &UserId, now: i64) -> Result<(), sqlx::Error> {
    users::revoke_tokens_before(&mut **tx, user_id, crate::clock::now_ms()).await?;
    grants::revoke_for_user(&mut **tx, user_id, now).await?;
    sessions::delete_for_user(&mut **tx, user_id).await?;
    Ok(())
}
