//! The `webhooks` table (one endpoint per account, its event filter and sealed secrets) and
//! the `webhook_deliveries` outbox, filled by `audit_events::insert` in the transaction of
//! the change and drained by `webhooks::delivery` from whichever instance claims a row.

use sqlx::{Any, AnyConnection, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::store::outbox::Outbox;

/// An account's webhook as stored; secrets still sealed.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub account_id: AccountId,
    pub url: String,
    /// The audit actions delivered; `None` means all.
    pub events: Option<Vec<String>>,
    /// Whether the events of every descendant account are delivered too.
    pub include_descendants: bool,
    pub secret_encrypted: String,
    pub previous_secret_encrypted: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct WebhookRow {
    account_id: String,
    url: String,
    events: Option<String>,
    include_descendants: i64,
    secret_encrypted: String,
    previous_secret_encrypted: Option<String>,
    previous_secret_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    fn into_webhook(self) -> Option<Webhook> {
        Some(Webhook {
            account_id: AccountId::parse(&self.account_id)?,
            url: self.url,
            events: match self.events {
                Some(text) => Some(serde_json::from_str(&text).ok()?),
                None => None,
            },
            include_descendants: self.include_descendants != 0,
            secret_encrypted: self.secret_encrypted,
            previous_secret_encrypted: self.previous_secret_encrypted,
            previous_secret_expires_at: self.previous_secret_expires_at,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const COLUMNS: &str = "account_id, url, events, include_descendants, secret_encrypted, \
                       previous_secret_encrypted, previous_secret_expires_at, created_at, \
                       updated_at";

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<Option<Webhook>, sqlx::Error> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from webhooks where account_id = $1"
    ))
    .bind(account_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(WebhookRow::into_webhook))
}

/// Creates the account's webhook with `sealed_secret`, or replaces its URL, filter and
/// `include_descendants` keeping the secrets it has. Returns the stored webhook; it was created by this call
/// exactly when its `secret_encrypted` is `sealed_secret`.
pub async fn upsert<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    url: &str,
    events: Option<&[String]>,
    include_descendants: bool,
    sealed_secret: &str,
    now: i64,
) -> Result<Option<Webhook>, sqlx::Error> {
    let events = events.map(|events| serde_json::Value::from(events).to_string());
    let row: WebhookRow = sqlx::query_as(&format!(
        "insert into webhooks (account_id, url, events, include_descendants, secret_encrypted, \
           created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $6) \
         on conflict (account_id) do update set \
           url = excluded.url, events = excluded.events, \
           include_descendants = excluded.include_descendants, updated_at = excluded.updated_at \
         returning {COLUMNS}"
    ))
    .bind(account_id.as_str())
    .bind(url)
    .bind(events)
    .bind(i64::from(include_descendants))
    .bind(sealed_secret)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(row.into_webhook())
}

/// Makes `sealed_secret` the signing secret; the current one signs too until
/// `previous_expires_at`. Returns whether the account had a webhook.
pub async fn rotate_secret<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    sealed_secret: &str,
    previous_expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update webhooks set previous_secret_encrypted = secret_encrypted, \
           previous_secret_expires_at = $3, secret_encrypted = $2, updated_at = $4 \
         where account_id = $1",
    )
    .bind(account_id.as_str())
    .bind(sealed_secret)
    .bind(previous_expires_at)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Removes the account's webhook; returns whether there was one.
pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("delete from webhooks where account_id = $1")
        .bind(account_id.as_str())
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// One event to deliver to the webhooks that receive it.
pub struct NewDelivery<'a> {
    /// The account the event is about (`data.account_id`).
    pub account_id: &'a AccountId,
    pub action: crate::audit::Action,
    pub payload: &'a str,
}

/// The webhooks that receive an event of `account_id`: the account's own, and those of its
/// ancestors that include descendants. One query, walking up `accounts.parent_id` as
/// `accounts::lineage` does; the event's own account first.
pub async fn receivers<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<Vec<Webhook>, sqlx::Error> {
    let columns = COLUMNS
        .split(", ")
        .map(|column| format!("w.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // Parents cannot be changed after creation, so the chain has no cycles; the depth bound
    // only guards against a hand-edited database.
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "with recursive chain (id, parent_id, depth) as ( \
           select id, parent_id, cast(0 as bigint) from accounts where id = $1 \
           union all \
           select a.id, a.parent_id, c.depth + 1 from accounts a \
           join chain c on a.id = c.parent_id where c.depth < 64) \
         select {columns} from chain c join webhooks w on w.account_id = c.id \
         where c.depth = 0 or w.include_descendants = 1 \
         order by c.depth"
    ))
    .bind(account_id.as_str())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(WebhookRow::into_webhook)
        .collect())
}

/// Queues one delivery of `delivery` per webhook that receives it (see [`receivers`]) and
/// whose filter lets it through, snapshotting that webhook's URL and sealed secrets; the
/// delivery belongs to the receiving webhook's account, whose context seals its secrets.
/// Returns the delivery ids (`webhook-id`s).
pub async fn enqueue_if_wanted(
    db: &mut AnyConnection,
    delivery: &NewDelivery<'_>,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let mut ids = Vec::new();
    for webhook in receivers(&mut *db, delivery.account_id).await? {
        if !crate::audit::wants(webhook.events.as_deref(), delivery.action) {
            continue;
        }
        let id = format!("msg_{}", ulid::Ulid::new());
        sqlx::query(
            "insert into webhook_deliveries (id, account_id, url, event_type, payload, \
               next_attempt_at, created_at, secret_encrypted, previous_secret_encrypted, \
               previous_secret_expires_at) \
             values ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(webhook.account_id.as_str())
        .bind(&webhook.url)
        .bind(delivery.action.as_str())
        .bind(delivery.payload)
        .bind(now)
        .bind(&webhook.secret_encrypted)
        .bind(webhook.previous_secret_encrypted.as_deref())
        .bind(webhook.previous_secret_expires_at)
        .execute(&mut *db)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// A claimed delivery, with how many attempts it has had (this one included).
#[derive(Clone, Debug, FromRow)]
pub struct Delivery {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: i64,
    pub secret_encrypted: Option<String>,
    pub previous_secret_encrypted: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
}

/// The outbox mechanics of the `webhook_deliveries` table.
pub const OUTBOX: Outbox = Outbox {
    table: "webhook_deliveries",
    done_column: "delivered_at",
};

/// Claims up to `limit` due deliveries for one attempt each (see [`Outbox::claim_due`]).
pub async fn claim_due<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    OUTBOX
        .claim_due(
            db,
            "id, account_id, url, event_type, payload, attempts, created_at, \
             secret_encrypted, previous_secret_encrypted, previous_secret_expires_at",
            now,
            lease_until,
            limit,
        )
        .await
}

/// Deletes deliveries delivered or given up on before `cutoff`; returns how many.
pub async fn delete_settled<'e>(
    db: impl Executor<'e, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let result =
        sqlx::query("delete from webhook_deliveries where delivered_at < $1 or failed_at < $1")
            .bind(cutoff)
            .execute(db)
            .await?;
    Ok(result.rows_affected())
}
