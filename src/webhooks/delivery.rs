//! The delivery worker: claims due rows of the `webhook_deliveries` outbox (with a short
//! lease renewed while the request runs, so several instances share the work and a crashed
//! one's deliveries are tried again within `outbox::LEASE_SECONDS`), POSTs each one signed per Standard Webhooks, and
//! retries failures with exponential backoff for at least 24 hours. At least once: the
//! `webhook-id` stays the same on every attempt so receivers can drop duplicates.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock;
use crate::ids::AccountId;
use crate::keys::KeyRing;
use crate::store::outbox::LEASE_SECONDS;
use crate::store::webhooks::{self, Delivery};
use crate::store::{Store, accounts};
use crate::webhooks::address::{self, PublicOnly};
use crate::webhooks::{Secret, signature_header};

/// How often the worker looks for due deliveries.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Deliveries claimed (and sent concurrently) per round.
const BATCH: i64 = 20;
/// A receiver has this long to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Failed deliveries are retried until they are this old, then given up.
const RETRY_WINDOW_SECONDS: i64 = 24 * 60 * 60;
/// Wait after the n-th failed attempt; past the table's end, its last entry.
const BACKOFF_SECONDS: [i64; 8] = [
    5,
    30,
    2 * 60,
    10 * 60,
    30 * 60,
    60 * 60,
    2 * 60 * 60,
    4 * 60 * 60,
];
/// Stored error texts are cut to this many characters.
const MAX_ERROR_LENGTH: usize = 500;

/// Sends deliveries: the HTTP client, the key that opens secrets, the address policy.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    keys: Arc<KeyRing>,
    block_private: bool,
}

impl Sender {
    pub fn new(keys: Arc<KeyRing>, block_private: bool) -> Result<Sender, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            // A receiver answering 3xx could point anywhere: redirects count as failures.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")));
        if block_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Sender {
            client: builder.build()?,
            keys,
            block_private,
        })
    }

    /// One attempt; `Err` carries why it failed.
    async fn attempt(&self, store: &Store, delivery: &Delivery) -> Result<(), Attempt> {
        let account_id = AccountId::parse(&delivery.account_id)
            .ok_or(Attempt::GiveUp("malformed account id".into()))?;
        let target = target(store, &account_id, delivery).await?;
        let url = address::parse(&target.url)
            .map_err(|error| Attempt::GiveUp(format!("url: {error}")))?;
        if self.block_private && address::literal_ip(&url).is_some_and(|ip| !address::is_public(ip))
        {
            return Err(Attempt::Retry(address::UrlError::NotPublic.to_string()));
        }
        let kek = self.keys.key_encryption_key();
        let now = clock::now();
        let mut secrets = vec![
            Secret::open(kek, &target.secret_encrypted, &account_id)
                .map_err(|error| Attempt::GiveUp(error.to_string()))?,
        ];
        if let (Some(previous), Some(expires_at)) = (
            &target.previous_secret_encrypted,
            target.previous_secret_expires_at,
        ) && expires_at > now
        {
            secrets.push(
                Secret::open(kek, previous, &account_id)
                    .map_err(|error| Attempt::GiveUp(error.to_string()))?,
            );
        }
        let signature = signature_header(&secrets, &delivery.id, now, &delivery.payload);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|error| Attempt::Retry(error_chain(&error)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Attempt::Retry(format!("the receiver answered {status}")))
        }
    }
}

enum Attempt {
    Retry(String),
    GiveUp(String),
}

/// Where and with which secrets a delivery goes.
struct Target {
    url: String,
    secret_encrypted: String,
    previous_secret_encrypted: Option<String>,
    previous_secret_expires_at: Option<i64>,
}

/// The account's webhook as it is now (its URL and secrets, rotations included); for an
/// account deleted meanwhile, the snapshot taken when the event was queued. A webhook that
/// its account removed receives nothing more.
async fn target(
    store: &Store,
    account_id: &AccountId,
    delivery: &Delivery,
) -> Result<Target, Attempt> {
    let live = webhooks::find(store.pool(), account_id)
        .await
        .map_err(|error| Attempt::Retry(error.to_string()))?;
    if let Some(webhook) = live {
        return Ok(Target {
            url: webhook.url,
            secret_encrypted: webhook.secret_encrypted,
            previous_secret_encrypted: webhook.previous_secret_encrypted,
            previous_secret_expires_at: webhook.previous_secret_expires_at,
        });
    }
    let account = accounts::find(store.pool(), account_id)
        .await
        .map_err(|error| Attempt::Retry(error.to_string()))?;
    match (account, &delivery.secret_encrypted) {
        (None, Some(secret_encrypted)) => Ok(Target {
            url: delivery.url.clone(),
            secret_encrypted: secret_encrypted.clone(),
            previous_secret_encrypted: delivery.previous_secret_encrypted.clone(),
            previous_secret_expires_at: delivery.previous_secret_expires_at,
        }),
        _ => Err(Attempt::GiveUp("the webhook was removed".into())),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Delivers due webhooks until `shutdown` changes; a round in progress finishes first.
pub async fn run(store: Store, sender: Sender, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A committed change that queued work wakes it at once; the ticker finds work
        // queued by other instances and retries that fell due.
        tokio::select! {
            _ = ticker.tick() => {}
            _ = store.webhooks_queued() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = deliver_due(&store, &sender).await {
            tracing::warn!(%error, "could not deliver queued webhooks");
        }
    }
}

/// One round: claims due deliveries and tries each once, concurrently. Returns how many
/// were delivered.
pub async fn deliver_due(store: &Store, sender: &Sender) -> Result<usize, sqlx::Error> {
    let now = clock::now();
    let claimed = webhooks::claim_due(store.pool(), now, now + LEASE_SECONDS, BATCH).await?;
    let mut attempts = JoinSet::new();
    for delivery in claimed {
        let (store, sender) = (store.clone(), sender.clone());
        attempts.spawn(async move { settle(&store, &sender, &delivery).await });
    }
    let mut delivered = 0;
    while let Some(result) = attempts.join_next().await {
        match result {
            Ok(Ok(true)) => delivered += 1,
            Ok(Ok(false)) => {}
            Ok(Err(error)) => return Err(error),
            Err(error) => tracing::error!(%error, "webhook delivery task failed"),
        }
    }
    Ok(delivered)
}

/// Tries one delivery and records the outcome; returns whether it was delivered.
async fn settle(store: &Store, sender: &Sender, delivery: &Delivery) -> Result<bool, sqlx::Error> {
    // The lease is renewed while the receiver takes its time; should this instance die,
    // the renewals stop and another (or this one restarted) tries again.
    let outcome = webhooks::OUTBOX
        .while_held(
            store.pool(),
            &delivery.id,
            delivery.attempts,
            sender.attempt(store, delivery),
        )
        .await;
    let now = clock::now();
    match outcome {
        Ok(()) => {
            webhooks::OUTBOX
                .mark_done(store.pool(), &delivery.id, now)
                .await?;
            return Ok(true);
        }
        Err(Attempt::Retry(error)) if now < delivery.created_at + RETRY_WINDOW_SECONDS => {
            let error = truncate(&error);
            tracing::warn!(id = %delivery.id, attempts = delivery.attempts, %error,
                "webhook delivery failed; will retry");
            let next = now + backoff_seconds(delivery.attempts);
            webhooks::OUTBOX
                .schedule_retry(store.pool(), &delivery.id, next, &error)
                .await?;
        }
        Err(Attempt::Retry(error) | Attempt::GiveUp(error)) => {
            let error = truncate(&error);
            tracing::error!(id = %delivery.id, attempts = delivery.attempts, %error,
                "giving up on webhook delivery");
            webhooks::OUTBOX
                .mark_failed(store.pool(), &delivery.id, now, &error)
                .await?;
        }
    }
    Ok(false)
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_ERROR_LENGTH).collect()
}

/// Wait before attempt `attempts + 1`: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, then 4 h.
fn backoff_seconds(attempts: i64) -> i64 {
    let index = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
    BACKOFF_SECONDS
        .get(index)
        .or(BACKOFF_SECONDS.last())
        .copied()
        .unwrap_or(60)
}

#[cfg(test)]
mod tests {
    use super::{RETRY_WINDOW_SECONDS, backoff_seconds};

    #[test]
    fn backoff_starts_within_ten_seconds_grows_and_is_capped() {
        assert!(backoff_seconds(1) <= 10);
        assert!(backoff_seconds(2) > backoff_seconds(1));
        assert_eq!(backoff_seconds(8), 4 * 60 * 60);
        assert_eq!(backoff_seconds(100), 4 * 60 * 60);
        // Retries span the whole window: the cap is well below it.
        assert!(backoff_seconds(100) < RETRY_WINDOW_SECONDS);
    }
}
