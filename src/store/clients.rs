//! The `clients` table. List-valued settings are JSON text columns.

use std::sync::LazyLock;

use sqlx::{Any, Executor, FromRow};

use crate::account::AccountStatus;
use crate::clock::Timestamp;
use crate::ids::{AccountId, ClientId};
use crate::oauth::client::{AccountSelection, AuthMethod, Client, ClientSettings, GrantType};
use crate::oauth::signing_alg::SigningAlg;
use crate::store::{Position, accounts, json_or_default, to_json};

#[derive(FromRow)]
struct ClientRow {
    id: String,
    account_id: String,
    name: String,
    secret_hash: Option<String>,
    token_endpoint_auth_method: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_origins: String,
    grant_types: String,
    scopes: String,
    access_token_ttl_seconds: i64,
    refresh_token_ttl_seconds: i64,
    refresh_reuse_grace_seconds: i64,
    self_registered: i64,
    first_party: i64,
    allowed_audiences: String,
    account_selection: String,
    access_token_signing_alg: Option<String>,
    id_token_signed_response_alg: Option<String>,
    created_at: i64,
    updated_at: i64,
    account_status: String,
}

impl ClientRow {
    fn into_client(self) -> Option<Client> {
        let grant_types: Vec<String> = json_or_default(&self.grant_types);
        Some(Client {
            client_id: ClientId::parse(&self.id)?,
            account_id: AccountId::parse(&self.account_id)?,
            settings: ClientSettings {
                name: self.name,
                redirect_uris: json_or_default(&self.redirect_uris),
                post_logout_redirect_uris: json_or_default(&self.post_logout_redirect_uris),
                allowed_origins: json_or_default(&self.allowed_origins),
                grant_types: grant_types
                    .iter()
                    .filter_map(|g| GrantType::parse(g))
                    .collect(),
                token_endpoint_auth_method: AuthMethod::parse(&self.token_endpoint_auth_method)?,
                scopes: json_or_default(&self.scopes),
                access_token_ttl_seconds: self.access_token_ttl_seconds,
                refresh_token_ttl_seconds: self.refresh_token_ttl_seconds,
                refresh_reuse_grace_seconds: self.refresh_reuse_grace_seconds,
                allowed_audiences: json_or_default(&self.allowed_audiences),
                account_selection: AccountSelection::parse(&self.account_selection)?,
                access_token_signing_alg: signing_alg(self.access_token_signing_alg.as_deref())?,
                id_token_signed_response_alg: signing_alg(
                    self.id_token_signed_response_alg.as_deref(),
                )?,
            },
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            secret_hash: self.secret_hash,
            self_registered: self.self_registered != 0,
            first_party: self.first_party != 0,
            account_active: AccountStatus::parse(&self.account_status)? == AccountStatus::Active,
        })
    }
}

/// A stored algorithm column: null is the server's algorithm, an unknown name no client.
fn signing_alg(stored: Option<&str>) -> Option<Option<SigningAlg>> {
    match stored {
        None => Some(None),
        Some(text) => SigningAlg::parse(text).map(Some),
    }
}

const COLUMNS: &str = "id, account_id, name, secret_hash, token_endpoint_auth_method, redirect_uris, \
                       post_logout_redirect_uris, allowed_origins, grant_types, scopes, \
                       access_token_ttl_seconds, refresh_token_ttl_seconds, \
                       refresh_reuse_grace_seconds, self_registered, first_party, \
                       allowed_audiences, account_selection, access_token_signing_alg, \
                       id_token_signed_response_alg, created_at, updated_at";

/// `COLUMNS` prefixed with the `c.` alias of the queries that join accounts.
static QUALIFIED: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = COLUMNS
        .split(',')
        .map(|column| format!("c.{}", column.trim()))
        .collect();
    columns.join(", ")
});

/// A client by id with its account's status, `suspended` too when an ancestor is (a
/// suspension covers the subtree): built once, it runs on every token request.
static FIND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {}, case when {} then 'suspended' else a.status end as account_status \
         from clients c join accounts a on a.id = c.account_id where c.id = $1",
        *QUALIFIED,
        accounts::suspended_along("c.account_id")
    )
});

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    client: &Client,
) -> Result<(), sqlx::Error> {
    let s = &client.settings;
    let grant_types: Vec<&str> = s.grant_types.iter().map(|g| g.as_str()).collect();
    sqlx::query(&format!(
        "insert into clients ({COLUMNS}) values \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    ))
    .bind(client.client_id.as_str())
    .bind(client.account_id.as_str())
    .bind(&s.name)
    .bind(client.secret_hash.as_deref())
    .bind(s.token_endpoint_auth_method.as_str())
    .bind(to_json(&s.redirect_uris))
    .bind(to_json(&s.post_logout_redirect_uris))
    .bind(to_json(&s.allowed_origins))
    .bind(to_json(&grant_types))
    .bind(to_json(&s.scopes))
    .bind(s.access_token_ttl_seconds)
    .bind(s.refresh_token_ttl_seconds)
    .bind(s.refresh_reuse_grace_seconds)
    .bind(i64::from(client.self_registered))
    .bind(i64::from(client.first_party))
    .bind(to_json(&s.allowed_audiences))
    .bind(s.account_selection.as_str())
    .bind(s.access_token_signing_alg.map(SigningAlg::as_str))
    .bind(s.id_token_signed_response_alg.map(SigningAlg::as_str))
    .bind(client.created_at.0)
    .bind(client.updated_at.0)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
) -> Result<Option<Client>, sqlx::Error> {
    let row: Option<ClientRow> = sqlx::query_as(FIND.as_str())
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(ClientRow::into_client))
}

/// A client of `account_id`; another account's client is `None`.
pub async fn find_in_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &ClientId,
) -> Result<Option<Client>, sqlx::Error> {
    Ok(find(db, id)
        .await?
        .filter(|client| &client.account_id == account_id))
}

/// An account's clients, newest first, after `after`.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    after: &Position,
    limit: i64,
) -> Result<Vec<Client>, sqlx::Error> {
    let rows: Vec<ClientRow> = sqlx::query_as(&format!(
        "select {}, a.status as account_status from clients c \
         join accounts a on a.id = c.account_id where c.account_id = $1 \
         and (c.created_at < $2 or (c.created_at = $2 and c.id < $3)) \
         order by c.created_at desc, c.id desc limit $4",
        *QUALIFIED
    ))
    .bind(account_id.as_str())
    .bind(after.created_at)
    .bind(&after.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(ClientRow::into_client)
        .collect())
}

/// Writes a client's settings and secret hash (its id, account and creation stay).
pub async fn update<'e>(
    db: impl Executor<'e, Database = Any>,
    client: &Client,
) -> Result<(), sqlx::Error> {
    let s = &client.settings;
    let grant_types: Vec<&str> = s.grant_types.iter().map(|g| g.as_str()).collect();
    sqlx::query(
        "update clients set name = $1, secret_hash = $2, token_endpoint_auth_method = $3, \
         redirect_uris = $4, post_logout_redirect_uris = $5, allowed_origins = $6, \
         grant_types = $7, scopes = $8, access_token_ttl_seconds = $9, \
         refresh_token_ttl_seconds = $10, refresh_reuse_grace_seconds = $11, updated_at = $12, \
         first_party = $13, allowed_audiences = $14, account_selection = $15, \
         access_token_signing_alg = $16, id_token_signed_response_alg = $17 where id = $18",
    )
    .bind(&s.name)
    .bind(client.secret_hash.as_deref())
    .bind(s.token_endpoint_auth_method.as_str())
    .bind(to_json(&s.redirect_uris))
    .bind(to_json(&s.post_logout_redirect_uris))
    .bind(to_json(&s.allowed_origins))
    .bind(to_json(&grant_types))
    .bind(to_json(&s.scopes))
    .bind(s.access_token_ttl_seconds)
    .bind(s.refresh_token_ttl_seconds)
    .bind(s.refresh_reuse_grace_seconds)
    .bind(client.updated_at.0)
    .bind(i64::from(client.first_party))
    .bind(to_json(&s.allowed_audiences))
    .bind(s.account_selection.as_str())
    .bind(s.access_token_signing_alg.map(SigningAlg::as_str))
    .bind(s.id_token_signed_response_alg.map(SigningAlg::as_str))
    .bind(client.client_id.as_str())
    .execute(db)
    .await
    .map(|_| ())
}

/// Replaces a client's secret hash; the previous secret stops matching at once.
pub async fn set_secret_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
    secret_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update clients set secret_hash = $1, updated_at = $2 where id = $3")
        .bind(secret_hash)
        .bind(now)
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn delete<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("delete from clients where id = $1")
        .bind(id.as_str())
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// RFC 7592: the hash of a self-registered client's registration access token.
pub async fn set_registration_token_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
    token_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update clients set registration_access_token_hash = $1 where id = $2")
        .bind(token_hash)
        .bind(id.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn registration_token_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("select registration_access_token_hash from clients where id = $1")
            .bind(id.as_str())
            .fetch_optional(db)
            .await?;
    Ok(hash.flatten())
}

/// Whether any client lists `origin` in its `allowed_origins` (CORS on endpoints that are
/// not tied to one client). JSON text columns are searched for the quoted origin.
pub async fn origin_is_allowed<'e>(
    db: impl Executor<'e, Database = Any>,
    origin: &str,
) -> Result<bool, sqlx::Error> {
    // LIKE narrows the rows (its wildcards may over-match); the exact comparison decides.
    let lists: Vec<String> =
        sqlx::query_scalar("select allowed_origins from clients where allowed_origins like $1")
            .bind(format!("%{}%", to_json(&origin)))
            .fetch_all(db)
            .await?;
    Ok(lists.iter().any(|list| {
        json_or_default::<Vec<String>>(list)
            .iter()
            .any(|allowed| allowed == origin)
    }))
}
