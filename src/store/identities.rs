//! The `identities` table: users' links to upstream providers, unique by `(issuer, subject)`.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Timestamp;
use crate::identity::Identity;
use crate::ids::{IdentityId, UserId};
use crate::store::Position;

#[derive(FromRow)]
struct IdentityRow {
    id: String,
    user_id: String,
    provider: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl IdentityRow {
    fn into_identity(self) -> Option<Identity> {
        Some(Identity {
            id: IdentityId::parse(&self.id)?,
            user_id: UserId::parse(&self.user_id)?,
            provider: self.provider,
            issuer: self.issuer,
            subject: self.subject,
            email: self.email,
            created_at: Timestamp(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp),
        })
    }
}

const COLUMNS: &str = "id, user_id, provider, issuer, subject, email, created_at, last_used_at";

/// Inserts a link; a unique violation when the upstream user is linked already (a
/// concurrent first sign-in).
pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    identity: &Identity,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into identities ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(identity.id.as_str())
    .bind(identity.user_id.as_str())
    .bind(&identity.provider)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(identity.email.as_deref())
    .bind(identity.created_at.0)
    .bind(identity.last_used_at.map(|at| at.0))
    .execute(db)
    .await
    .map(|_| ())
}

/// The link of an upstream user.
pub async fn find_by_subject<'e>(
    db: impl Executor<'e, Database = Any>,
    issuer: &str,
    subject: &str,
) -> Result<Option<Identity>, sqlx::Error> {
    let row: Option<IdentityRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from identities where issuer = $1 and subject = $2"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(IdentityRow::into_identity))
}

/// Notes a sign-in through the link, and the address the provider gave this time.
pub async fn touch<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &IdentityId,
    email: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update identities set last_used_at = $2, email = coalesce($3, email) where id = $1",
    )
    .bind(id.as_str())
    .bind(now)
    .bind(email)
    .execute(db)
    .await
    .map(|_| ())
}

/// A user's links, newest first, after `after`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Identity>, sqlx::Error> {
    let rows: Vec<IdentityRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from identities where user_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4"
    ))
    .bind(user_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(IdentityRow::into_identity)
        .collect())
}

/// How many links a user has.
pub async fn count<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from identities where user_id = $1")
        .bind(user_id.as_str())
        .fetch_one(db)
        .await
}

/// Removes one of a user's links; whether it was there.
pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    id: &IdentityId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from identities where id = $1 and user_id = $2")
        .bind(id.as_str())
        .bind(user_id.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
