//! The `refresh_tokens` table, keyed by the SHA-256 of the token. Rotation marks a token
//! used with one conditional `UPDATE`, so of two concurrent uses only one rotates.

use sqlx::{Any, Executor, FromRow};

use crate::ids::GrantId;

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub grant_id: GrantId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(FromRow)]
struct RefreshRow {
    grant_id: String,
    expires_at: i64,
    used_at: Option<i64>,
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    grant_id: &GrantId,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into refresh_tokens (token_hash, grant_id, created_at, expires_at) values ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(grant_id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<RefreshToken>, sqlx::Error> {
    let row: Option<RefreshRow> = sqlx::query_as(
        "select grant_id, expires_at, used_at from refresh_tokens where token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|row| {
        Some(RefreshToken {
            grant_id: GrantId::parse(&row.grant_id)?,
            expires_at: row.expires_at,
            used_at: row.used_at,
        })
    }))
}

/// Marks the token used; `false` if it already was (someone else rotated it first).
pub async fn mark_used<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update refresh_tokens set used_at = $1 where token_hash = $2 and used_at is null",
    )
    .bind(now)
    .bind(token_hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
