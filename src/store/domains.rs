//! The `domains` table: accounts' claims on email domains. A unique index lets one account
//! at a time hold a name verified.

use sqlx::{Any, Executor, FromRow};

use crate::account::AUTO_JOIN_OFF;
use crate::clock::Timestamp;
use crate::domain::Domain;
use crate::ids::{AccountId, DomainId};
use crate::role::RoleId;
use crate::store::Position;

#[derive(FromRow)]
struct DomainRow {
    id: String,
    account_id: String,
    domain: String,
    challenge: String,
    verified_at: Option<i64>,
    created_at: i64,
}

impl DomainRow {
    fn into_domain(self) -> Option<Domain> {
        Some(Domain {
            id: DomainId::parse(&self.id)?,
            account_id: AccountId::parse(&self.account_id)?,
            name: self.domain,
            challenge: self.challenge,
            verified_at: self.verified_at.map(Timestamp),
            created_at: Timestamp(self.created_at),
        })
    }
}

const COLUMNS: &str = "id, account_id, domain, challenge, verified_at, created_at";

/// SQL for the account's verified names (`email_domains`), sorted and separated by spaces
/// (NULL for none), the account's id being the expression `account_id`.
pub(crate) fn verified_names_sql(account_id: &str) -> String {
    format!(
        "(select string_agg(d.domain, ' ' order by d.domain) from domains d \
          where d.account_id = {account_id} and d.verified_at is not null)"
    )
}

/// The account that verified `name` and the role its `domain_auto_join` names, if it names
/// one.
pub async fn auto_join_of<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<(AccountId, RoleId)>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "select a.id, a.domain_auto_join from domains d join accounts a on a.id = d.account_id \
         where d.domain = $1 and d.verified_at is not null and a.domain_auto_join <> $2",
    )
    .bind(name)
    .bind(AUTO_JOIN_OFF)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(account_id, role)| {
        Some((AccountId::parse(&account_id)?, RoleId::parse(&role)?))
    }))
}

/// Inserts a claim; a unique violation when the account claimed the name already.
pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    domain: &Domain,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into domains ({COLUMNS}, updated_at) values ($1, $2, $3, $4, $5, $6, $6)"
    ))
    .bind(domain.id.as_str())
    .bind(domain.account_id.as_str())
    .bind(&domain.name)
    .bind(&domain.challenge)
    .bind(domain.verified_at.map(|at| at.0))
    .bind(domain.created_at.0)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &DomainId,
) -> Result<Option<Domain>, sqlx::Error> {
    let row: Option<DomainRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from domains where id = $1 and account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(DomainRow::into_domain))
}

/// The account's claims, newest first, after `after`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Domain>, sqlx::Error> {
    let rows: Vec<DomainRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from domains where account_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4"
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(DomainRow::into_domain)
        .collect())
}

/// Whether an account other than `account_id` holds `name` verified.
pub async fn verified_elsewhere<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    account_id: &AccountId,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "select count(*) from domains \
         where domain = $1 and account_id <> $2 and verified_at is not null",
    )
    .bind(name)
    .bind(account_id.as_str())
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}

/// Marks a pending claim verified; false when it is gone or verified already. A unique
/// violation when another account verified the name meanwhile.
pub async fn mark_verified<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &DomainId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update domains set verified_at = $3, updated_at = $3 \
         where id = $1 and account_id = $2 and verified_at is null",
    )
    .bind(id.as_str())
    .bind(account_id.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &DomainId,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from domains where id = $1 and account_id = $2")
        .bind(id.as_str())
        .bind(account_id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Whether the account holds `name` verified.
pub async fn is_verified_by<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "select count(*) from domains \
         where domain = $1 and account_id = $2 and verified_at is not null",
    )
    .bind(name)
    .bind(account_id.as_str())
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}
