//! The `signing_keys` table. Private keys arrive and leave sealed; this module never sees
//! them in clear.

use sqlx::{Any, Executor, FromRow};

#[derive(Clone, Debug, FromRow)]
pub struct SigningKeyRecord {
    pub id: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// RSA's public members, base64url as published.
    pub modulus: Option<String>,
    pub exponent: Option<String>,
    /// The curve point of an EC (`x`, `y`) or OKP (`x`) key, base64url as published.
    pub x: Option<String>,
    pub y: Option<String>,
    pub private_key_encrypted: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// Keys still published: active ones, and retired ones retired after `retired_after`.
/// Newest first, so the first active key is the one that signs.
pub async fn published<'e>(
    db: impl Executor<'e, Database = Any>,
    retired_after: i64,
) -> Result<Vec<SigningKeyRecord>, sqlx::Error> {
    sqlx::query_as(
        "select id, algorithm, modulus, exponent, x, y, private_key_encrypted, created_at, \
         retired_at from signing_keys where retired_at is null or retired_at > $1 \
         order by created_at desc, id desc",
    )
    .bind(retired_after)
    .fetch_all(db)
    .await
}

/// What `published` would return, reduced to what identifies a change: cheap enough to poll.
pub async fn published_fingerprint<'e>(
    db: impl Executor<'e, Database = Any>,
    retired_after: i64,
) -> Result<Vec<(String, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "select id, retired_at from signing_keys where retired_at is null or retired_at > $1 \
         order by created_at desc, id desc",
    )
    .bind(retired_after)
    .fetch_all(db)
    .await
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &SigningKeyRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into signing_keys (id, algorithm, modulus, exponent, x, y, \
         private_key_encrypted, created_at, retired_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&key.id)
    .bind(&key.algorithm)
    .bind(&key.modulus)
    .bind(&key.exponent)
    .bind(&key.x)
    .bind(&key.y)
    .bind(&key.private_key_encrypted)
    .bind(key.created_at)
    .bind(key.retired_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Stops every active key of `algorithm` from signing; they stay published until their
/// tokens expire.
pub async fn retire_active<'e>(
    db: impl Executor<'e, Database = Any>,
    algorithm: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update signing_keys set retired_at = $1 where retired_at is null and algorithm = $2",
    )
    .bind(now)
    .bind(algorithm)
    .execute(db)
    .await
    .map(|_| ())
}

/// Removes keys whose publication ended at or before `retired_before`: no valid token
/// refers to them, and their sealed private parts need not be kept.
pub async fn delete_unpublished<'e>(
    db: impl Executor<'e, Database = Any>,
    retired_before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from signing_keys where retired_at is not null and retired_at <= $1")
        .bind(retired_before)
        .execute(db)
        .await
        .map(|_| ())
}
