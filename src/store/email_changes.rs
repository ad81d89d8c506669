//! The `email_changes` table: pending moves of a user to a new address, each behind a
//! single-use link mailed to that address. Only the link's SHA-256 is stored.

use sqlx::{Any, Executor};

use crate::ids::UserId;

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    user_id: &UserId,
    new_email: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into email_changes (token_hash, user_id, new_email, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id.as_str())
    .bind(new_email)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Voids the user's unused links: only the latest request can be confirmed.
pub async fn void_pending<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update email_changes set consumed_at = $2 where user_id = $1 and consumed_at is null",
    )
    .bind(user_id.as_str())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// Uses a link up: the user and the new address, or `None` when the link is unknown,
/// expired or used (by a racing request too: one update only can match).
pub async fn consume<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<Option<(UserId, String)>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "update email_changes set consumed_at = $2 \
         where token_hash = $1 and consumed_at is null and expires_at > $2 \
         returning user_id, new_email",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(user_id, email)| Some((UserId::parse(&user_id)?, email))))
}
