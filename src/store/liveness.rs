//! Whether an issued access token still stands, in one statement across `revoked_tokens`,
//! `grants`, `users`, `memberships` and `accounts` (an account token stands only while its
//! account and every ancestor are active): it runs on bearer requests, so one round trip,
//! not one per table. The token exchange also asks for the user's standing in an account,
//! from the account's lineage (a second statement, cached alike). `Store::liveness` answers
//! from memory when nothing changed since.

use std::sync::{Arc, LazyLock};

use sqlx::{AnyConnection, AnyPool};

use crate::access::{self, Reach, Standing};
use crate::ids::{AccountId, UserId};
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Not revoked by `jti`; its grant neither revoked nor expired; its user not disabled; for
    /// a user's account token a role on its account still there (its own, or one an ancestor
    /// passes down), for a client's its account; for both, no account of the lineage
    /// suspended.
    pub live: bool,
    /// The user's standing in the account asked about, if it has one there and no account of
    /// its lineage is suspended. Shared: the cache hands out copies on the hot path.
    pub standing: Option<Arc<AccountStanding>>,
    /// Unix time until which `live` holds without a change: when the grant expires (a refresh
    /// may extend it, so then ask again).
    pub until: i64,
}

/// A user's standing in an active account, and whether the account (or an ancestor)
/// requires a second factor for its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountStanding {
    pub standing: Standing,
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
             and access_valid_after_ms <= $6) then 0 \
         when $5 <> '' and not exists (select 1 from users \
             where id = $5 and tokens_valid_after_ms <= $6 and disabled_at is null) then 0 \
         when $4 <> '' and $5 <> '' and not {token_holder_stands} then 0 \
         when $4 <> '' and $5 = '' and not exists (select 1 from accounts where id = $4) then 0 \
         when $4 <> '' and {token_account_suspended} then 0 \
         else 1 end as bigint), \
     (select expires_at from grants where id = $2)",
        token_holder_stands = accounts::holds_a_role_along("$4", "$5"),
        token_account_suspended = accounts::suspended_along("$4"),
    )
});

/// Whether `token` stands at `now` and, when `standing_in` names an account and a user, the
/// user's standing in that account if it is active.
pub async fn check(
    db: &AnyPool,
    token: Token<'_>,
    standing_in: Option<(&AccountId, &UserId)>,
    now: i64,
) -> Result<Liveness, sqlx::Error> {
    let (live, grant_expires_at): (i64, Option<i64>) = sqlx::query_as(&QUERY)
        .bind(token.jti)
        .bind(token.grant_id.unwrap_or(""))
        .bind(now)
        .bind(token.account_id.unwrap_or(""))
        .bind(token.user_id.unwrap_or(""))
        .bind(token.issued_at_ms)
        .fetch_one(db)
        .await?;
    let standing = match standing_in {
        Some((account_id, user_id)) if live == 1 => {
            let mut db = db.acquire().await?;
            standing(&mut db, account_id, user_id).await?.map(Arc::new)
        }
        _ => None,
    };
    Ok(Liveness {
        live: live == 1,
        standing,
        until: grant_expires_at.unwrap_or(i64::MAX),
    })
}

/// The user's standing in `account_id` if it has one and the account and its ancestors are
/// active: what an account token may be issued with. One query.
pub async fn standing(
    db: &mut AnyConnection,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<AccountStanding>, sqlx::Error> {
    let lineage = accounts::lineage(&mut *db, account_id, Some(user_id)).await?;
    Ok(access::standing(&lineage, &Reach::default())
        .filter(|_| access::is_active(&lineage))
        .map(|standing| AccountStanding {
            standing,
            mfa_required: access::requires_mfa(&lineage),
        }))
}
