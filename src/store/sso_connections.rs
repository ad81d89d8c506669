//! The `sso_connections` table (accounts' upstream OpenID Connect providers, client secrets
//! sealed) and `sso_connection_domains`, whose unique index routes a domain to one connection
//! at most.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor, FromRow};

use crate::clock::Timestamp;
use crate::ids::{AccountId, SsoConnectionId};
use crate::role::RoleId;
use crate::sso_connection::SsoConnection;
use crate::store::Position;

#[derive(FromRow)]
struct ConnectionRow {
    id: String,
    account_id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret_sealed: String,
    default_role: String,
    jit: i64,
    enforce: i64,
    created_at: i64,
    updated_at: i64,
    /// Space-separated, sorted.
    domains: Option<String>,
}

impl ConnectionRow {
    fn into_connection(self) -> Option<SsoConnection> {
        Some(SsoConnection {
            id: SsoConnectionId::parse(&self.id)?,
            account_id: AccountId::parse(&self.account_id)?,
            name: self.name,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret_sealed: self.client_secret_sealed,
            domains: self
                .domains
                .map(|names| names.split(' ').map(str::to_owned).collect())
                .unwrap_or_default(),
            default_role: RoleId::parse(&self.default_role)?,
            jit: self.jit != 0,
            enforce: self.enforce != 0,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

/// The columns of a connection `c`, its domains aggregated.
const SELECT: &str = "select c.id, c.account_id, c.name, c.issuer, c.client_id, \
     c.client_secret_sealed, c.default_role, c.jit, c.enforce, c.created_at, c.updated_at, \
     (select string_agg(d.domain, ' ' order by d.domain) from sso_connection_domains d \
      where d.connection_id = c.id) as domains \
     from sso_connections c";

/// Inserts a connection and its domains; a unique violation when a domain is another
/// connection's.
pub async fn insert(db: &mut AnyConnection, connection: &SsoConnection) -> Result<(), sqlx::Error> {
    bind_all(
        sqlx::query(
            "insert into sso_connections (id, account_id, name, issuer, client_id, \
             client_secret_sealed, default_role, jit, enforce, updated_at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        ),
        connection,
    )
    .bind(connection.created_at.0)
    .execute(&mut *db)
    .await?;
    insert_domains(db, connection).await
}

/// Writes a connection's changed settings and replaces its domains; a unique violation when a
/// domain is another connection's.
pub async fn update(db: &mut AnyConnection, connection: &SsoConnection) -> Result<(), sqlx::Error> {
    bind_all(
        sqlx::query(
            "update sso_connections set name = $3, issuer = $4, client_id = $5, \
             client_secret_sealed = $6, default_role = $7, jit = $8, enforce = $9, \
             updated_at = $10 where id = $1 and account_id = $2",
        ),
        connection,
    )
    .execute(&mut *db)
    .await?;
    sqlx::query("delete from sso_connection_domains where connection_id = $1")
        .bind(connection.id.as_str())
        .execute(&mut *db)
        .await?;
    insert_domains(db, connection).await
}

/// Binds `$1` to `$10`: id, account, the settings, the sealed secret and `updated_at`.
fn bind_all<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    connection: &'q SsoConnection,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(connection.id.as_str())
        .bind(connection.account_id.as_str())
        .bind(connection.name.as_str())
        .bind(connection.issuer.as_str())
        .bind(connection.client_id.as_str())
        .bind(connection.client_secret_sealed.as_str())
        .bind(connection.default_role.as_str())
        .bind(i64::from(connection.jit))
        .bind(i64::from(connection.enforce))
        .bind(connection.updated_at.0)
}

async fn insert_domains(
    db: &mut AnyConnection,
    connection: &SsoConnection,
) -> Result<(), sqlx::Error> {
    for domain in &connection.domains {
        sqlx::query("insert into sso_connection_domains (connection_id, domain) values ($1, $2)")
            .bind(connection.id.as_str())
            .bind(domain)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// A connection of the account.
pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &SsoConnectionId,
) -> Result<Option<SsoConnection>, sqlx::Error> {
    let row: Option<ConnectionRow> =
        sqlx::query_as(&format!("{SELECT} where c.id = $1 and c.account_id = $2"))
            .bind(id.as_str())
            .bind(account_id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(ConnectionRow::into_connection))
}

/// A connection by its id alone, with its sealed secret: for the relying party, whose
/// callback (`/login/sso/{id}/callback`) names the connection and no account.
pub async fn find_by_id<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &SsoConnectionId,
) -> Result<Option<SsoConnection>, sqlx::Error> {
    let row: Option<ConnectionRow> = sqlx::query_as(&format!("{SELECT} where c.id = $1"))
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(ConnectionRow::into_connection))
}

/// The connection that lists `domain` (canonical: lower case, IDNA), with its account: where
/// an email address on that domain signs in. One index probe; at most one connection lists a
/// domain.
pub async fn find_by_domain<'e>(
    db: impl Executor<'e, Database = Any>,
    domain: &str,
) -> Result<Option<SsoConnection>, sqlx::Error> {
    let row: Option<ConnectionRow> = sqlx::query_as(&format!(
        "{SELECT} where c.id = (select connection_id from sso_connection_domains \
         where domain = $1)"
    ))
    .bind(domain)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(ConnectionRow::into_connection))
}

/// The account's connections, newest first, after `after`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<SsoConnection>, sqlx::Error> {
    let rows: Vec<ConnectionRow> = sqlx::query_as(&format!(
        "{SELECT} where c.account_id = $1 \
         and (c.created_at < $2 or (c.created_at = $2 and c.id < $3)) \
         order by c.created_at desc, c.id desc limit $4"
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(ConnectionRow::into_connection)
        .collect())
}

/// The id and name of the connection that lists `domain`, if one does.
pub async fn listing<'e>(
    db: impl Executor<'e, Database = Any>,
    domain: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select c.id, c.name from sso_connection_domains d \
         join sso_connections c on c.id = d.connection_id where d.domain = $1",
    )
    .bind(domain)
    .fetch_optional(db)
    .await
}

/// Deletes a connection of the account (its domains with it); false when there was none.
pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &SsoConnectionId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from sso_connections where id = $1 and account_id = $2")
        .bind(id.as_str())
        .bind(account_id.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
