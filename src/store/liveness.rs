//! Whether an issued access token still stands, in one statement across `revoked_tokens`,
//! `grants`, `memberships` and `accounts`: it runs on every bearer request, so one round
//! trip, not one per table. The rules themselves live in `tokens::is_live`.

use std::sync::LazyLock;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, Executor, FromRow};

use crate::ids::{AccountId, UserId};
use crate::role::Role;

/// What a verified access token says about itself that the database may contradict.
/// Absent optional values are bound as `''`, which no id equals (a bare NULL parameter has
/// no type PostgreSQL can infer).
#[derive(Clone, Copy, Debug)]
pub struct Token<'a> {
    pub jti: &'a str,
    /// The refresh family (`gid`) the token was issued from, if any.
    pub grant_id: Option<&'a str>,
    /// `acc`: the account the token is scoped to, if any.
    pub account_id: Option<&'a str>,
    /// `uid`: the user the token represents, if any.
    pub user_id: Option<&'a str>,
}

/// 1 when the token stands: not revoked by `jti`; its grant neither revoked nor expired; for
/// a user's account token the membership still there, for a client's its account.
const LIVE: &str = "case \
     when exists (select 1 from revoked_tokens where jti = $1) then 0 \
     when $2 <> '' and not exists (select 1 from grants \
         where id = $2 and revoked_at is null and expires_at > $3) then 0 \
     when $4 <> '' and $5 <> '' and not exists (select 1 from memberships \
         where account_id = $4 and user_id = $5) then 0 \
     when $4 <> '' and $5 = '' and not exists (select 1 from accounts where id = $4) then 0 \
     else 1 end";

static IS_LIVE: LazyLock<String> = LazyLock::new(|| format!("select cast({LIVE} as bigint)"));

/// `LIVE`, and the role of `$7` in the active account `$6` (NULL when not a member).
static IS_LIVE_WITH_ROLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select cast({LIVE} as bigint), \
         (select m.role from memberships m join accounts a on a.id = m.account_id \
          where m.account_id = $6 and m.user_id = $7 and a.status = 'active')"
    )
});

/// A query over `sql` with the token's five parameters bound.
fn query<'q, O>(sql: &'q str, token: Token<'q>, now: i64) -> QueryAs<'q, Any, O, AnyArguments<'q>>
where
    O: for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_as(sql)
        .bind(token.jti)
        .bind(token.grant_id.unwrap_or(""))
        .bind(now)
        .bind(token.account_id.unwrap_or(""))
        .bind(token.user_id.unwrap_or(""))
}

pub async fn is_live<'e>(
    db: impl Executor<'e, Database = Any>,
    token: Token<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (live,): (i64,) = query(&IS_LIVE, token, now).fetch_one(db).await?;
    Ok(live == 1)
}

/// Whether the token stands, and the user's role in an active account: what a token
/// exchange needs, in one round trip.
pub async fn is_live_with_role<'e>(
    db: impl Executor<'e, Database = Any>,
    token: Token<'_>,
    now: i64,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<(bool, Option<Role>), sqlx::Error> {
    let (live, role): (i64, Option<String>) = query(&IS_LIVE_WITH_ROLE, token, now)
        .bind(account_id.as_str())
        .bind(user_id.as_str())
        .fetch_one(db)
        .await?;
    Ok((live == 1, role.as_deref().and_then(Role::parse)))
}
