//! The `recovery_codes` table: a user's single-use codes for when their second factor is
//! lost, stored only as hashes (`mfa::recovery_code_hash`).

use sqlx::{Any, AnyConnection, Executor};

use crate::ids::UserId;

/// Replaces the user's codes with these (the old ones stop working).
pub async fn replace(
    db: &mut AnyConnection,
    user_id: &UserId,
    hashes: &[String],
    now: i64,
) -> Result<(), sqlx::Error> {
    delete_for_user(&mut *db, user_id).await?;
    for hash in hashes {
        sqlx::query(
            "insert into recovery_codes (user_id, code_hash, created_at) values ($1, $2, $3)",
        )
        .bind(user_id.as_str())
        .bind(hash)
        .bind(now)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

pub async fn delete_for_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from recovery_codes where user_id = $1")
        .bind(user_id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Uses a code up: `false` when it is not one of the user's, or was used already.
pub async fn consume<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "update recovery_codes set used_at = $3 \
         where user_id = $1 and code_hash = $2 and used_at is null",
    )
    .bind(user_id.as_str())
    .bind(hash)
    .bind(now)
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}
