//! The `invitations` table. The secret link is stored only as `token_hash`.

use sqlx::{Any, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::{AccountId, InvitationId, UserId};
use crate::invitation::{Invitation, InvitationStatus};
use crate::role::RoleId;
use crate::store::Position;

#[derive(FromRow)]
struct InvitationRow {
    id: String,
    account_id: String,
    email: String,
    role: String,
    status: String,
    invited_by: Option<String>,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl InvitationRow {
    fn into_invitation(self) -> Option<Invitation> {
        Some(Invitation {
            id: InvitationId::parse(&self.id)?,
            account_id: AccountId::parse(&self.account_id)?,
            email: self.email,
            role: RoleId::parse(&self.role)?,
            status: InvitationStatus::parse(&self.status)?,
            invited_by: self.invited_by.as_deref().and_then(UserId::parse),
            expires_at: Timestamp(self.expires_at),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const COLUMNS: &str =
    "id, account_id, email, role, status, invited_by, expires_at, created_at, updated_at";

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    invitation: &Invitation,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into invitations ({COLUMNS}, token_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(invitation.id.as_str())
    .bind(invitation.account_id.as_str())
    .bind(&invitation.email)
    .bind(invitation.role.as_str())
    .bind(invitation.status.as_str())
    .bind(invitation.invited_by.as_ref().map(UserId::as_str))
    .bind(invitation.expires_at.0)
    .bind(invitation.created_at.0)
    .bind(invitation.updated_at.0)
    .bind(token_hash)
    .execute(db)
    .await
    .map(|_| ())
}

/// An account's invitations in every status, newest first, after `after`.
pub async fn list_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Invitation>, sqlx::Error> {
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from invitations where account_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4"
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(InvitationRow::into_invitation)
        .collect())
}

/// Pending, unexpired invitations addressed to `email` (any case), newest first, with the
/// name of the account each is for.
pub async fn pending_for_email<'e>(
    db: impl Executor<'e, Database = Any>,
    email: &str,
    now: i64,
    after: &Position,
    limit: i64,
) -> Result<Vec<(Invitation, String)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        invitation: InvitationRow,
        account_name: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select i.id, i.account_id, i.email, i.role, i.status, i.invited_by, i.expires_at, \
         i.created_at, i.updated_at, a.name as account_name \
         from invitations i join accounts a on a.id = i.account_id \
         where lower(i.email) = lower($1) and i.status = 'pending' and i.expires_at > $2 \
         and (i.created_at < $3 or (i.created_at = $3 and i.id < $4)) \
         order by i.created_at desc, i.id desc limit $5",
    )
    .bind(email)
    .bind(now)
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.invitation.into_invitation()?, row.account_name)))
        .collect())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &InvitationId,
) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from invitations where id = $1 and account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(InvitationRow::into_invitation))
}

pub async fn find_by_token_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from invitations where token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(InvitationRow::into_invitation))
}

/// Moves a pending, unexpired invitation to `status` in one conditional UPDATE, so that of
/// two concurrent answers exactly one wins. Returns the invitation when this call won.
pub async fn answer<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    status: InvitationStatus,
    now: i64,
) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "update invitations set status = $2, updated_at = $3 \
         where token_hash = $1 and status = 'pending' and expires_at > $3 \
         returning {COLUMNS}"
    ))
    .bind(token_hash)
    .bind(status.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(InvitationRow::into_invitation))
}

/// Revokes a pending invitation of the account; returns whether one was revoked.
pub async fn revoke<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &InvitationId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update invitations set status = 'revoked', updated_at = $3 \
         where id = $1 and account_id = $2 and status = 'pending'",
    )
    .bind(id.as_str())
    .bind(account_id.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Revokes the account's pending invitations to `email` (any case), expired ones included:
/// the ones a new invitation replaces. Returns them as they were before.
pub async fn revoke_pending_for_email<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    email: &str,
    now: i64,
) -> Result<Vec<Invitation>, sqlx::Error> {
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "update invitations set status = 'revoked', updated_at = $3 \
         where account_id = $1 and lower(email) = lower($2) and status = 'pending' \
         returning {COLUMNS}"
    ))
    .bind(account_id.as_str())
    .bind(email)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(InvitationRow::into_invitation)
        .collect())
}
