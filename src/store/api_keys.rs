//! The `api_keys` table. Authentication looks a key up by `token_hash` (unique index).

use std::sync::LazyLock;

use sqlx::{Any, Executor, FromRow};

use crate::access::Held;
use crate::api_key::ApiKey;
use crate::clock::Timestamp;
use crate::ids::{AccountId, ApiKeyId};
use crate::role::RoleId;
use crate::store::{Position, accounts, roles};

#[derive(FromRow)]
struct ApiKeyRow {
    id: String,
    account_id: String,
    name: String,
    role: String,
    created_by: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ApiKeyRow {
    fn into_key(self) -> Option<ApiKey> {
        Some(ApiKey {
            id: ApiKeyId::parse(&self.id)?,
            account_id: AccountId::parse(&self.account_id)?,
            name: self.name,
            role: RoleId::parse(&self.role)?,
            created_by: self.created_by,
            expires_at: self.expires_at.map(Timestamp),
            last_used_at: self.last_used_at.map(Timestamp),
            revoked_at: self.revoked_at.map(Timestamp),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, account_id, name, role, created_by, expires_at, last_used_at, \
                       revoked_at, created_at, updated_at";

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &ApiKey,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into api_keys ({COLUMNS}, token_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(key.id.as_str())
    .bind(key.account_id.as_str())
    .bind(&key.name)
    .bind(key.role.as_str())
    .bind(key.created_by.as_deref())
    .bind(key.expires_at.map(|at| at.0))
    .bind(key.last_used_at.map(|at| at.0))
    .bind(key.revoked_at.map(|at| at.0))
    .bind(key.created_at.0)
    .bind(key.updated_at.0)
    .bind(token_hash)
    .execute(db)
    .await
    .map(|_| ())
}

/// The key whose secret hashes to `token_hash`, in any status of its own, with the role it
/// holds and that role's permissions, provided its account and every ancestor are active: a
/// suspended account's keys authenticate nothing.
pub async fn find_by_token_hash_in_active_account<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<(ApiKey, Held)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        key: ApiKeyRow,
        permissions: Option<String>,
    }
    static QUERY: LazyLock<String> = LazyLock::new(|| {
        // Uncorrelated: the lineage is walked from the key's own account.
        let account = "(select account_id from api_keys where token_hash = $1)";
        format!(
            "select {COLUMNS}, {} as permissions from api_keys where token_hash = $1 and not {}",
            roles::permissions_sql("api_keys.role", account),
            accounts::suspended_along(account)
        )
    });
    let row: Option<Row> = sqlx::query_as(&QUERY)
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|row| {
        let held = roles::held(&row.key.role, row.permissions.as_deref())?;
        Some((row.key.into_key()?, held))
    }))
}

/// A key of `account_id`; another account's key is `None`.
pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &ApiKeyId,
) -> Result<Option<ApiKey>, sqlx::Error> {
    let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys where id = $1 and account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(ApiKeyRow::into_key))
}

/// An account's keys in every status, newest first, after `after`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<ApiKey>, sqlx::Error> {
    let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys where account_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4"
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(ApiKeyRow::into_key).collect())
}

/// Revokes a key once; `false` when it was already revoked.
pub async fn revoke<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ApiKeyId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update api_keys set revoked_at = $1, updated_at = $1 \
         where id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(id.as_str())
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Replaces an unrevoked key's secret; the old one stops matching at once.
pub async fn roll<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ApiKeyId,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update api_keys set token_hash = $1, updated_at = $2 \
         where id = $3 and revoked_at is null",
    )
    .bind(token_hash)
    .bind(now)
    .bind(id.as_str())
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records a use; conditional, so instances racing to record the same minute write once.
pub async fn touch<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ApiKeyId,
    now: i64,
    granularity: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update api_keys set last_used_at = $1 \
         where id = $2 and (last_used_at is null or last_used_at <= $3)",
    )
    .bind(now)
    .bind(id.as_str())
    .bind(now - granularity)
    .execute(db)
    .await
    .map(|_| ())
}
