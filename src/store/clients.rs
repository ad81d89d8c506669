//! The `clients` table. List-valued settings are JSON text columns.

use std::sync::LazyLock;

use sqlx::{Any, Executor, FromRow};

use crate::account::AccountStatus;
use crate::clock::Timestamp;
use crate::ids::{AccountId, ClientId};
use crate::oauth::client::{AuthMethod, Client, ClientSettings, GrantType};
use crate::store::{json_or_default, to_json};

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
            },
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            secret_hash: self.secret_hash,
            self_registered: self.self_registered != 0,
            account_status: AccountStatus::parse(&self.account_status)?,
        })
    }
}

const COLUMNS: &str = "id, account_id, name, secret_hash, token_endpoint_auth_method, redirect_uris, \
                       post_logout_redirect_uris, allowed_origins, grant_types, scopes, \
                       access_token_ttl_seconds, refresh_token_ttl_seconds, \
                       refresh_reuse_grace_seconds, self_registered, created_at, updated_at";

/// A client by id with its account's status: built once, it runs on every token request.
static FIND: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = COLUMNS
        .split(',')
        .map(|column| format!("c.{}", column.trim()))
        .collect();
    format!(
        "select {}, a.status as account_status from clients c join accounts a on a.id = c.account_id \
         where c.id = $1",
        columns.join(", ")
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
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
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

pub async fn exists<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &ClientId,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("select 1 from clients where id = $1")
        .bind(id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}
