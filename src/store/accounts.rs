//! The `accounts` table.

use std::sync::LazyLock;

use sqlx::{Any, Executor, FromRow};

use crate::access::{self, Link, Reach};
use crate::account::{
    AUTO_JOIN_OFF, Account, AccountSettings, AccountStatus, AccountType, parse_auto_join,
};
use crate::clock::Timestamp;
use crate::ids::{AccountId, UserId};
use crate::role::{Builtin, RoleId};
use crate::store::{Backend, Change, Position, domains, json_or_default, roles, to_json};

#[derive(FromRow)]
struct AccountRow {
    id: String,
    parent_id: Option<String>,
    name: String,
    status: String,
    avatar_url: Option<String>,
    billing_email: Option<String>,
    labels: String,
    external_id: Option<String>,
    require_mfa: i64,
    domain_auto_join: String,
    #[sqlx(rename = "type")]
    kind: String,
    description: Option<String>,
    domain: Option<String>,
    abuse_contact_email: Option<String>,
    profile: String,
    created_at: i64,
    updated_at: i64,
    email_domains: Option<String>,
}

impl AccountRow {
    fn into_account(self) -> Option<Account> {
        Some(Account {
            id: AccountId::parse(&self.id)?,
            name: self.name,
            kind: AccountType::parse(&self.kind)?,
            description: self.description,
            domain: self.domain,
            profile: json_or_default(&self.profile),
            parent_id: self.parent_id.as_deref().and_then(AccountId::parse),
            status: AccountStatus::parse(&self.status)?,
            avatar_url: self.avatar_url,
            billing_email: self.billing_email,
            labels: json_or_default(&self.labels),
            external_id: self.external_id,
            settings: AccountSettings {
                abuse_contact_email: self.abuse_contact_email,
                require_mfa: self.require_mfa == 1,
                domain_auto_join: parse_auto_join(&self.domain_auto_join).flatten(),
            },
            email_domains: self
                .email_domains
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

/// The stored columns of [`AccountRow`].
const ROW_COLUMNS: [&str; 17] = [
    "id",
    "parent_id",
    "name",
    "status",
    "avatar_url",
    "billing_email",
    "labels",
    "external_id",
    "require_mfa",
    "domain_auto_join",
    "type",
    "description",
    "domain",
    "abuse_contact_email",
    "profile",
    "created_at",
    "updated_at",
];

/// [`ROW_COLUMNS`] of the table aliased `alias` (`a.`, or `` for none) and its
/// `email_domains`, the table's id being `id_expression`.
fn columns_of(alias: &str, id_expression: &str) -> String {
    let stored: Vec<String> = ROW_COLUMNS
        .iter()
        .map(|column| format!("{alias}{column}"))
        .collect();
    format!(
        "{}, {} as email_domains",
        stored.join(", "),
        domains::verified_names_sql(id_expression)
    )
}

/// The columns of [`AccountRow`], from `accounts` (unaliased).
static COLUMNS: LazyLock<String> = LazyLock::new(|| columns_of("", "accounts.id"));

/// The columns an account's own fields are written to, in the order [`bind_fields`] binds
/// them (from `$3` on: `$1` is the id and `$2` `updated_at`).
const FIELD_COLUMNS: [&str; 13] = [
    "name",
    "status",
    "avatar_url",
    "billing_email",
    "labels",
    "external_id",
    "require_mfa",
    "domain_auto_join",
    "type",
    "description",
    "domain",
    "abuse_contact_email",
    "profile",
];

/// Binds the id, `updated_at` and [`FIELD_COLUMNS`]: what inserting and updating both write.
fn bind_fields<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    account: &'q Account,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(account.id.as_str())
        .bind(account.updated_at.0)
        .bind(&account.name)
        .bind(account.status.as_str())
        .bind(account.avatar_url.as_deref())
        .bind(account.billing_email.as_deref())
        .bind(to_json(&account.labels))
        .bind(account.external_id.as_deref())
        .bind(i64::from(account.settings.require_mfa))
        .bind(auto_join_text(account))
        .bind(account.kind.as_str())
        .bind(account.description.as_deref())
        .bind(account.domain.as_deref())
        .bind(account.settings.abuse_contact_email.as_deref())
        .bind(to_json(&account.profile))
}

/// `$3, $4, …` for [`FIELD_COLUMNS`].
fn field_placeholders() -> impl Iterator<Item = String> {
    (3..3 + FIELD_COLUMNS.len()).map(|n| format!("${n}"))
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<(), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "insert into accounts (id, updated_at, {}, parent_id, created_at) \
             values ($1, $2, {}, ${}, ${})",
            FIELD_COLUMNS.join(", "),
            field_placeholders().collect::<Vec<_>>().join(", "),
            3 + FIELD_COLUMNS.len(),
            4 + FIELD_COLUMNS.len(),
        )
    });
    bind_fields(sqlx::query(&SQL), account)
        .bind(account.parent_id.as_ref().map(AccountId::as_str))
        .bind(account.created_at.0)
        .execute(db)
        .await
        .map(|_| ())
}

fn auto_join_text(account: &Account) -> &str {
    account
        .settings
        .domain_auto_join
        .as_ref()
        .map_or(AUTO_JOIN_OFF, RoleId::as_str)
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<AccountRow> =
        sqlx::query_as(&format!("select {} from accounts where id = $1", *COLUMNS))
            .bind(id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(AccountRow::into_account))
}

/// Takes the row lock of an account for the rest of `change`, so that a check-then-write on its
/// memberships or children (who is the last owner, are there children) cannot interleave
/// with another. SQLite needs no row lock: a change already holds the database's write
/// lock. Returns whether the account exists.
pub async fn lock(change: &mut Change<'_>, id: &AccountId) -> Result<bool, sqlx::Error> {
    let sql = match change.backend() {
        Backend::Sqlite => "select 1 from accounts where id = $1",
        Backend::Postgres => "select 1 from accounts where id = $1 for update",
    };
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(id.as_str())
        .fetch_optional(&mut **change)
        .await?;
    Ok(found.is_some())
}

/// The account and its ancestors, nearest first: whether each is active and requires a
/// second factor, and the role `user_id` holds on it with that role's permissions (none for
/// no user): what `access::standing` decides from. Empty when the account does not exist.
pub async fn lineage<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
    user_id: Option<&UserId>,
) -> Result<Vec<Link>, sqlx::Error> {
    // A move checks under the tree's locks that the new parent is no descendant
    // (`manage::accounts::move_to`), so the chain has no cycles; the depth bound only guards
    // against a hand-edited database. Role ids are unique along a lineage, so a
    // custom role is the one of that id defined anywhere on the chain.
    type Row = (String, String, i64, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "with recursive chain (id, parent_id, status, require_mfa, depth) as ( \
           select id, parent_id, status, require_mfa, cast(0 as bigint) from accounts \
           where id = $1 \
           union all \
           select a.id, a.parent_id, a.status, a.require_mfa, c.depth + 1 from accounts a \
           join chain c on a.id = c.parent_id where c.depth < 64) \
         select c.id, c.status, c.require_mfa, m.role, \
                (select r.permissions from roles r \
                  where r.id = m.role and r.account_id in (select id from chain)) \
         from chain c \
         left join memberships m on m.account_id = c.id and m.user_id = $2 \
         order by c.depth",
    )
    .bind(id.as_str())
    .bind(user_id.map_or("", UserId::as_str))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, status, require_mfa, role, permissions)| {
            Some(Link {
                account_id: AccountId::parse(&id)?,
                active: status == AccountStatus::Active.as_str(),
                requires_mfa: require_mfa == 1,
                held: role.and_then(|role| roles::held(&role, permissions.as_deref())),
            })
        })
        .collect())
}

/// SQL that holds when the account whose id `param` names, or one of its ancestors, is not
/// active: a suspension covers the subtree. An expression, so token checks stay one statement;
/// an unknown account holds nothing here (other conditions catch it).
pub(crate) fn suspended_along(param: &str) -> String {
    along(param, "status <> 'active'")
}

/// SQL that holds when the user `user` names holds a role on the account `account` names,
/// or a role on an ancestor that reaches descendants (`Builtin::reaches_descendants`): the
/// relation an account token of that user stands on.
pub(crate) fn holds_a_role_along(account: &str, user: &str) -> String {
    let reaching = Builtin::ALL
        .into_iter()
        .filter(|role| role.reaches_descendants())
        .map(|role| format!("'{}'", role.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "exists (with recursive up (id, parent_id, depth) as ( \
           select id, parent_id, cast(0 as bigint) from accounts where id = {account} \
           union all \
           select a.id, a.parent_id, up.depth + 1 from accounts a \
           join up on a.id = up.parent_id where up.depth < 64) \
         select 1 from up join memberships m on m.account_id = up.id \
         where m.user_id = {user} and (up.depth = 0 or m.role in ({reaching})))"
    )
}

/// An SQL condition: some account from `param` up its ancestors (at most 64) meets
/// `condition`, a predicate on the `accounts` row.
fn along(param: &str, condition: &str) -> String {
    format!(
        "exists (with recursive up (id, parent_id, depth) as ( \
           select id, parent_id, cast(0 as bigint) from accounts where id = {param} \
           union all \
           select a.id, a.parent_id, up.depth + 1 from accounts a \
           join up on a.id = up.parent_id where up.depth < 64) \
         select 1 from up join accounts a on a.id = up.id where a.{condition})"
    )
}

/// The account and its ancestors, nearest first, with no membership roles: the lineage an
/// API key's role is laid on.
pub async fn ancestry<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(
        "with recursive chain (id, parent_id, depth) as ( \
           select id, parent_id, cast(0 as bigint) from accounts where id = $1 \
           union all \
           select a.id, a.parent_id, c.depth + 1 from accounts a \
           join chain c on a.id = c.parent_id where c.depth < 64) \
         select id from chain order by depth",
    )
    .bind(id.as_str())
    .fetch_all(db)
    .await?;
    Ok(rows.iter().filter_map(|id| AccountId::parse(id)).collect())
}

/// The direct children of an account, newest first, after `after`.
pub async fn children<'e>(
    db: impl Executor<'e, Database = Any>,
    parent_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Account>, sqlx::Error> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!(
        "select {} from accounts where parent_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) \
         order by created_at desc, id desc limit $4",
        *COLUMNS
    ))
    .bind(parent_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(AccountRow::into_account)
        .collect())
}

/// Every descendant of an account (children, grandchildren …), the account excluded.
pub async fn descendants<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "with recursive tree (id, depth) as ( \
           select id, cast(1 as bigint) from accounts where parent_id = $1 \
           union all \
           select a.id, t.depth + 1 from accounts a join tree t on a.parent_id = t.id \
           where t.depth < 64) \
         select id from tree",
    )
    .bind(id.as_str())
    .fetch_all(db)
    .await?;
    Ok(ids.iter().filter_map(|id| AccountId::parse(id)).collect())
}

/// Writes the mutable fields of an account.
pub async fn update<'e>(
    db: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<(), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let assignments: Vec<String> = FIELD_COLUMNS
            .iter()
            .zip(field_placeholders())
            .map(|(column, placeholder)| format!("{column} = {placeholder}"))
            .collect();
        format!(
            "update accounts set updated_at = $2, {} where id = $1",
            assignments.join(", ")
        )
    });
    bind_fields(sqlx::query(&SQL), account)
        .execute(db)
        .await
        .map(|_| ())
}

/// Hangs an account under another parent (`None`: makes it a root). The caller holds the
/// locks of the account, its old and its new parent and has checked that no cycle comes of it.
pub async fn set_parent<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
    parent_id: Option<&AccountId>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update accounts set parent_id = $2, updated_at = $3 where id = $1")
        .bind(id.as_str())
        .bind(parent_id.map(AccountId::as_str))
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// Deletes an account; the foreign keys' cascades take its descendants, memberships,
/// invitations, clients, grants, API keys and webhook with it.
pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &AccountId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("delete from accounts where id = $1")
        .bind(id.as_str())
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The accounts a user belongs to with the role there, newest membership first, after
/// `after` (whose id is an account id); with `within`, only that account and its
/// descendants. The position of each is `(membership created_at, account id)`.
pub async fn of_user<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
    within: Option<&AccountId>,
    after: &Position,
    limit: i64,
) -> Result<Vec<(Account, RoleId, Position)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: AccountRow,
        member_role: String,
        member_since: i64,
    }
    let (subtree, in_subtree) = if within.is_some() {
        (
            "with recursive subtree (id, depth) as ( \
               select id, cast(0 as bigint) from accounts where id = $5 \
               union all \
               select a.id, t.depth + 1 from accounts a join subtree t on a.parent_id = t.id \
               where t.depth < 64) ",
            "and m.account_id in (select id from subtree) ",
        )
    } else {
        ("", "")
    };
    let columns = columns_of("a.", "a.id");
    let sql = format!(
        "{subtree}select {columns}, m.role as member_role, m.created_at as member_since \
         from memberships m join accounts a on a.id = m.account_id \
         where m.user_id = $1 {in_subtree}\
         and (m.created_at < $2 or (m.created_at = $2 and m.account_id < $3)) \
         order by m.created_at desc, m.account_id desc limit $4"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(user_id.as_str())
        .bind(after.created_at)
        .bind(&after.id)
        .bind(limit);
    if let Some(within) = within {
        query = query.bind(within.as_str());
    }
    let rows: Vec<Row> = query.fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let role = RoleId::parse(&row.member_role)?;
            let account = row.account.into_account()?;
            let position = Position {
                created_at: row.member_since,
                id: account.id.to_string(),
            };
            Some((account, role, position))
        })
        .collect())
}

/// An account a user may pick at sign-in (API.md §11): one they are a direct member of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selectable {
    pub id: AccountId,
    pub name: String,
    /// The role the user acts with there (`access::standing`): its own, or `admin` passed
    /// down from an ancestor it owns or administers.
    pub role: RoleId,
    /// The names of its ancestors, root first.
    pub ancestors: Vec<String>,
}

/// The accounts `user_id` is a direct member of whose account and ancestors are all active (a
/// suspended account issues no account tokens), each with its ancestors' names; ordered by id.
pub async fn selectable_by<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &UserId,
) -> Result<Vec<Selectable>, sqlx::Error> {
    static QUERY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with recursive up (start_id, id, parent_id, depth) as ( \
               select a.id, a.id, a.parent_id, cast(0 as bigint) from memberships m \
               join accounts a on a.id = m.account_id \
               where m.user_id = $1 and not {} \
               union all \
               select up.start_id, a.id, a.parent_id, up.depth + 1 from accounts a \
               join up on a.id = up.parent_id where up.depth < 64) \
             select up.start_id, up.id, a.name, held.role, {} as permissions, up.depth from up \
             join accounts a on a.id = up.id \
             left join memberships held on held.account_id = up.id and held.user_id = $1 \
             order by up.start_id, up.depth desc",
            suspended_along("m.account_id"),
            roles::permissions_sql("held.role", "held.account_id"),
        )
    });
    type Row = (String, String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(&QUERY)
        .bind(user_id.as_str())
        .fetch_all(db)
        .await?;
    // Each account's rows come together: its ancestors root first, then its own (depth 0).
    let mut accounts = Vec::new();
    let mut lineage = Vec::new();
    let mut ancestors = Vec::new();
    for (start_id, id, name, role, permissions, depth) in rows {
        let Some(account_id) = AccountId::parse(&id) else {
            continue;
        };
        lineage.push(Link {
            account_id,
            active: true,
            requires_mfa: false,
            held: role.and_then(|role| roles::held(&role, permissions.as_deref())),
        });
        if depth > 0 {
            ancestors.push(name);
            continue;
        }
        let ancestors = std::mem::take(&mut ancestors);
        let mut lineage = std::mem::take(&mut lineage);
        lineage.reverse();
        let standing = access::standing(&lineage, &Reach::default());
        if let Some((id, standing)) = AccountId::parse(&start_id).zip(standing) {
            accounts.push(Selectable {
                id,
                name,
                role: standing.role,
                ancestors,
            });
        }
    }
    Ok(accounts)
}

/// Accounts matching `filter` (a condition from `search::to_sql` whose placeholders start at
/// `$4`), newest first, after `after`: the superadmin's search.
pub async fn search<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: Option<&crate::search::Condition>,
    after: &Position,
    limit: i64,
) -> Result<Vec<Account>, sqlx::Error> {
    let condition = filter.map_or("1 = 1", |filter| filter.sql.as_str());
    let sql = format!(
        "select {} from accounts \
         where (created_at < $1 or (created_at = $1 and id < $2)) and {condition} \
         order by created_at desc, id desc limit $3",
        *COLUMNS
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
    let rows: Vec<AccountRow> = query.fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(AccountRow::into_account)
        .collect())
}
