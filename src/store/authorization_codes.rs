//! The `authorization_codes` table, keyed by the SHA-256 of the code. The database enforces
//! single use: redeeming is one `UPDATE … WHERE consumed_at IS NULL RETURNING`.

use sqlx::{Any, Executor, FromRow};

use crate::ids::{AccountId, ClientId, GrantId, SessionId, UserId};
use crate::oauth::scope::Scope;
use crate::oauth::token::CodeGrant;

#[derive(FromRow)]
struct CodeRow {
    client_id: String,
    user_id: String,
    account_id: Option<String>,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    amr: Option<String>,
    session_id: Option<String>,
    expires_at: i64,
}

impl CodeRow {
    fn into_grant(self) -> Option<CodeGrant> {
        Some(CodeGrant {
            client_id: ClientId::parse(&self.client_id)?,
            user_id: UserId::parse(&self.user_id)?,
            account_id: self.account_id.as_deref().and_then(AccountId::parse),
            redirect_uri: self.redirect_uri,
            scope: Scope::parse(&self.scope)?,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: self.auth_time,
            amr: super::grants::methods(self.amr.as_deref()),
            session_id: self.session_id.as_deref().and_then(SessionId::parse),
            expires_at: self.expires_at,
        })
    }
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    code_hash: &str,
    code: &CodeGrant,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into authorization_codes (code_hash, client_id, user_id, account_id, redirect_uri, scope, \
         nonce, code_challenge, auth_time, created_at, expires_at, amr, session_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(code_hash)
    .bind(code.client_id.as_str())
    .bind(code.user_id.as_str())
    .bind(code.account_id.as_ref().map(AccountId::as_str))
    .bind(&code.redirect_uri)
    .bind(code.scope.to_string())
    .bind(code.nonce.as_deref())
    .bind(code.code_challenge.as_deref())
    .bind(code.auth_time)
    .bind(now)
    .bind(code.expires_at)
    .bind(code.amr.join(" "))
    .bind(code.session_id.as_ref().map(SessionId::as_str))
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks the code used and returns what it was for; `None` if unknown or already used.
pub async fn consume<'e>(
    db: impl Executor<'e, Database = Any>,
    code_hash: &str,
    now: i64,
) -> Result<Option<CodeGrant>, sqlx::Error> {
    let row: Option<CodeRow> = sqlx::query_as(
        "update authorization_codes set consumed_at = $1 where code_hash = $2 and consumed_at is null \
         returning client_id, user_id, account_id, redirect_uri, scope, nonce, code_challenge, auth_time, amr, session_id, expires_at",
    )
    .bind(now)
    .bind(code_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(CodeRow::into_grant))
}

/// For a code that was already redeemed: the grant it produced (to revoke on replay).
/// `None` if there is no such used code; `Some(None)` if it produced no grant.
pub async fn replayed<'e>(
    db: impl Executor<'e, Database = Any>,
    code_hash: &str,
) -> Result<Option<Option<GrantId>>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "select grant_id from authorization_codes where code_hash = $1 and consumed_at is not null",
    )
    .bind(code_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(grant_id,)| grant_id.as_deref().and_then(GrantId::parse)))
}

/// Records which grant a redeemed code produced.
pub async fn link_grant<'e>(
    db: impl Executor<'e, Database = Any>,
    code_hash: &str,
    grant_id: &GrantId,
) -> Result<(), sqlx::Error> {
    sqlx::query("update authorization_codes set grant_id = $1 where code_hash = $2")
        .bind(grant_id.as_str())
        .bind(code_hash)
        .execute(db)
        .await
        .map(|_| ())
}
