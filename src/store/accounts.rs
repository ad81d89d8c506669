//! The `accounts` table.

use sqlx::{Any, Executor, FromRow};

use crate::account::{Account, AccountStatus};
use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::store::{json_or_default, to_json};

#[derive(FromRow)]
struct AccountRow {
    id: String,
    parent_id: Option<String>,
    name: String,
    status: String,
    avatar_url: Option<String>,
    billing_email: Option<String>,
    labels: String,
    external_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl AccountRow {
    fn into_account(self) -> Option<Account> {
        Some(Account {
            id: AccountId::parse(&self.id)?,
            name: self.name,
            parent_id: self.parent_id.as_deref().and_then(AccountId::parse),
            status: AccountStatus::parse(&self.status)?,
            avatar_url: self.avatar_url,
            billing_email: self.billing_email,
            labels: json_or_default(&self.labels),
            external_id: self.external_id,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, parent_id, name, status, avatar_url, billing_email, labels, external_id, \
                       created_at, updated_at";

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into accounts (id, parent_id, name, status, avatar_url, billing_email, labels, \
         external_id, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(account.id.as_str())
    .bind(account.parent_id.as_ref().map(AccountId::as_str))
    .bind(&account.name)
    .bind(account.status.as_str())
    .bind(account.avatar_url.as_deref())
    .bind(account.billing_email.as_deref())
    .bind(to_json(&account.labels))
    .bind(account.external_id.as_deref())
    .bind(account.created_at.0)
    .bind(account.updated_at.0)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<AccountRow> =
        sqlx::query_as(&format!("select {COLUMNS} from accounts where id = $1"))
            .bind(id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(AccountRow::into_account))
}
