//! The `factors` table: a user's second factors. A TOTP factor's secret is stored sealed
//! (the caller seals and opens it); `last_step` is the last TOTP step accepted, and the
//! conditional update in [`accept_step`] is what makes each code single use. A passkey's
//! credential (public key and signature counter, as webauthn-rs stores it) is JSON, and its
//! credential id is unique across users.

use serde::Serialize;
use sqlx::{Any, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::{FactorId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FactorType {
    Totp,
    Passkey,
}

impl FactorType {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorType::Totp => "totp",
            FactorType::Passkey => "passkey",
        }
    }

    fn parse(text: &str) -> Option<FactorType> {
        match text {
            "totp" => Some(FactorType::Totp),
            "passkey" => Some(FactorType::Passkey),
            _ => None,
        }
    }
}

/// `pending` until a first code proves the user's app has the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FactorStatus {
    Pending,
    Active,
}

impl FactorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorStatus::Pending => "pending",
            FactorStatus::Active => "active",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Factor {
    pub id: FactorId,
    pub user_id: UserId,
    pub kind: FactorType,
    pub name: String,
    pub status: FactorStatus,
    pub secret_sealed: Option<String>,
    pub last_step: Option<i64>,
    /// A passkey's webauthn-rs credential, as JSON.
    pub credential: Option<String>,
    /// A passkey's WebAuthn credential id, base64url.
    pub credential_id: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(FromRow)]
struct FactorRow {
    id: String,
    user_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    status: String,
    secret_sealed: Option<String>,
    last_step: Option<i64>,
    credential: Option<String>,
    credential_id: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl FactorRow {
    fn into_factor(self) -> Option<Factor> {
        Some(Factor {
            id: FactorId::parse(&self.id)?,
            user_id: UserId::parse(&self.user_id)?,
            kind: FactorType::parse(&self.kind)?,
            name: self.name,
            status: match self.status.as_str() {
                "active" => FactorStatus::Active,
                _ => FactorStatus::Pending,
            },
            secret_sealed: self.secret_sealed,
            last_step: self.last_step,
            credential: self.credential,
            credential_id: self.credential_id,
            created_at: Timestamp(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp),
        })
    }
}

const COLUMNS: &str = "id, user_id, type, name, status, secret_sealed, last_step, credential, \
                       credential_id, created_at, last_used_at";

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    factor: &Factor,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into factors (id, user_id, type, name, status, secret_sealed, last_step, \
         credential, credential_id, created_at, last_used_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(factor.id.as_str())
    .bind(factor.user_id.as_str())
    .bind(factor.kind.as_str())
    .bind(&factor.name)
    .bind(factor.status.as_str())
    .bind(factor.secret_sealed.as_deref())
    .bind(factor.last_step)
    .bind(factor.credential.as_deref())
    .bind(factor.credential_id.as_deref())
    .bind(factor.created_at.0)
    .bind(factor.last_used_at.map(|at| at.0))
    .execute(db)
    .await
    .map(|_| ())
}

/// The user's factors, oldest first.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<Vec<Factor>, sqlx::Error> {
    let rows: Vec<FactorRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from factors where user_id = $1 order by id"
    ))
    .bind(user_id.as_str())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(FactorRow::into_factor)
        .collect())
}

/// One factor of the user (another user's is not found).
pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    id: &FactorId,
) -> Result<Option<Factor>, sqlx::Error> {
    let row: Option<FactorRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from factors where user_id = $1 and id = $2"
    ))
    .bind(user_id.as_str())
    .bind(id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(FactorRow::into_factor))
}

/// Whether the user has an active factor (then a login needs a second step).
pub async fn has_active<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let count: i64 =
        sqlx::query_scalar("select count(*) from factors where user_id = $1 and status = 'active'")
            .bind(user_id.as_str())
            .fetch_one(db)
            .await?;
    Ok(count > 0)
}

/// Whether the user has an active passkey (a way to sign in without a password).
pub async fn has_active_passkey<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "select count(*) from factors where user_id = $1 and status = 'active' and type = 'passkey'",
    )
    .bind(user_id.as_str())
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}

/// Records a TOTP code's step as used, if it is later than the last one: `false` when the
/// step (or a later one) was accepted before, by this request's twin too.
pub async fn accept_step<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &FactorId,
    step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "update factors set last_step = $2, last_used_at = $3 \
         where id = $1 and (last_step is null or last_step < $2)",
    )
    .bind(id.as_str())
    .bind(step)
    .bind(now)
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// A passkey was just used: its credential as updated by the check (the signature counter,
/// backup state), and when.
pub async fn passkey_used<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &FactorId,
    credential: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update factors set credential = $2, last_used_at = $3 where id = $1")
        .bind(id.as_str())
        .bind(credential)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Makes a pending factor active.
pub async fn activate<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &FactorId,
) -> Result<bool, sqlx::Error> {
    sqlx::query("update factors set status = 'active' where id = $1 and status = 'pending'")
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|done| done.rows_affected() == 1)
}

pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    id: &FactorId,
) -> Result<bool, sqlx::Error> {
    sqlx::query("delete from factors where user_id = $1 and id = $2")
        .bind(user_id.as_str())
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|done| done.rows_affected() == 1)
}
