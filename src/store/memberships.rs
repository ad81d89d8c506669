//! The `memberships` table: (account, user, role).

use std::sync::LazyLock;

use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::{AccountId, InvitationId, UserId};
use crate::role::RoleId;
use crate::store::Position;

/// A member of an account as the REST API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role: RoleId,
    /// The user has an active second factor (admins see who lacks one, API.md §10).
    pub mfa: bool,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct MemberRow {
    user_id: String,
    email: String,
    name: Option<String>,
    role: String,
    mfa: i64,
    created_at: i64,
}

impl MemberRow {
    fn into_member(self) -> Option<Member> {
        Some(Member {
            user_id: UserId::parse(&self.user_id)?,
            email: self.email,
            name: self.name,
            role: RoleId::parse(&self.role)?,
            mfa: self.mfa == 1,
            created_at: Timestamp(self.created_at),
        })
    }
}

/// Whether the member `m` has an active second factor, as a 0/1 column.
const HAS_MFA: &str = "cast(case when exists (select 1 from factors f \
                       where f.user_id = m.user_id and f.status = 'active') \
                       then 1 else 0 end as bigint)";

static MEMBER_COLUMNS: LazyLock<String> =
    LazyLock::new(|| format!("m.user_id, u.email, u.name, m.role, {HAS_MFA} as mfa, m.created_at"));

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
    role: &RoleId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into memberships (account_id, user_id, role, created_at, updated_at) \
         values ($1, $2, $3, $4, $4)",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// The user's role in the account, if a member: one primary-key lookup.
pub async fn role<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<RoleId>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("select role from memberships where account_id = $1 and user_id = $2")
            .bind(account_id.as_str())
            .bind(user_id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(role.as_deref().and_then(RoleId::parse))
}

/// A pending invitation as a row of the members list: only what the inviter gave, never
/// anything about a user who may own the address.
#[derive(Clone, Debug)]
pub struct Invited {
    pub invitation_id: InvitationId,
    pub email: String,
    pub role: RoleId,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// One row of an account's members list.
#[derive(Clone, Debug)]
pub enum Entry {
    Member(Member),
    Invited(Invited),
}

impl Entry {
    /// The row's place in the list: its id is a user id or an invitation id.
    pub fn position(&self) -> Position {
        match self {
            Entry::Member(member) => Position {
                created_at: member.created_at.0,
                id: member.user_id.to_string(),
            },
            Entry::Invited(invited) => Position {
                created_at: invited.created_at.0,
                id: invited.invitation_id.to_string(),
            },
        }
    }
}

#[derive(FromRow)]
struct EntryRow {
    kind: String,
    id: String,
    email: String,
    name: Option<String>,
    role: String,
    expires_at: Option<i64>,
    mfa: i64,
    created_at: i64,
}

impl EntryRow {
    fn into_entry(self) -> Option<Entry> {
        Some(match self.kind.as_str() {
            "member" => Entry::Member(Member {
                user_id: UserId::parse(&self.id)?,
                email: self.email,
                name: self.name,
                role: RoleId::parse(&self.role)?,
                mfa: self.mfa == 1,
                created_at: Timestamp(self.created_at),
            }),
            _ => Entry::Invited(Invited {
                invitation_id: InvitationId::parse(&self.id)?,
                email: self.email,
                role: RoleId::parse(&self.role)?,
                expires_at: Timestamp(self.expires_at?),
                created_at: Timestamp(self.created_at),
            }),
        })
    }
}

/// Members of an account and its pending, unexpired invitations, newest first, after
/// `after`: one order over both, so a cursor pages through them together.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
    now: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "select kind, id, email, name, role, expires_at, mfa, created_at from ( \
           select 'member' as kind, m.user_id as id, u.email as email, u.name as name, \
                  m.role as role, cast(null as bigint) as expires_at, {HAS_MFA} as mfa, \
                  m.created_at as created_at \
             from memberships m join users u on u.id = m.user_id where m.account_id = $1 \
           union all \
           select 'invited', i.id, i.email, cast(null as text), i.role, i.expires_at, \
                  cast(0 as bigint), i.created_at \
             from invitations i \
            where i.account_id = $1 and i.status = 'pending' and i.expires_at > $5 \
         ) entries \
         where created_at < $2 or (created_at = $2 and id < $3) \
         order by created_at desc, id desc limit $4",
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(EntryRow::into_entry).collect())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<Member>, sqlx::Error> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "select {} from memberships m join users u on u.id = m.user_id \
         where m.account_id = $1 and m.user_id = $2",
        *MEMBER_COLUMNS
    ))
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(MemberRow::into_member))
}

/// Sets a member's role, unless that would demote the account's last owner. Returns
/// `Some(previous role)` when written, `None` when the user is not a member. Run it in a
/// transaction that holds `accounts::lock`: the owner count and the write must not
/// interleave with another change.
pub async fn set_role(
    db: &mut AnyConnection,
    account_id: &AccountId,
    user_id: &UserId,
    role: &RoleId,
    now: i64,
) -> Result<RoleChange, sqlx::Error> {
    let updated: Option<String> = sqlx::query_scalar(
        "update memberships set role = $3, updated_at = $4 \
         where account_id = $1 and user_id = $2 \
         and (role <> 'owner' or $3 = 'owner' or \
              (select count(*) from memberships where account_id = $1 and role = 'owner') > 1) \
         returning role",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now)
    .fetch_optional(&mut *db)
    .await?;
    if updated.is_some() {
        return Ok(RoleChange::Done);
    }
    Ok(match self::role(&mut *db, account_id, user_id).await? {
        Some(_) => RoleChange::LastOwner,
        None => RoleChange::NotMember,
    })
}

/// What a guarded membership change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChange {
    Done,
    NotMember,
    /// Refused: the account would be left without an owner.
    LastOwner,
}

/// Removes a member, unless it is the account's last owner. Same locking rule as
/// [`set_role`].
pub async fn remove(
    db: &mut AnyConnection,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<RoleChange, sqlx::Error> {
    let removed: Option<String> = sqlx::query_scalar(
        "delete from memberships where account_id = $1 and user_id = $2 \
         and (role <> 'owner' or \
              (select count(*) from memberships where account_id = $1 and role = 'owner') > 1) \
         returning role",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .fetch_optional(&mut *db)
    .await?;
    if removed.is_some() {
        return Ok(RoleChange::Done);
    }
    Ok(match self::role(&mut *db, account_id, user_id).await? {
        Some(_) => RoleChange::LastOwner,
        None => RoleChange::NotMember,
    })
}

/// Inserts a membership unless the user already has one; returns whether it did.
pub async fn insert_if_absent<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
    role: &RoleId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "insert into memberships (account_id, user_id, role, created_at, updated_at) \
         values ($1, $2, $3, $4, $4) on conflict (account_id, user_id) do nothing",
    )
    .bind(account_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// The accounts a user belongs to (their audit logs show the user's logins).
pub async fn account_ids_of_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("select account_id from memberships where user_id = $1")
            .bind(user_id.as_str())
            .fetch_all(db)
            .await?;
    Ok(ids.iter().filter_map(|id| AccountId::parse(id)).collect())
}

/// The accounts where the user holds the owner role.
pub async fn owned_by<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "select account_id from memberships where user_id = $1 and role = 'owner' \
         order by account_id",
    )
    .bind(user_id.as_str())
    .fetch_all(db)
    .await?;
    Ok(ids.iter().filter_map(|id| AccountId::parse(id)).collect())
}

/// The accounts whose only owner the user is. Run it under `accounts::lock` of each account
/// from [`owned_by`], so no other owner leaves meanwhile.
pub async fn solely_owned_by<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "select m.account_id from memberships m where m.user_id = $1 and m.role = 'owner' \
         and (select count(*) from memberships o \
              where o.account_id = m.account_id and o.role = 'owner') = 1 \
         order by m.account_id",
    )
    .bind(user_id.as_str())
    .fetch_all(db)
    .await?;
    Ok(ids.iter().filter_map(|id| AccountId::parse(id)).collect())
}
