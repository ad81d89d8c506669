//! The `consents` table: which user approved which self-registered client for which scopes.

use sqlx::{Any, Executor};

use crate::ids::{ClientId, UserId};

/// `scope` is the canonical (sorted) form.
pub async fn exists<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    client_id: &ClientId,
    scope: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "select 1 from consents where user_id = $1 and client_id = $2 and scope = $3",
    )
    .bind(user_id.as_str())
    .bind(client_id.as_str())
    .bind(scope)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    client_id: &ClientId,
    scope: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into consents (user_id, client_id, scope, created_at) values ($1, $2, $3, $4) \
         on conflict (user_id, client_id, scope) do nothing",
    )
    .bind(user_id.as_str())
    .bind(client_id.as_str())
    .bind(scope)
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}
