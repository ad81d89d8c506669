//! The `onboarding` table (an account's application steps and when its checklist was first
//! completed), and the counts the built-in steps are computed from.

use std::collections::BTreeMap;

use sqlx::{Any, Executor};

use crate::account_profile::AccountProfile;
use crate::ids::AccountId;
use crate::onboarding::Facts;
use crate::store::{json_or_default, to_json};

/// What is kept of an account's checklist; empty when nothing was ever set.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    pub steps: BTreeMap<String, bool>,
    pub completed_at: Option<i64>,
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<Stored, sqlx::Error> {
    let row: Option<(String, Option<i64>)> =
        sqlx::query_as("select steps, completed_at from onboarding where account_id = $1")
            .bind(account_id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(
        row.map_or_else(Stored::default, |(steps, completed_at)| Stored {
            steps: json_or_default(&steps),
            completed_at,
        }),
    )
}

/// What the built-in steps are computed from, at `now` (an expired key is not live).
pub async fn facts<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    now: i64,
) -> Result<Facts, sqlx::Error> {
    let (profile, members, clients, live_api_keys): (Option<String>, i64, i64, i64) =
        sqlx::query_as(
            "select (select profile from accounts where id = $1), \
                (select count(*) from memberships where account_id = $1), \
                (select count(*) from clients where account_id = $1), \
                (select count(*) from api_keys where account_id = $1 and revoked_at is null \
                   and (expires_at is null or expires_at > $2))",
        )
        .bind(account_id.as_str())
        .bind(now)
        .fetch_one(db)
        .await?;
    let profile: AccountProfile = profile.as_deref().map(json_or_default).unwrap_or_default();
    Ok(Facts {
        business_name: profile.has_business_name(),
        members,
        clients,
        live_api_keys,
    })
}

/// Writes an account's application steps.
pub async fn save_steps<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    steps: &BTreeMap<String, bool>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into onboarding (account_id, steps, updated_at) values ($1, $2, $3) \
         on conflict (account_id) do update set steps = excluded.steps, \
         updated_at = excluded.updated_at",
    )
    .bind(account_id.as_str())
    .bind(to_json(steps))
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// Dates the checklist's completion unless it already is (it is set once, never cleared);
/// the date it holds afterwards.
pub async fn complete<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into onboarding (account_id, completed_at, updated_at) values ($1, $2, $2) \
         on conflict (account_id) do update set completed_at = \
         coalesce(onboarding.completed_at, excluded.completed_at) \
         returning completed_at",
    )
    .bind(account_id.as_str())
    .bind(now)
    .fetch_one(db)
    .await
}
