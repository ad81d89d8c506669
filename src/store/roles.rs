//! The `roles` table: custom roles, each defined on one account and usable there and in its
//! descendants. A role id names one role along any lineage: no account defines an id its
//! ancestors or descendants define, so resolving an id from an account is unambiguous.

use sqlx::{Any, AnyConnection, Executor, FromRow};

use crate::access::Held;
use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::permission::Permissions;
use crate::role::{Role, RoleId};
use crate::store::Position;

#[derive(FromRow)]
struct RoleRow {
    account_id: String,
    id: String,
    name: String,
    description: Option<String>,
    permissions: String,
    created_at: i64,
    updated_at: i64,
}

impl RoleRow {
    fn into_role(self) -> Option<Role> {
        Some(Role {
            id: RoleId::parse(&self.id)?,
            name: self.name,
            description: self.description,
            permissions: Permissions::from_stored(&self.permissions),
            builtin: false,
            account_id: Some(AccountId::parse(&self.account_id)?),
            created_at: Some(Timestamp(self.created_at)),
            updated_at: Some(Timestamp(self.updated_at)),
        })
    }
}

const COLUMNS: &str = "account_id, id, name, description, permissions, created_at, updated_at";

/// SQL for the ids of the account `param` names and its ancestors.
fn ancestry_of(param: &str) -> String {
    format!(
        "with recursive up (id, parent_id, depth) as ( \
           select id, parent_id, cast(0 as bigint) from accounts where id = {param} \
           union all \
           select a.id, a.parent_id, up.depth + 1 from accounts a \
           join up on a.id = up.parent_id where up.depth < 64) \
         select id from up"
    )
}

/// SQL for the ids of the account `param` names and its descendants.
fn subtree_of(param: &str) -> String {
    format!(
        "with recursive down (id, depth) as ( \
           select id, cast(0 as bigint) from accounts where id = {param} \
           union all \
           select a.id, down.depth + 1 from accounts a \
           join down on a.parent_id = down.id where down.depth < 64) \
         select id from down"
    )
}

/// SQL for the stored permissions of the custom role whose id the expression `role` gives,
/// usable in the account `account` gives (defined there or on an ancestor); NULL for a
/// built-in role.
pub(crate) fn permissions_sql(role: &str, account: &str) -> String {
    format!(
        "(select r.permissions from roles r where r.id = {role} \
          and r.account_id in ({}))",
        ancestry_of(account)
    )
}

/// A role as held, from its id and the permissions [`permissions_sql`] found (`None` for a
/// built-in role, or a custom one that no longer exists, which then allows nothing).
pub(crate) fn held(role: &str, permissions: Option<&str>) -> Option<Held> {
    let role = RoleId::parse(role)?;
    let permissions = match role.builtin() {
        Some(builtin) => builtin.permissions(),
        None => Permissions::from_stored(permissions.unwrap_or_default()),
    };
    Some(Held { role, permissions })
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    role: &Role,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "insert into roles ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $6)"
    ))
    .bind(account_id.as_str())
    .bind(role.id.as_str())
    .bind(&role.name)
    .bind(role.description.as_deref())
    .bind(role.permissions.to_stored())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// Writes a role's name, description and permissions.
pub async fn update<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    role: &Role,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update roles set name = $3, description = $4, permissions = $5, updated_at = $6 \
         where account_id = $1 and id = $2",
    )
    .bind(account_id.as_str())
    .bind(role.id.as_str())
    .bind(&role.name)
    .bind(role.description.as_deref())
    .bind(role.permissions.to_stored())
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// The custom role `id` usable in `account_id`: defined on it or an ancestor.
pub async fn find_usable<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &RoleId,
) -> Result<Option<Role>, sqlx::Error> {
    let row: Option<RoleRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from roles where id = $2 and account_id in ({})",
        ancestry_of("$1")
    ))
    .bind(account_id.as_str())
    .bind(id.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(RoleRow::into_role))
}

/// The custom roles usable in `account_id`, newest first, after `after`.
pub async fn list_usable<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Role>, sqlx::Error> {
    let rows: Vec<RoleRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from roles where account_id in ({}) \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4",
        ancestry_of("$1")
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(RoleRow::into_role).collect())
}

/// Whether `id` is defined on `account_id`, an ancestor or a descendant: taken for a new
/// role there.
pub async fn is_taken_along<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &RoleId,
) -> Result<bool, sqlx::Error> {
    let taken: i64 = sqlx::query_scalar(&format!(
        "select count(*) from roles where id = $2 \
         and (account_id in ({}) or account_id in ({}))",
        ancestry_of("$1"),
        subtree_of("$1")
    ))
    .bind(account_id.as_str())
    .bind(id.as_str())
    .fetch_one(db)
    .await?;
    Ok(taken > 0)
}

/// The role `id` as `account_id` would hand it out (to a member, an invitation or a key),
/// holding the custom role's row until the change ends, so that it cannot be deleted
/// meanwhile (PostgreSQL's row lock; SQLite's change holds the database). `None`: no such
/// role is usable there. Take the account's lock (`accounts::lock`) before it, as role
/// changes do: locks taken in one order cannot deadlock.
pub async fn hold(
    db: &mut AnyConnection,
    account_id: &AccountId,
    id: &RoleId,
) -> Result<Option<Held>, sqlx::Error> {
    if id.builtin().is_some() {
        return Ok(held(id.as_str(), None));
    }
    let permissions: Option<String> = sqlx::query_scalar(&format!(
        "update roles set updated_at = updated_at where id = $2 and account_id in ({}) \
         returning permissions",
        ancestry_of("$1")
    ))
    .bind(account_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *db)
    .await?;
    Ok(permissions.and_then(|permissions| held(id.as_str(), Some(&permissions))))
}

/// What deleting a role did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// A member, a pending invitation, a live API key or an SSO connection (as its
    /// `default_role`) in the account's subtree holds it (an expired key holds nothing:
    /// rolling keeps its expiry).
    InUse,
}

/// Deletes the custom role `id` of `account_id` unless something holds it. The row is
/// locked first and the holders counted after, in a statement of its own: an assignment
/// that locked it before ([`hold`]) has committed by then and is counted; one that comes
/// after finds no role.
pub async fn delete_unless_held(
    db: &mut AnyConnection,
    account_id: &AccountId,
    id: &RoleId,
    now: i64,
) -> Result<Deletion, sqlx::Error> {
    let locked: Option<String> = sqlx::query_scalar(
        "update roles set updated_at = updated_at where account_id = $1 and id = $2 \
         returning id",
    )
    .bind(account_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *db)
    .await?;
    if locked.is_none() {
        return Ok(Deletion::NotFound);
    }
    let subtree = subtree_of("$1");
    let holders: i64 = sqlx::query_scalar(&format!(
        "select (select count(*) from memberships where role = $2 and account_id in ({subtree})) \
              + (select count(*) from invitations where role = $2 and status = 'pending' \
                 and expires_at > $3 and account_id in ({subtree})) \
              + (select count(*) from api_keys where role = $2 and revoked_at is null \
                 and (expires_at is null or expires_at > $3) and account_id in ({subtree})) \
              + (select count(*) from sso_connections where default_role = $2 \
                 and account_id in ({subtree}))"
    ))
    .bind(account_id.as_str())
    .bind(id.as_str())
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    if holders > 0 {
        return Ok(Deletion::InUse);
    }
    sqlx::query("delete from roles where account_id = $1 and id = $2")
        .bind(account_id.as_str())
        .bind(id.as_str())
        .execute(&mut *db)
        .await?;
    Ok(Deletion::Deleted)
}
