//! Browser sessions for tower-sessions, in our database so that they survive restarts and
//! are shared by every instance. Rows are keyed by the SHA-256 of the session id: a copy of
//! the table does not let anyone ride a session.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::clock;
use crate::secret;
use crate::store::Store;

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
                "insert into sessions (id, data, expires_at) values ($1, $2, $3) on conflict (id) do nothing",
            )
            .bind(key(&record.id))
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
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
            "insert into sessions (id, data, expires_at) values ($1, $2, $3) \
             on conflict (id) do update set data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(key(&record.id))
        .bind(encode(record)?)
        .bind(record.expiry_date.unix_timestamp())
        .execute(self.store.pool())
        .await
        .map_err(backend)
        .map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "select data, expires_at from sessions where id = $1 and expires_at > $2",
        )
        .bind(key(id))
        .bind(clock::now())
        .fetch_optional(self.store.pool())
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|error| session_store::Error::Decode(error.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expires_at).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("delete from sessions where id = $1")
            .bind(key(id))
            .execute(self.store.pool())
            .await
            .map_err(backend)
            .map(|_| ())
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
