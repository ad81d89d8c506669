//! The `emails` outbox: messages are enqueued in the transaction of the change that causes
//! them and delivered later by `mailer`, with retries, from whichever instance claims them.

use sqlx::{Any, Executor, FromRow};

/// A message to send: plain text, optionally with an HTML alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEmail {
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
}

/// A claimed message, with how many delivery attempts it has had (this one included).
#[derive(Clone, Debug, FromRow)]
pub struct Email {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    pub attempts: i64,
}

/// Adds a message to the outbox, due at once.
pub async fn enqueue<'e>(
    db: impl Executor<'e, Database = Any>,
    email: &NewEmail,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = format!("eml_{}", ulid::Ulid::new());
    sqlx::query(
        "insert into emails (id, recipient, subject, text_body, html_body, next_attempt_at, created_at) \
         values ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&email.recipient)
    .bind(&email.subject)
    .bind(&email.text_body)
    .bind(email.html_body.as_deref())
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

/// Claims up to `limit` due messages for one delivery attempt each: their next attempt moves
/// to `lease_until`, so another instance (or this one after a crash) retries them only then.
pub async fn claim_due<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Email>, sqlx::Error> {
    // The outer `next_attempt_at <= $1` is re-checked on a row another instance claimed
    // meanwhile (PostgreSQL re-evaluates it after the row lock), so no message goes twice.
    sqlx::query_as(
        "update emails set next_attempt_at = $2, attempts = attempts + 1 \
         where next_attempt_at <= $1 and sent_at is null and failed_at is null and id in ( \
           select id from emails \
           where next_attempt_at <= $1 and sent_at is null and failed_at is null \
           order by next_attempt_at limit $3) \
         returning id, recipient, subject, text_body, html_body, attempts",
    )
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn mark_sent<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update emails set sent_at = $2, last_error = null where id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records a failed attempt; the message is tried again at `next_attempt_at`.
pub async fn schedule_retry<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update emails set next_attempt_at = $2, last_error = $3 where id = $1")
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
}

/// Gives up on a message after its last attempt failed.
pub async fn mark_failed<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    now: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update emails set failed_at = $2, last_error = $3 where id = $1")
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
}
