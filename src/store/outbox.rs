//! The lease-and-retry mechanics of the durable outboxes (`emails`, `webhook_deliveries`):
//! every instance claims due rows with one conditional UPDATE that moves their next attempt
//! to the end of a short lease, so a row is tried by one instance at a time; then it is
//! marked done, scheduled for a retry, or given up. While an attempt runs, its instance
//! renews the lease ([`Outbox::while_held`]); when the instance dies the renewals stop and
//! the row is due again within [`LEASE_SECONDS`], for any instance (a restarted one too).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, FromRow};

use crate::clock;

/// How long a claim holds a row without renewal. A crashed instance's rows are tried again
/// this long after its last renewal at most (API.md §8 promises 60 s of the restart; the
/// workers poll every few seconds).
pub const LEASE_SECONDS: i64 = 30;
/// How often the lease of a row being worked on is renewed: a renewal or two may fail (a
/// slow database) before the lease runs out under a live attempt.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// One outbox table and the column that marks a row as done.
pub struct Outbox {
    pub table: &'static str,
    pub done_column: &'static str,
}

impl Outbox {
    /// Claims up to `limit` due rows for one attempt each, returning `columns` of them.
    pub async fn claim_due<'e, T>(
        &self,
        db: impl Executor<'e, Database = Any>,
        columns: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let Outbox { table, done_column } = self;
        // The outer `next_attempt_at <= $1` is re-checked on a row another instance claimed
        // meanwhile (PostgreSQL re-evaluates it after the row lock), so no row goes twice.
        let pending =
            format!("next_attempt_at <= $1 and {done_column} is null and failed_at is null");
        sqlx::query_as(&format!(
            "update {table} set next_attempt_at = $2, attempts = attempts + 1 \
             where {pending} and id in (select id from {table} where {pending} \
             order by next_attempt_at limit $3) returning {columns}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(db)
        .await
    }

    /// Extends the lease of row `id` to `lease_until`, if it is still held by the claim that
    /// made it attempt number `attempt`: not settled, nor claimed again by another instance
    /// after the lease ran out. Returns whether it was.
    pub async fn renew_lease<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        id: &str,
        attempt: i64,
        lease_until: i64,
    ) -> Result<bool, sqlx::Error> {
        let Outbox { table, done_column } = self;
        let result = sqlx::query(&format!(
            "update {table} set next_attempt_at = $3 \
             where id = $1 and attempts = $2 and {done_column} is null and failed_at is null"
        ))
        .bind(id)
        .bind(attempt)
        .bind(lease_until)
        .execute(db)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Runs `work`, one attempt at row `id` (claimed as attempt number `attempt`), renewing
    /// the row's lease every [`HEARTBEAT`] until it finishes. Settle the row after this
    /// returns, not inside `work`: a renewal must not overwrite a scheduled retry.
    pub async fn while_held<T>(
        &self,
        pool: &AnyPool,
        id: &str,
        attempt: i64,
        work: impl Future<Output = T>,
    ) -> T {
        // Polled beside `work`, so a slow renewal never holds the attempt up.
        tokio::select! {
            output = work => output,
            never = self.renew_forever(pool, id, attempt) => match never {},
        }
    }

    async fn renew_forever(&self, pool: &AnyPool, id: &str, attempt: i64) -> Infallible {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the claim itself has just set the lease.
        heartbeat.tick().await;
        loop {
            heartbeat.tick().await;
            let lease_until = clock::now() + LEASE_SECONDS;
            match self.renew_lease(pool, id, attempt, lease_until).await {
                Ok(true) => {}
                // At least once: finishing the attempt is right either way.
                Ok(false) => tracing::warn!(
                    table = self.table,
                    id,
                    "lease lost to another claim; finishing the attempt anyway"
                ),
                Err(error) => {
                    tracing::warn!(table = self.table, id, %error, "could not renew a lease");
                }
            }
        }
    }

    pub async fn mark_done<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "update {} set {} = $2, last_error = null where id = $1",
            self.table, self.done_column
        ))
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
    }

    /// Records a failed attempt; the row is tried again at `next_attempt_at`.
    pub async fn schedule_retry<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "update {} set next_attempt_at = $2, last_error = $3 where id = $1",
            self.table
        ))
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
    }

    /// Gives up on a row after its last attempt failed.
    pub async fn mark_failed<'e>(
        &self,
        db: impl Executor<'e, Database = Any>,
        id: &str,
        now: i64,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "update {} set failed_at = $2, last_error = $3 where id = $1",
            self.table
        ))
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
    }
}
