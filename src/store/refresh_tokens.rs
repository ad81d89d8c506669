//! The `refresh_tokens` table, keyed by the SHA-256 of the token. Rotation marks a token
//! used with one conditional `UPDATE`, so of two concurrent uses only one rotates. Each token
//! names its parent (the token whose rotation issued it), which is how a grace retry finds
//! the pair it replaces.

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
    parent_hash: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into refresh_tokens (token_hash, grant_id, parent_hash, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id.as_str())
    .bind(parent_hash)
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

/// Marks the token used; `false` if it already was (someone else rotated it first) or a
/// retry of its parent replaced it.
pub async fn mark_used<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update refresh_tokens set used_at = $1 \
         where token_hash = $2 and used_at is null and revoked_at is null",
    )
    .bind(now)
    .bind(token_hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What became of the tokens a spent token's rotation issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Children {
    /// Its unused child was just revoked here: the parent is the family's latest spent token.
    Replaced,
    /// A child was used, or none is on record: the parent is an older link of the chain.
    Used,
    /// Its child was just replaced by a concurrent retry of the same token.
    Gone,
}

/// Revokes the unused child of `parent_hash`, the one conditional `UPDATE` that lets one of
/// two concurrent retries through; otherwise says why not.
pub async fn replace_child(
    db: &mut sqlx::AnyConnection,
    parent_hash: &str,
    now: i64,
) -> Result<Children, sqlx::Error> {
    let done = sqlx::query(
        "update refresh_tokens set revoked_at = $1 \
         where parent_hash = $2 and used_at is null and revoked_at is null",
    )
    .bind(now)
    .bind(parent_hash)
    .execute(&mut *db)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Children::Replaced);
    }
    let (children, used): (i64, i64) = sqlx::query_as(
        "select cast(count(*) as bigint), \
         cast(coalesce(sum(case when used_at is null then 0 else 1 end), 0) as bigint) \
         from refresh_tokens where parent_hash = $1",
    )
    .bind(parent_hash)
    .fetch_one(&mut *db)
    .await?;
    Ok(if children == 0 || used > 0 {
        Children::Used
    } else {
        Children::Gone
    })
}
