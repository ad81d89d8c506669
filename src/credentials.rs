//! What a new password does to everything the old one let in (API.md §4): every session of
//! the user ends, every refresh family is revoked, and every access token issued before now
//! stops standing. One function, so a reset and a change cannot drift apart.

use crate::ids::UserId;
use sqlx::AnyConnection;

use crate::store::{browser_sessions, grants, sessions, users};

/// Ends the user's sessions and revokes their tokens, inside the change that sets the new
/// password (its `user.updated` event clears the token cache on commit).
pub async fn revoke_all(
    db: &mut AnyConnection,
    user_id: &UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    users::revoke_tokens_before(&mut *db, user_id, crate::clock::now_ms()).await?;
    grants::revoke_for_user(&mut *db, user_id, now).await?;
    sessions::delete_for_user(&mut *db, user_id).await?;
    browser_sessions::end_all_of_user(&mut *db, user_id, now).await?;
    Ok(())
}
