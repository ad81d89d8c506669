//! The `audit_events` table: written in the same transaction as the change it records,
//! together with the webhook deliveries of the event: to its account's webhook, and to those
//! of its ancestors that include descendants, when their filters want it.

use std::ops::DerefMut;

use serde_json::json;
use sqlx::{Any, AnyConnection, Executor};

use crate::audit::NewEvent;
use crate::clock::Timestamp;
use crate::ids::{AccountId, EventId};
use crate::store::webhooks::{self, NewDelivery};

/// Records `event` and queues its delivery to every webhook that receives and wants it.
/// Only `Change::record` calls it: the event commits with the change it records.
pub(super) async fn insert(
    mut db: impl DerefMut<Target = AnyConnection> + Send,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<EventId, sqlx::Error> {
    let id = EventId::generate();
    sqlx::query(
        "insert into audit_events (id, account_id, action, actor_type, actor_id, target_type, \
         target_id, ip, user_agent, details, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.as_str())
    .bind(event.account_id.map(AccountId::as_str))
    .bind(event.action.as_str())
    .bind(event.actor.kind())
    .bind(event.actor.id())
    .bind(event.target_type)
    .bind(event.target_id)
    .bind(event.ip)
    .bind(event.user_agent)
    .bind(event.details.to_string())
    .bind(now)
    .execute(&mut *db)
    .await?;
    if let Some(account_id) = event.account_id {
        let payload = webhook_payload(&id, event, now);
        let delivery = NewDelivery {
            account_id,
            action: event.action,
            payload: &payload,
        };
        webhooks::enqueue_if_wanted(&mut db, &delivery, now).await?;
    }
    Ok(id)
}

/// The body a webhook receives: `{type, timestamp, data}`, `data` being the event as the
/// audit log shows it, less the caller's IP and User-Agent.
fn webhook_payload(id: &EventId, event: &NewEvent<'_>, now: i64) -> String {
    let created_at = Timestamp(now).rfc3339();
    json!({
        "type": event.action.as_str(),
        "timestamp": created_at,
        "data": {
            "id": id,
            "account_id": event.account_id,
            "action": event.action.as_str(),
            "actor": { "type": event.actor.kind(), "id": event.actor.id() },
            "target": { "type": event.target_type, "id": event.target_id },
            "details": event.details,
            "created_at": created_at,
        },
    })
    .to_string()
}

/// Actions recorded for an account, newest first (for tests and the read API).
pub async fn actions_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select action from audit_events where account_id = $1 order by id desc")
        .bind(account_id.as_str())
        .fetch_all(db)
        .await
}

/// A recorded event as the audit-log API shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub id: String,
    pub action: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub created_at: i64,
}

/// An account's events, newest first (by id: ULIDs sort by time), before the event with id
/// `before` (exclusive; empty for the first page), optionally of one action only.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    action: Option<&str>,
    before: &str,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let columns = "id, action, actor_type, actor_id, target_type, target_id, ip, user_agent, \
                   details, created_at";
    // Conditions are left out rather than switched off, so that the planner can use the
    // (account_id, action, id) index for a filtered page.
    let mut sql = format!("select {columns} from audit_events where account_id = $1");
    let mut next = 2;
    if action.is_some() {
        sql.push_str(&format!(" and action = ${next}"));
        next += 1;
    }
    if !before.is_empty() {
        sql.push_str(&format!(" and id < ${next}"));
        next += 1;
    }
    sql.push_str(&format!(" order by id desc limit ${next}"));
    let mut query = sqlx::query_as(&sql).bind(account_id.as_str());
    if let Some(action) = action {
        query = query.bind(action);
    }
    if !before.is_empty() {
        query = query.bind(before);
    }
    query.bind(limit).fetch_all(db).await
}
