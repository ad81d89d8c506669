//! Whether an issued access token still stands, in one statement across `revoked_tokens`,
//! `grants`, `users`, `memberships` and `accounts` (an account token stands only while its
//! account and every ancestor are active): it runs on bearer requests, so one round trip,
//! not one per table. `Store::liveness` answers from memory when nothing changed since.

use std::sync::LazyLock;

use sqlx::{Any, Executor};

use crate::ids::{AccountId, UserId};
use crate::role::Role;
use crate::store::accounts;

/// What a verified access token says about itself that the database may contradict.
#[derive(Clone, Copy, Debug)]
pub struct Token<'a> {
    pub jti: &'a str,
    /// The refresh family (`gid`) the token was issued from, if any.
    pub grant_id: Option<&'a str>,
    /// `acc`: the account the token is scoped to, if any.
    pub account_id: Option<&'a str>,
    /// `uid`: the user the token represents, if any.
    pub user_id: Option<&'a str>,
    /// When it was issued, in unix milliseconds: a user's new password revokes what was
    /// issued before it, and a whole second (`iat`) is too coarse to tell.
    pub issued_at_ms: i64,
}

/// The answer, and how long it holds if nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Not revoked by `jti`; its grant neither revoked nor expired; its user not disabled; for
    /// a user's account token the membership still there, for a client's its account; for
    /// both, no account of the lineage suspended.
    pub live: bool,
    /// The user's role now in the account asked about, if a member and no account of its
    /// lineage is suspended.
    pub role: Option<Role>,
    /// Unix time until which `live` holds without a change: when the grant expires (a refresh
    /// may extend it, so then ask again).
    pub until: i64,
    /// The account asked about, or an ancestor, requires a second factor for its tokens.
    pub mfa_required: bool,
}

/// Absent optional values are bound as `''`, which no id equals (a bare NULL parameter has
/// no type PostgreSQL can infer).
static QUERY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select cast(case \
         when exists (select 1 from revoked_tokens where jti = $1) then 0 \
         when $2 <> '' and not exists (select 1 from grants \
             where id = $2 and revoked_at is null and expires_at > $3 \
             and access_valid_after_ms <= $8) then 0 \
         when $5 <> '' and not exists (select 1 from users \
             where id = $5 and tokens_valid_after_ms <= $8 and disabled_at is null) then 0 \
         when $4 <> '' and $5 <> '' and not exists (select 1 from memberships \
             where account_id = $4 and user_id = $5) then 0 \
         when $4 <> '' and $5 = '' and not exists (select 1 from accounts where id = $4) then 0 \
         when $4 <> '' and {token_account_suspended} then 0 \
         else 1 end as bigint), \
     (select expires_at from grants where id = $2), \
     (select role from memberships where account_id = $6 and user_id = $7 \
      and not {role_account_suspended}), \
     cast(case when $6 <> '' and {mfa_required} then 1 else 0 end as bigint)",
        token_account_suspended = accounts::suspended_along("$4"),
        role_account_suspended = accounts::suspended_along("$6"),
        mfa_required = accounts::mfa_required_along("$6"),
    )
});

/// Whether `token` stands at `now` and, when `role_in` names an account and a user, the
/// user's role in that account if it is active.
pub async fn check<'e>(
    db: impl Executor<'e, Database = Any>,
    token: Token<'_>,
    role_in: Option<(&AccountId, &UserId)>,
    now: i64,
) -> Result<Liveness, sqlx::Error> {
    let (live, grant_expires_at, role, mfa_required): (i64, Option<i64>, Option<String>, i64) =
        sqlx::query_as(&QUERY)
            .bind(token.jti)
            .bind(token.grant_id.unwrap_or(""))
            .bind(now)
            .bind(token.account_id.unwrap_or(""))
            .bind(token.user_id.unwrap_or(""))
            .bind(role_in.map_or("", |(account_id, _)| account_id.as_str()))
            .bind(role_in.map_or("", |(_, user_id)| user_id.as_str()))
            .bind(token.issued_at_ms)
            .fetch_one(db)
            .await?;
    Ok(Liveness {
        live: live == 1,
        role: role.as_deref().and_then(Role::parse),
        until: grant_expires_at.unwrap_or(i64::MAX),
        mfa_required: mfa_required == 1,
    })
}
