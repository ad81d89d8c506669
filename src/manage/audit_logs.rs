//! Reading an account's audit log: what happened on it, newest first, for its admins,
//! optionally one action only.

use serde::Serialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::manage::Error;
use crate::manage::caller::{self, Caller};
use crate::permission::Permission;
use crate::store::audit_events::{self, Event};
use crate::store::{Position, Store};

/// An audit event as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
    pub action: String,
    pub actor: Party,
    pub target: Party,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub details: Value,
}

/// Who acted, or what was acted on.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Party {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

impl EventView {
    fn new(event: Event) -> EventView {
        EventView {
            details: serde_json::from_str(&event.details).unwrap_or(Value::Null),
            id: event.id,
            action: event.action,
            actor: Party {
                kind: event.actor_type,
                id: event.actor_id,
            },
            target: Party {
                kind: event.target_type,
                id: Some(event.target_id),
            },
            ip: event.ip,
            user_agent: event.user_agent,
            created_at: Timestamp(event.created_at),
        }
    }

    /// Its place in the log, newest first.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at.0,
            id: self.id.clone(),
        }
    }
}

/// Which page of the log, and of which action.
pub struct Filter {
    pub action: Option<String>,
    pub after: Position,
}

/// A page of the account's log, for its admins. The filter (parsed from the request) is
/// looked at only once the caller may know the account exists.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    filter: Result<Filter, E>,
    limit: i64,
) -> Result<Vec<EventView>, E> {
    caller::authorize(store, caller, account_id, Permission::AuditRead).await?;
    let filter = filter?;
    let rows = audit_events::list(
        store.pool(),
        account_id,
        filter.action.as_deref(),
        &filter.after.id,
        limit,
    )
    .await
    .map_err(Error::from)?;
    Ok(rows.into_iter().map(EventView::new).collect())
}
