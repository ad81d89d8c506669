//! Persistence: one module per aggregate, portable SQL over `AnyPool` (SQLite or PostgreSQL,
//! chosen by `DATABASE_URL`; on SQLite, write transactions have a connection of their own).
//! Stores map rows to types and decide nothing; `cache` keeps what token requests read.

pub mod accounts;
pub mod api_keys;
pub mod audit_events;
pub mod authorization_codes;
pub mod billing;
pub mod browser_sessions;
pub mod cache;
mod change;
pub mod clients;
pub mod consents;
pub mod domains;
pub mod email_changes;
pub mod emails;
pub mod factors;
pub mod grants;
pub mod identities;
pub mod invitations;
pub mod liveness;
pub mod memberships;
pub mod onboarding;
pub mod outbox;
pub mod passkey_ceremonies;
pub mod rate_limits;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod revoked_tokens;
pub mod roles;
pub mod sessions;
pub mod signing_keys;
pub mod sso_connections;
pub mod user_tokens;
pub mod users;
pub mod webhooks;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

use crate::access::Link;
use crate::account::Account;
use crate::api_key::Authenticated;
use crate::ids::{AccountId, ClientId, UserId};
use crate::oauth::client::Client;
use crate::store::cache::{Cache, TokenKey};
use crate::store::liveness::{Liveness, Token};

pub use change::{Change, Recorded, Unaudited};

/// How long a SQLite writer waits for its turn: the `busy_timeout` of every connection.
const WRITE_WAIT: Duration = Duration::from_secs(5);

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run: on SQLite a pool of one connection, else `pool`.
    writer: AnyPool,
    backend: Backend,
    url: Arc<str>,
    cache: Arc<Cache>,
    /// Names this instance's listener connection in `pg_stat_activity`.
    instance: Arc<str>,
    /// Woken when a committed change queued work for them.
    outboxes: Arc<Outboxes>,
}

/// The wake-up calls of the two outboxes; each also polls, for work queued elsewhere.
#[derive(Debug, Default)]
struct Outboxes {
    webhooks: tokio::sync::Notify,
    mail: tokio::sync::Notify,
}

/// A transaction on either backend; pass `&mut *tx` to store functions.
pub type Tx = Transaction<'static, Any>;

impl Store {
    pub async fn connect(url: &str) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyConnectOptions::from_str(url)?;
        if backend == Backend::Postgres {
            // One plain connection first: a refused or misnamed server fails here at once,
            // where the pool would retry until its acquire timeout ran out.
            AnyConnection::connect_with(&options).await?.close().await?;
        }
        let pool = pool_options(backend)
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        // SQLite has one writer: write transactions take turns on one connection of their
        // own, in the order they asked, instead of polling the file lock (`busy_timeout`
        // sleeps up to 100 ms between tries) while holding connections readers need.
        let writer = match backend {
            Backend::Sqlite => {
                pool_options(backend)
                    .max_connections(1)
                    .acquire_timeout(WRITE_WAIT)
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        Ok(Store {
            pool,
            writer,
            backend,
            url: url.into(),
            // On PostgreSQL other instances change things too: the cache serves only once
            // `follow_access_changes` hears of their changes.
            cache: Arc::new(Cache::new(backend == Backend::Sqlite)),
            instance: ulid::Ulid::new().to_string().into(),
            outboxes: Arc::default(),
        })
    }

    /// Applies the migrations the database lacks; says which, by file name
    /// (`0045_user_disabled_at`), oldest first.
    pub async fn migrate(&self) -> Result<Vec<String>, MigrateError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before: HashSet<i64> = {
            let mut connection = self.pool.acquire().await?;
            connection.ensure_migrations_table().await?;
            connection
                .list_applied_migrations()
                .await?
                .into_iter()
                .map(|applied| applied.version)
                .collect()
        };
        migrator.run(&self.pool).await?;
        Ok(migrator
            .iter()
            .filter(|migration| {
                migration.migration_type.is_up_migration() && !before.contains(&migration.version)
            })
            .map(|migration| {
                format!(
                    "{:04}_{}",
                    migration.version,
                    migration.description.replace(' ', "_")
                )
            })
            .collect())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write, for [`Change`] only. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes can
    /// fail with SQLITE_BUSY when another writer got in between, without waiting.
    async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// A client by id, from memory when it was read recently and nothing changed since: the
    /// lookup behind every token request. Inside a transaction read `clients::find` instead.
    pub async fn client(&self, id: &ClientId) -> Result<Option<Client>, sqlx::Error> {
        if let Some(client) = self.cache.client(id) {
            return Ok(Some(client));
        }
        let generation = self.cache.generation();
        let client = clients::find(&self.pool, id).await?;
        if let Some(client) = &client {
            self.cache.keep_client(client, generation);
        }
        Ok(client)
    }

    /// Whether an access token still stands (`liveness::check`), from memory when it was asked
    /// recently and nothing changed since.
    pub async fn liveness(
        &self,
        token: Token<'_>,
        standing_in: Option<(&AccountId, &UserId)>,
        now: i64,
    ) -> Result<Liveness, sqlx::Error> {
        let key: TokenKey = (
            token.jti.to_owned(),
            standing_in.map(|(account_id, user_id)| (account_id.clone(), user_id.clone())),
        );
        if let Some(known) = self.cache.token(&key)
            && now < known.until
        {
            return Ok(known);
        }
        let generation = self.cache.generation();
        let liveness = liveness::check(&self.pool, token, standing_in, now).await?;
        self.cache.keep_token(key, liveness.clone(), generation);
        Ok(liveness)
    }

    /// An account's lineage with `user_id`'s roles along it (`accounts::lineage`), from memory
    /// when it was read recently and nothing changed since: what every `/v1` call decides the
    /// caller's standing from. A check that must not go stale before its write reads
    /// `accounts::lineage` inside the change that holds the account's lock instead.
    pub async fn lineage(
        &self,
        account_id: &AccountId,
        user_id: Option<&UserId>,
    ) -> Result<Arc<[Link]>, sqlx::Error> {
        let key = (account_id.clone(), user_id.cloned());
        if let Some(lineage) = self.cache.lineage(&key) {
            return Ok(lineage);
        }
        let generation = self.cache.generation();
        let lineage: Arc<[Link]> = accounts::lineage(&self.pool, account_id, user_id)
            .await?
            .into();
        self.cache.keep_lineage(key, lineage.clone(), generation);
        Ok(lineage)
    }

    /// An account as `/v1` shows it, from memory when it was read recently and nothing changed
    /// since (its own changes and its domains' verifications touch access, so they forget it).
    /// Inside a transaction read `accounts::find` instead.
    pub async fn account(&self, id: &AccountId) -> Result<Option<Arc<Account>>, sqlx::Error> {
        if let Some(account) = self.cache.account(id) {
            return Ok(Some(account));
        }
        let generation = self.cache.generation();
        let account = accounts::find(&self.pool, id).await?.map(Arc::new);
        if let Some(account) = &account {
            self.cache.keep_account(account.clone(), generation);
        }
        Ok(account)
    }

    /// The key whose token hashes to `token_hash`, if its account and every ancestor are
    /// active (`api_keys::find_by_token_hash_in_active_account`), from memory when it was
    /// found recently and nothing changed since (a revocation or roll touches access).
    /// Whether it is revoked or expired is the caller's to check (`ApiKey::is_active`).
    pub async fn api_key(
        &self,
        token_hash: &str,
    ) -> Result<Option<Arc<Authenticated>>, sqlx::Error> {
        if let Some(key) = self.cache.api_key(token_hash) {
            return Ok(Some(key));
        }
        let generation = self.cache.generation();
        let found = api_keys::find_by_token_hash_in_active_account(&self.pool, token_hash).await?;
        let Some((key, held)) = found else {
            return Ok(None);
        };
        let key = Arc::new(Authenticated::new(key, held));
        self.cache
            .keep_api_key(token_hash.to_owned(), key.clone(), generation);
        Ok(Some(key))
    }

    /// After a committed change to access (a client, an account, a membership, a revocation):
    /// this instance forgets what it held at once. Other instances hear of it through the
    /// database (`cache`). Only [`Change`] calls it.
    fn forget_cached_access(&self) {
        self.cache.clear();
    }

    /// Returns when a committed change has queued webhook deliveries since the last call.
    pub async fn webhooks_queued(&self) {
        self.outboxes.webhooks.notified().await;
    }

    /// Returns when a committed change has queued email since the last call.
    pub async fn mail_queued(&self) {
        self.outboxes.mail.notified().await;
    }

    /// Keeps the cache in step with other instances until `shutdown`; on SQLite, where there
    /// are none to hear, it returns at once.
    pub async fn follow_access_changes(&self, shutdown: tokio::sync::watch::Receiver<bool>) {
        if self.backend == Backend::Postgres {
            cache::follow_changes(&self.cache, &self.url, &self.listener_name(), shutdown).await;
        }
    }

    /// The `application_name` of this instance's PostgreSQL listener connection: how an
    /// operator (or a test) tells it apart in `pg_stat_activity`.
    pub fn listener_name(&self) -> String {
        format!("tessera-listener-{}", self.instance)
    }

    /// Whether anything is stored sealed under the key-encryption key: signing keys, webhook
    /// secrets, TOTP secrets, the secrets queued deliveries keep, or SSO connections' client
    /// secrets.
    pub async fn holds_sealed_data(&self) -> Result<bool, sqlx::Error> {
        let count: i64 = sqlx::query_scalar(
            "select count(*) from (select id from signing_keys \
             union all select account_id from webhooks \
             union all select id from factors where secret_sealed is not null \
             union all select id from webhook_deliveries where secret_encrypted is not null \
             union all select id from sso_connections) sealed",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    /// Whether the database answers: the readiness probe.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// A failure to connect to `url`, said once on one line with its likely fix.
pub fn describe_connect_error(url: &str, error: &sqlx::Error) -> String {
    let text = error.to_string();
    let hint = if url.starts_with("sqlite:") {
        let cannot_open = text.contains("unable to open database file")
            || matches!(error, sqlx::Error::Io(_))
            || text.contains("(code: 14)");
        match (cannot_open, url.contains("mode=rwc")) {
            (false, _) => None,
            (true, false) => Some(
                "the file may not exist yet: add ?mode=rwc to DATABASE_URL to create it \
                 (e.g. sqlite://tessera.db?mode=rwc), in a directory that exists",
            ),
            (true, true) => Some("check that the file's directory exists and is writable"),
        }
    } else if text.contains("does not exist") && text.contains("database") {
        Some("create the database first (e.g. createdb, or CREATE DATABASE)")
    } else if text.contains("Connection refused") || text.contains("connection refused") {
        Some("is PostgreSQL running and listening at the host and port in DATABASE_URL?")
    } else if text.contains("password authentication failed") {
        Some("check the user and password in DATABASE_URL")
    } else {
        None
    };
    let text = text.replace('\n', " ");
    match hint {
        Some(hint) => format!("cannot connect to DATABASE_URL: {text}; {hint}"),
        None => format!("cannot connect to DATABASE_URL: {text}"),
    }
}

/// Options every connection of either pool gets.
fn pool_options(backend: Backend) -> AnyPoolOptions {
    AnyPoolOptions::new()
        // A SQLite connection is a file handle in this process: pinging it before each use
        // (sqlx's default) only doubles the hand-offs to its worker thread per query.
        .test_before_acquire(backend == Backend::Postgres)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the single writer; a writer from another
                    // process waits up to 5 s instead of failing at once; foreign keys are
                    // off by default.
                    connection
                        .execute(
                            "pragma journal_mode = wal; pragma synchronous = normal; \
                             pragma busy_timeout = 5000; pragma foreign_keys = on;",
                        )
                        .await?;
                }
                Ok(())
            })
        })
}

/// Where a newest-first page starts: after the row with this `(created_at, id)`. Lists
/// order by both descending, so equal timestamps still give a stable order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub created_at: i64,
    pub id: String,
}

impl Position {
    /// Before every row: the first page.
    pub fn start() -> Position {
        Position {
            created_at: i64::MAX,
            id: String::new(),
        }
    }
}

/// Whether `error` is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// JSON text columns (`redirect_uris`, `labels` …) decode through this; a malformed value
/// written by hand reads as empty rather than failing every request.
pub(crate) fn json_or_default<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
