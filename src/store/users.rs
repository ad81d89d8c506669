//! The `users` table.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::store::{Backend, Change};
use crate::user::User;

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    password_hash: Option<String>,
    email_verified: i64,
    superadmin: i64,
    created_at: i64,
    updated_at: i64,
    disabled_at: Option<i64>,
}

impl UserRow {
    fn into_user(self) -> Option<User> {
        Some(User {
            id: UserId::parse(&self.id)?,
            email: self.email,
            name: self.name,
            email_verified: self.email_verified != 0,
            created_at: Timestamp(self.created_at),
            superadmin: self.superadmin != 0,
            password_hash: self.password_hash,
            updated_at: Timestamp(self.updated_at),
            disabled_at: self.disabled_at.map(Timestamp),
        })
    }
}

const COLUMNS: &str = "id, email, name, password_hash, email_verified, superadmin, created_at, \
     updated_at, disabled_at";

/// The user, its row locked until the change ends (PostgreSQL; SQLite's write transaction
/// holds the whole database already).
pub async fn lock(change: &mut Change<'_>, id: &UserId) -> Result<Option<User>, sqlx::Error> {
    let lock = match change.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " for update",
    };
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where id = $1{lock}"))
            .bind(id.as_str())
            .fetch_optional(&mut **change)
            .await?;
    Ok(row.and_then(UserRow::into_user))
}

/// Inserts a user; a duplicate email (any case) is a unique violation.
pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    user: &User,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into users (id, email, name, password_hash, email_verified, superadmin, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user.id.as_str())
    .bind(&user.email)
    .bind(user.name.as_deref())
    .bind(user.password_hash.as_deref())
    .bind(i64::from(user.email_verified))
    .bind(i64::from(user.superadmin))
    .bind(user.created_at.0)
    .bind(user.updated_at.0)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where id = $1"))
            .bind(id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(UserRow::into_user))
}

/// Case-insensitive lookup (uses the `lower(email)` index).
pub async fn find_by_email<'e>(
    db: impl Executor<'e, Database = Any>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from users where lower(email) = lower($1)"
    ))
    .bind(email)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(UserRow::into_user))
}

pub async fn count<'e>(db: impl Executor<'e, Database = Any>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(db)
        .await
}

/// Replaces a user's password hash.
pub async fn set_password_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
    password_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set password_hash = $2, updated_at = $3 where id = $1")
        .bind(id.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Access tokens of the user issued before `now_ms` stop standing (liveness reads it).
pub async fn revoke_tokens_before<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set tokens_valid_after_ms = $2 where id = $1")
        .bind(id.as_str())
        .bind(now_ms)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records that the user proved they receive mail at their address.
pub async fn mark_email_verified<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set email_verified = 1, updated_at = $2 where id = $1")
        .bind(id.as_str())
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Writes a user's name and password hash.
pub async fn update_profile<'e>(
    db: impl Executor<'e, Database = Any>,
    user: &User,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set name = $2, password_hash = $3, updated_at = $4 where id = $1")
        .bind(user.id.as_str())
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_deref())
        .bind(user.updated_at.0)
        .execute(db)
        .await
        .map(|_| ())
}

/// Users matching `filter` (a condition from `search::to_sql` whose placeholders start at
/// `$4`), newest first, after `after`: the superadmin's search.
pub async fn search<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: Option<&crate::search::Condition>,
    after: &crate::store::Position,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    let condition = filter.map_or("1 = 1", |filter| filter.sql.as_str());
    let sql = format!(
        "select {COLUMNS} from users \
         where (created_at < $1 or (created_at = $1 and id < $2)) and {condition} \
         order by created_at desc, id desc limit $3"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(after.created_at)
        .bind(&after.id)
        .bind(limit);
    for value in filter
        .map(|filter| filter.binds.as_slice())
        .unwrap_or_default()
    {
        query = query.bind(value);
    }
    let rows: Vec<UserRow> = query.fetch_all(db).await?;
    Ok(rows.into_iter().filter_map(UserRow::into_user).collect())
}

/// Whether the user exists and is a superadmin.
pub async fn is_superadmin<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
) -> Result<bool, sqlx::Error> {
    let flag: Option<i64> = sqlx::query_scalar("select superadmin from users where id = $1")
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(flag == Some(1))
}

/// Disables the user at `now` (`Some`) or enables them (`None`); whether the user exists.
pub async fn set_disabled<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
    disabled_at: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("update users set disabled_at = $2, updated_at = $3 where id = $1")
        .bind(id.as_str())
        .bind(disabled_at)
        .bind(now)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a user to a new address that was just proven by a link mailed to it. Another user
/// holding the address (any case) makes this a unique violation.
pub async fn set_email<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
    email: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set email = $2, email_verified = 1, updated_at = $3 where id = $1")
        .bind(id.as_str())
        .bind(email)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Deletes a user; what is theirs alone (memberships, grants and their refresh tokens,
/// codes, consents, mailed links) goes with it by `on delete cascade`.
pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &UserId,
) -> Result<bool, sqlx::Error> {
    sqlx::query("delete from users where id = $1")
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|done| done.rows_affected() > 0)
}
