//! The lease-and-retry mechanics of the durable outboxes (`emails`, `webhook_deliveries`):
//! every instance claims due rows with one conditional UPDATE that moves their next attempt
//! to the end of a lease, so a row is tried by one instance at a time and again after a
//! crash; then it is marked done, scheduled for a retry, or given up.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, FromRow};

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
