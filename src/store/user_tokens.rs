//! The `user_tokens` table: single-use links mailed to a user (password reset, email
//! verification, set password). Only the SHA-256 of a token is stored; the database enforces
//! single use with one conditional update.

use sqlx::{Any, Executor};

use crate::ids::UserId;

/// What a token lets its holder do; the `purpose` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerification,
    SetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailVerification => "email_verification",
            Purpose::SetPassword => "set_password",
        }
    }
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    user_id: &UserId,
    purpose: Purpose,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into user_tokens (token_hash, user_id, purpose, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id.as_str())
    .bind(purpose.as_str())
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// The user of a token that is unused and unexpired at `now`, without using it up.
pub async fn find_usable<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<UserId>, sqlx::Error> {
    let user_id: Option<String> = sqlx::query_scalar(
        "select user_id from user_tokens \
         where token_hash = $1 and purpose = $2 and consumed_at is null and expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(user_id.as_deref().and_then(UserId::parse))
}

/// Uses a token up; `None` when it is unknown, expired or already used (by a racing
/// request too: only one update can match `consumed_at is null`).
pub async fn consume<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<UserId>, sqlx::Error> {
    let user_id: Option<String> = sqlx::query_scalar(
        "update user_tokens set consumed_at = $3 \
         where token_hash = $1 and purpose = $2 and consumed_at is null and expires_at > $3 \
         returning user_id",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(user_id.as_deref().and_then(UserId::parse))
}

/// Voids every unused token of `purpose` for a user (a reset link used ends the others).
pub async fn consume_all<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    purpose: Purpose,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update user_tokens set consumed_at = $3 \
         where user_id = $1 and purpose = $2 and consumed_at is null",
    )
    .bind(user_id.as_str())
    .bind(purpose.as_str())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}
