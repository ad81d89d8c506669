//! An account's one webhook endpoint, for its admins: show, create or replace (the first
//! answers the `whsec_` secret, once), delete, rotate the secret (the previous one keeps
//! signing for 24 hours). The `events` filter names audit actions ([`Action`]); an unknown
//! one is refused. Changes authorize inside a change holding the account's lock.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::ids::AccountId;
use crate::keys::KeyEncryptionKey;
use crate::manage::caller::{self, Caller};
use crate::manage::{self, Error};
use crate::permission::Permission;
use crate::store::webhooks::{self, Webhook};
use crate::store::{Change, Store};
use crate::webhooks::{PREVIOUS_SECRET_SECONDS, Secret, address};

/// A webhook as the API shows it: never its secrets, but the new one in the answer that made
/// it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub url: String,
    pub events: Option<Vec<String>>,
    /// Whether the events of every descendant account are delivered too.
    pub include_descendants: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Only in the answer to the PUT that created the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn new(webhook: Webhook, secret: Option<String>) -> WebhookView {
        WebhookView {
            url: webhook.url,
            events: webhook.events,
            include_descendants: webhook.include_descendants,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
            secret,
        }
    }
}

/// What a webhook is set to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// Audit actions to deliver; absent or `null` means all.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Also deliver the events of every descendant account (`data.account_id` says whose).
    #[serde(default)]
    pub include_descendants: bool,
}

const MAX_EVENTS: usize = 100;

/// A webhook just saved: made now (with its secret), or replaced.
pub enum Saved {
    Created(WebhookView),
    Replaced(WebhookView),
}

/// A new signing secret, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
    pub previous_secret_expires_at: Timestamp,
}

/// The account's webhook, without its secrets.
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<WebhookView, Error> {
    caller::authorize(store, caller, account_id, Permission::WebhooksWrite).await?;
    let webhook = webhooks::find(store.pool(), account_id)
        .await?
        .ok_or(Error::NotFound("webhook"))?;
    Ok(WebhookView::new(webhook, None))
}

/// Creates or replaces the account's webhook (`webhook.updated`). `url` must pass the address
/// policy (`block_private`: no private or loopback targets); a new webhook's secret is sealed
/// with `kek`.
pub async fn put(
    store: &Store,
    kek: &KeyEncryptionKey,
    block_private: bool,
    caller: &Caller,
    account_id: &AccountId,
    settings: WebhookSettings,
) -> Result<Saved, Error> {
    let standing = caller::authorize(store, caller, account_id, Permission::WebhooksWrite).await?;
    // A webhook delivers the audit log, with `include_descendants` the descendants' too: only
    // to whoever may read them (a custom role's `webhooks:write` is not a way around that).
    if !standing.may(Permission::AuditRead) {
        return Err(Error::forbidden(
            "a webhook delivers the audit log: it needs audit:read too",
        ));
    }
    if settings.include_descendants && !standing.reaches_descendants() {
        return Err(Error::forbidden(
            "include_descendants needs a role that reaches the descendants (owner or admin)",
        ));
    }
    let events = check_events(settings.events)?;
    // Resolving the host takes time: do it before the change takes any lock.
    let url = address::check_url(settings.url.trim(), block_private)
        .await
        .map_err(|error| Error::invalid("url", error.to_string()))?;
    let secret = Secret::generate();
    let sealed = secret.seal(kek, account_id);
    let mut change = authorized(store, caller, account_id).await?;
    let now = clock::now();
    let webhook = webhooks::upsert(
        &mut *change,
        account_id,
        url.as_str(),
        events.as_deref(),
        settings.include_descendants,
        &sealed,
        now,
    )
    .await?
    .ok_or(Error::NotFound("webhook"))?;
    let created = webhook.secret_encrypted == sealed;
    let event = caller.event(
        Some(account_id),
        Action::WebhookUpdated,
        "webhook",
        account_id.as_str(),
        json!({
            "url": webhook.url,
            "events": webhook.events,
            "include_descendants": webhook.include_descendants,
            "created": created,
        }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(if created {
        Saved::Created(WebhookView::new(webhook, Some(secret.as_str().to_owned())))
    } else {
        Saved::Replaced(WebhookView::new(webhook, None))
    })
}

/// The filter as stored: 1 to 100 audit actions, each known, without repeats; `None`: all.
fn check_events(events: Option<Vec<String>>) -> Result<Option<Vec<String>>, Error> {
    let Some(events) = events else {
        return Ok(None);
    };
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(Error::invalid(
            "events",
            "must list 1 to 100 audit actions; leave it out for all",
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        if event.parse::<Action>().is_err() {
            return Err(Error::InvalidAt {
                field: format!("events[{index}]"),
                message: "must be an audit action such as member.added".to_owned(),
            });
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    Ok(Some(checked))
}

/// Deletes the account's webhook (`webhook.deleted`).
pub async fn delete(store: &Store, caller: &Caller, account_id: &AccountId) -> Result<(), Error> {
    let mut change = authorized(store, caller, account_id).await?;
    // Deleted before the event is written: its own deletion is not delivered to it.
    if !webhooks::delete(&mut *change, account_id).await? {
        return Err(Error::NotFound("webhook"));
    }
    let event = caller.event(
        Some(account_id),
        Action::WebhookDeleted,
        "webhook",
        account_id.as_str(),
        json!({}),
    );
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(())
}

/// Gives the webhook a new signing secret (`webhook.secret_rotated`), sealed with `kek`; the
/// previous one keeps signing for [`PREVIOUS_SECRET_SECONDS`].
pub async fn rotate_secret(
    store: &Store,
    kek: &KeyEncryptionKey,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<RotatedSecret, Error> {
    let mut change = authorized(store, caller, account_id).await?;
    let secret = Secret::generate();
    let sealed = secret.seal(kek, account_id);
    let now = clock::now();
    let previous_expires_at = now + PREVIOUS_SECRET_SECONDS;
    if !webhooks::rotate_secret(&mut *change, account_id, &sealed, previous_expires_at, now).await?
    {
        return Err(Error::NotFound("webhook"));
    }
    let event = caller.event(
        Some(account_id),
        Action::WebhookSecretRotated,
        "webhook",
        account_id.as_str(),
        json!({ "previous_secret_expires_at": Timestamp(previous_expires_at) }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(RotatedSecret {
        secret: secret.as_str().to_owned(),
        previous_secret_expires_at: Timestamp(previous_expires_at),
    })
}

/// A change holding the account's lock, in which the caller may configure its webhook: the
/// permission cannot go stale before the write. No such account: 404.
async fn authorized<'s>(
    store: &'s Store,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Change<'s>, Error> {
    let mut change = manage::locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::WebhooksWrite).await?;
    Ok(change)
}
