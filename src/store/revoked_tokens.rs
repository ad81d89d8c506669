//! The `revoked_tokens` table: access tokens revoked one by one (RFC 7009), by `jti`.

use sqlx::{Any, Executor};

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    jti: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into revoked_tokens (jti, expires_at) values ($1, $2) on conflict (jti) do nothing",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn contains<'e>(
    db: impl Executor<'e, Database = Any>,
    jti: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("select 1 from revoked_tokens where jti = $1")
        .bind(jti)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}
