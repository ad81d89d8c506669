//! Housekeeping every instance runs in the background: deleting records that can no longer
//! matter (expired sessions and codes, revoked-token entries past their token's expiry, dead
//! refresh families, stale rate-limit windows, settled webhook deliveries), so that lookups
//! stay on small tables. Safe to run on several instances at once.

use std::time::Duration;

use tower_sessions::ExpiredDeletion;

use crate::clock;
use crate::rate_limit;
use crate::store::Store;
use crate::store::rate_limits;
use crate::store::sessions::SqlSessionStore;
use crate::store::webhooks;

const INTERVAL: Duration = Duration::from_secs(600);
/// Spent records are kept a day past their expiry, for replay detection and inspection.
const KEEP_SECONDS: i64 = 86_400;
/// Settled webhook deliveries are kept a week, for inspection.
const WEBHOOK_DELIVERY_KEEP_SECONDS: i64 = 7 * 86_400;

/// Deletes what expired more than a day ago; returns how many rows went.
pub async fn sweep(store: &Store, now: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now - KEEP_SECONDS;
    let mut deleted = 0;
    for statement in [
        "delete from authorization_codes where expires_at < $1",
        "delete from revoked_tokens where expires_at < $1",
        "delete from refresh_tokens where expires_at < $1",
        "delete from grants where expires_at < $1",
        "delete from passkey_ceremonies where expires_at < $1",
    ] {
        deleted += sqlx::query(statement)
            .bind(cutoff)
            .execute(store.pool())
            .await?
            .rows_affected();
    }
    deleted +=
        rate_limits::delete_stale(store.pool(), now - 4 * rate_limit::WINDOW_SECONDS).await?;
    deleted += webhooks::delete_settled(store.pool(), now - WEBHOOK_DELIVERY_KEEP_SECONDS).await?;
    if let Err(error) = SqlSessionStore::new(store.clone()).delete_expired().await {
        tracing::warn!(%error, "could not delete expired sessions");
    }
    Ok(deleted)
}

/// Sweeps every few minutes until `shutdown` fires.
pub async fn run(store: Store, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => match sweep(&store, clock::now()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "expired records swept"),
                Err(error) => tracing::warn!(%error, "sweeping expired records failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
