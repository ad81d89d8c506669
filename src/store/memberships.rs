//! The `memberships` table: (account, user, role).

use sqlx::{Any, Executor};

use crate::ids::{AccountId, UserId};
use crate::role::Role;

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
    role: Role,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into memberships (account_id, user_id, role, created_at, updated_at) \
         values ($1, $2, $3, $4, $4)",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// The user's role in the account, if a member: one primary-key lookup.
pub async fn role<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("select role from memberships where account_id = $1 and user_id = $2")
            .bind(account_id.as_str())
            .bind(user_id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// The user's role in the account if the account is active: what an account-scoped token
/// may be issued with, in one indexed query.
pub async fn role_in_active_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> = sqlx::query_scalar(
        "select m.role from memberships m join accounts a on a.id = m.account_id \
         where m.account_id = $1 and m.user_id = $2 and a.status = 'active'",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(role.as_deref().and_then(Role::parse))
}
