//! The `rate_limits` table: fixed-window counters shared by every instance. One atomic
//! upsert per hit, so concurrent instances never lose a count. Policy lives in `rate_limit`.

use sqlx::{Any, Executor};

/// A counter after a hit: how many hits its current window has seen, and when it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub count: i64,
    pub started_at: i64,
}

/// Counts one hit on `key` at `now`; a window that started `window_seconds` or more ago
/// is replaced by a fresh one holding this hit.
pub async fn hit<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    now: i64,
    window_seconds: i64,
) -> Result<Window, sqlx::Error> {
    // Both SET expressions read the row as it was before the update, on both backends.
    let (count, started_at): (i64, i64) = sqlx::query_as(
        "insert into rate_limits (key, window_started_at, count) values ($1, $2, 1) \
         on conflict (key) do update set \
           count = case when rate_limits.window_started_at <= $3 then 1 \
                   else rate_limits.count + 1 end, \
           window_started_at = case when rate_limits.window_started_at <= $3 then $2 \
                   else rate_limits.window_started_at end \
         returning count, window_started_at",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_seconds)
    .fetch_one(db)
    .await?;
    Ok(Window { count, started_at })
}

/// Takes back one hit (a login that turned out to succeed), if its window is still open.
pub async fn refund<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    window_started_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update rate_limits set count = count - 1 \
         where key = $1 and window_started_at = $2 and count > 0",
    )
    .bind(key)
    .bind(window_started_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Deletes counters whose window ended before `cutoff`; they would restart anyway.
pub async fn delete_stale<'e>(
    db: impl Executor<'e, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from rate_limits where window_started_at <= $1")
        .bind(cutoff)
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}
