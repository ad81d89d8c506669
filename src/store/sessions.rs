//! Browser sessions for tower-sessions, in our database so that they survive restarts and
//! are shared by every instance. Rows are keyed by the SHA-256 of the session id: a copy of
//! the table does not let anyone ride a session.
//!
//! A signed-in record names its browser session (`store::browser_sessions`) in a column of
//! its own: deleting the record ends that session, ending the session deletes the record,
//! and a record whose session has ended loads as none (a request that read it before the
//! end cannot bring it back).

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::clock;
use crate::ids::SessionId;
use crate::secret;
use crate::store::{Store, browser_sessions};

#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    store: Store,
}

impl SqlSessionStore {
    pub fn new(store: Store) -> SqlSessionStore {
        SqlSessionStore { store }
    }
}

fn key(id: &Id) -> String {
    secret::hash(&id.to_string())
}

fn backend(error: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data)
        .map_err(|error| session_store::Error::Encode(error.to_string()))
}

/// The browser session a record belongs to: session data is JSON written by
/// `session::LoginSession`, whose signed-in record (key `user`) holds `"session_id":"ses_…"`.
fn browser_session_id(record: &Record) -> Option<&str> {
    record.data.get("user")?.get("session_id")?.as_str()
}

/// Deletes the record of browser session `id`: that browser is signed out.
pub async fn delete_for_session<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &SessionId,
) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from sessions where browser_session_id = $1")
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}

/// Ends every session of one user (after a password reset). Session data is JSON written
/// by `session::LoginSession`, whose signed-in record holds `"user_id":"usr_…"`.
pub async fn delete_for_user<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &crate::ids::UserId,
) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from sessions where data like $1")
        .bind(format!("%\"user_id\":\"{}\"%", user_id.as_str()))
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        // A colliding random 128-bit id is all but impossible; if it happens, draw again.
        loop {
            let inserted = sqlx::query(
                "insert into sessions (id, data, expires_at, browser_session_id) values ($1, $2, $3, $4) \
                 on conflict (id) do nothing",
            )
            .bind(key(&record.id))
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(browser_session_id(record))
            .execute(self.store.pool())
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "insert into sessions (id, data, expires_at, browser_session_id) values ($1, $2, $3, $4) \
             on conflict (id) do update set data = excluded.data, expires_at = excluded.expires_at, \
             browser_session_id = excluded.browser_session_id",
        )
        .bind(key(&record.id))
        .bind(encode(record)?)
        .bind(record.expiry_date.unix_timestamp())
        .bind(browser_session_id(record))
        .execute(self.store.pool())
        .await
        .map_err(backend)
        .map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = clock::now();
        let row: Option<(String, i64, Option<String>, Option<i64>)> = sqlx::query_as(
            "select s.data, s.expires_at, b.id, b.last_seen_at from sessions s \
             left join browser_sessions b on b.id = s.browser_session_id \
             where s.id = $1 and s.expires_at > $2 and b.ended_at is null",
        )
        .bind(key(id))
        .bind(now)
        .fetch_optional(self.store.pool())
        .await
        .map_err(backend)?;
        let Some((data, expires_at, session_id, last_seen_at)) = row else {
            return Ok(None);
        };
        if let (Some(session_id), Some(last_seen_at)) = (session_id, last_seen_at)
            && now - last_seen_at >= browser_sessions::LAST_SEEN_GRANULARITY_SECONDS
        {
            // Off the request's path: the page does not wait for bookkeeping.
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(error) = browser_sessions::touch(store.pool(), &session_id, now).await {
                    tracing::warn!(%error, session = %session_id, "cannot record a session's use");
                }
            });
        }
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|error| session_store::Error::Decode(error.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expires_at).map_err(backend)?,
        }))
    }

    /// A sign-out, or a new login in the same browser (which changes the record's id): the
    /// browser session of the old record ends with it.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let deleted: Option<(Option<String>,)> =
            sqlx::query_as("delete from sessions where id = $1 returning browser_session_id")
                .bind(key(id))
                .fetch_optional(self.store.pool())
                .await
                .map_err(backend)?;
        if let Some((Some(session_id),)) = deleted {
            browser_sessions::end(self.store.pool(), &session_id, clock::now())
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SqlSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("delete from sessions where expires_at <= $1")
            .bind(clock::now())
            .execute(self.store.pool())
            .await
            .map_err(backend)
            .map(|_| ())
    }
}
