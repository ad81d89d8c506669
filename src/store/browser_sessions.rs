//! The `browser_sessions` table: one row per login on the hosted pages, what
//! `/v1/me/sessions` lists and ends. The browser's cookie opens a tower-sessions record
//! (`store::sessions`) that names its row; the row ends when that record goes.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::store::Position;

/// How often a session's use is written down: `last_seen_at` is at most this stale.
pub const LAST_SEEN_GRANULARITY_SECONDS: i64 = 60;

#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
}

#[derive(FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    last_seen_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: String,
}

impl SessionRow {
    fn into_session(self) -> Option<BrowserSession> {
        Some(BrowserSession {
            id: SessionId::parse(&self.id)?,
            user_id: UserId::parse(&self.user_id)?,
            created_at: Timestamp(self.created_at),
            last_seen_at: Timestamp(self.last_seen_at),
            ip: self.ip,
            user_agent: self.user_agent,
            amr: super::grants::methods(Some(&self.amr)),
        })
    }
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    session: &BrowserSession,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into browser_sessions (id, user_id, created_at, last_seen_at, ip, user_agent, amr) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(session.id.as_str())
    .bind(session.user_id.as_str())
    .bind(session.created_at.0)
    .bind(session.last_seen_at.0)
    .bind(session.ip.as_deref())
    .bind(session.user_agent.as_deref())
    .bind(session.amr.join(" "))
    .execute(db)
    .await
    .map(|_| ())
}

/// The user's sessions a browser is still signed in with: not ended, begun after
/// `begun_after` (the absolute lifetime), and with a live tower-sessions record (which the
/// idle timeout ends). Newest first, after `after`.
pub async fn list_live<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    begun_after: i64,
    now: i64,
    after: &Position,
    limit: i64,
) -> Result<Vec<BrowserSession>, sqlx::Error> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "select b.id, b.user_id, b.created_at, b.last_seen_at, b.ip, b.user_agent, b.amr \
         from browser_sessions b \
         where b.user_id = $1 and b.ended_at is null and b.created_at > $2 \
         and exists (select 1 from sessions s where s.browser_session_id = b.id and s.expires_at > $3) \
         and (b.created_at < $4 or (b.created_at = $4 and b.id < $5)) \
         order by b.created_at desc, b.id desc limit $6",
    )
    .bind(user_id.as_str())
    .bind(begun_after)
    .bind(now)
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(SessionRow::into_session)
        .collect())
}

/// Ends the user's session `id` (again, if it had ended); `false` when the user has no
/// such session.
pub async fn end_for_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    id: &SessionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "update browser_sessions set ended_at = coalesce(ended_at, $1) where id = $2 and user_id = $3",
    )
    .bind(now)
    .bind(id.as_str())
    .bind(user_id.as_str())
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Ends every session of a user (a new password signs every browser out).
pub async fn end_all_of_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update browser_sessions set ended_at = $1 where user_id = $2 and ended_at is null")
        .bind(now)
        .bind(user_id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Ends the session whose tower-sessions record was just deleted.
pub async fn end<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update browser_sessions set ended_at = $1 where id = $2 and ended_at is null")
        .bind(now)
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Writes down a use of the session at `now`, unless one within the granularity already is.
pub async fn touch<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update browser_sessions set last_seen_at = $1 \
         where id = $2 and last_seen_at <= $3 and ended_at is null",
    )
    .bind(now)
    .bind(id)
    .bind(now - LAST_SEEN_GRANULARITY_SECONDS)
    .execute(db)
    .await
    .map(|_| ())
}
