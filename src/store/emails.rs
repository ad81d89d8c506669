//! The `emails` outbox: messages are enqueued in the transaction of the change that causes
//! them and delivered later by `mailer`, with retries, from whichever instance claims them.

use sqlx::{Any, Executor, FromRow};

use crate::store::outbox::Outbox;

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

/// The outbox mechanics of the `emails` table.
pub const OUTBOX: Outbox = Outbox {
    table: "emails",
    done_column: "sent_at",
};

/// Claims up to `limit` due messages for one delivery attempt each (see [`Outbox::claim_due`]).
pub async fn claim_due<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Email>, sqlx::Error> {
    OUTBOX
        .claim_due(
            db,
            "id, recipient, subject, text_body, html_body, attempts",
            now,
            lease_until,
            limit,
        )
        .await
}
