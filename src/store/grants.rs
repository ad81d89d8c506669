//! The `grants` table: one per code redemption, the family its refresh tokens belong to.

use std::sync::LazyLock;

use sqlx::{Any, Executor, FromRow};

use crate::ids::{AccountId, ClientId, GrantId, SessionId, UserId};

#[derive(Clone, Debug)]
pub struct Grant {
    pub id: GrantId,
    pub client_id: ClientId,
    pub user_id: Option<UserId>,
    pub account_id: Option<AccountId>,
    pub scope: String,
    pub auth_time: Option<i64>,
    /// How the user signed in (RFC 8176), carried to every token of the family.
    pub amr: Vec<String>,
    /// The browser session the family came through, if it came through one.
    pub session_id: Option<SessionId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(FromRow)]
struct GrantRow {
    id: String,
    client_id: String,
    user_id: Option<String>,
    account_id: Option<String>,
    scope: String,
    auth_time: Option<i64>,
    amr: Option<String>,
    session_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

/// The columns of [`GrantRow`].
const COLUMNS: [&str; 11] = [
    "id",
    "client_id",
    "user_id",
    "account_id",
    "scope",
    "auth_time",
    "amr",
    "session_id",
    "created_at",
    "expires_at",
    "revoked_at",
];

/// [`COLUMNS`] of the table aliased `alias` (`g.`, or `` for none).
fn columns_of(alias: &str) -> String {
    COLUMNS.map(|column| format!("{alias}{column}")).join(", ")
}

impl GrantRow {
    fn into_grant(self) -> Option<Grant> {
        Some(Grant {
            id: GrantId::parse(&self.id)?,
            client_id: ClientId::parse(&self.client_id)?,
            user_id: self.user_id.as_deref().and_then(UserId::parse),
            account_id: self.account_id.as_deref().and_then(AccountId::parse),
            scope: self.scope,
            auth_time: self.auth_time,
            amr: methods(self.amr.as_deref()),
            session_id: self.session_id.as_deref().and_then(SessionId::parse),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    grant: &Grant,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into grants (id, client_id, user_id, account_id, scope, auth_time, created_at, expires_at, revoked_at, amr, session_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(grant.id.as_str())
    .bind(grant.client_id.as_str())
    .bind(grant.user_id.as_ref().map(UserId::as_str))
    .bind(grant.account_id.as_ref().map(AccountId::as_str))
    .bind(&grant.scope)
    .bind(grant.auth_time)
    .bind(grant.created_at)
    .bind(grant.expires_at)
    .bind(grant.revoked_at)
    .bind((!grant.amr.is_empty()).then(|| grant.amr.join(" ")))
    .bind(grant.session_id.as_ref().map(SessionId::as_str))
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &GrantId,
) -> Result<Option<Grant>, sqlx::Error> {
    static QUERY: LazyLock<String> =
        LazyLock::new(|| format!("select {} from grants where id = $1", columns_of("")));
    let row: Option<GrantRow> = sqlx::query_as(&QUERY)
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(GrantRow::into_grant))
}

/// The grant a refresh token belongs to, and the token's own expiry: a refresh's first read,
/// one statement for both tables.
pub async fn find_by_refresh_token<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<(Grant, i64)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        grant: GrantRow,
        token_expires_at: i64,
    }
    static QUERY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select {}, t.expires_at as token_expires_at \
             from refresh_tokens t join grants g on g.id = t.grant_id where t.token_hash = $1",
            columns_of("g.")
        )
    });
    let row: Option<Row> = sqlx::query_as(&QUERY)
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|row| Some((row.grant.into_grant()?, row.token_expires_at))))
}

/// Revokes the grant: every refresh token of the family and every access token that names it.
pub async fn revoke<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &GrantId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update grants set revoked_at = $1 where id = $2 and revoked_at is null")
        .bind(now)
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Access tokens of the family issued before `now_ms` stop standing (liveness reads it): a
/// refresh retry revokes the access token of the pair it replaces this way.
pub async fn revoke_access_tokens_before<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &GrantId,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update grants set access_valid_after_ms = $1 where id = $2")
        .bind(now_ms)
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Revokes every refresh family that came through browser session `session_id`.
pub async fn revoke_for_session<'e>(
    db: impl Executor<'e, Database = Any>,
    session_id: &SessionId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update grants set revoked_at = $1 where session_id = $2 and revoked_at is null")
        .bind(now)
        .bind(session_id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Revokes every refresh family of a user (their tokens die with them).
pub async fn revoke_for_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update grants set revoked_at = $1 where user_id = $2 and revoked_at is null")
        .bind(now)
        .bind(user_id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Slides the family's expiry forward on rotation and, when a refresh switches accounts, binds
/// the family to the new one: its later tokens are scoped to it (API.md §11). One statement.
pub async fn extend<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &GrantId,
    expires_at: i64,
    rebind: Option<&AccountId>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update grants set expires_at = $1, account_id = coalesce($3, account_id) where id = $2",
    )
    .bind(expires_at)
    .bind(id.as_str())
    .bind(rebind.map(AccountId::as_str))
    .execute(db)
    .await
    .map(|_| ())
}

/// Method references as stored: space-separated, none for a login from before they were.
pub(crate) fn methods(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
