//! What every token request and `/v1` call reads, held in memory: clients by id, whether an
//! access token still stands (with the user's standing where an exchange asks), an account's
//! lineage as a caller's standing is decided from, accounts as `/v1` shows them, and API keys
//! by their token's hash. All of it
//! depends on rows that change rarely: clients, accounts (and their verified domains),
//! memberships, roles, API keys, revocations. Any such change forgets
//! everything: at once on the instance that made it (`Store::access_changed` after commit),
//! through PostgreSQL `NOTIFY` (fired by the triggers of migration 0021) on every other
//! instance, and after `TTL` at the latest otherwise.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

use crate::access::Link;
use crate::account::Account;
use crate::api_key::Authenticated;
use crate::ids::{AccountId, ClientId, UserId};
use crate::oauth::client::Client;
use crate::store::liveness::Liveness;

/// The channel the PostgreSQL triggers of migration 0021 notify.
pub const CHANNEL: &str = "tessera_access_changed";

/// How long an entry serves without a word from the database: the bound for a second process
/// on one SQLite file, which hears of no change.
pub const TTL: Duration = Duration::from_secs(10);

/// Entries per map; past it a map starts over, so growth has a bound.
const CAPACITY: usize = 50_000;

/// A token by `jti`, and the account and user whose membership was asked about with it.
pub type TokenKey = (String, Option<(AccountId, UserId)>);

/// An account's lineage, with the roles of one user (or of none) along it.
pub type LineageKey = (AccountId, Option<UserId>);

#[derive(Debug)]
pub struct Cache {
    clients: Map<ClientId, Client>,
    tokens: Map<TokenKey, Liveness>,
    lineages: Map<LineageKey, Arc<[Link]>>,
    accounts: Map<AccountId, Arc<Account>>,
    /// Active keys of active accounts, by their token's hash.
    api_keys: Map<String, Arc<Authenticated>>,
    /// Bumped by every change, before the maps are emptied: a row read at an older generation
    /// may predate the change, and is not kept.
    generation: AtomicU64,
    /// Off on PostgreSQL while no listener hears the triggers: changes could be missed.
    serving: AtomicBool,
}

impl Cache {
    /// `serving`: whether entries may serve from the start (SQLite), or only once a listener
    /// follows the changes (PostgreSQL).
    pub fn new(serving: bool) -> Cache {
        Cache {
            clients: Map::default(),
            tokens: Map::default(),
            lineages: Map::default(),
            accounts: Map::default(),
            api_keys: Map::default(),
            generation: AtomicU64::new(0),
            serving: AtomicBool::new(serving),
        }
    }

    /// The generation to pass to `keep_*` for what is read from the database from now on.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn client(&self, id: &ClientId) -> Option<Client> {
        self.clients.get(id).filter(|_| self.is_serving())
    }

    pub fn keep_client(&self, client: &Client, generation: u64) {
        let key = client.client_id.clone();
        self.clients
            .insert(key, client.clone(), generation, &self.generation);
    }

    pub fn token(&self, key: &TokenKey) -> Option<Liveness> {
        self.tokens.get(key).filter(|_| self.is_serving())
    }

    pub fn keep_token(&self, key: TokenKey, liveness: Liveness, generation: u64) {
        self.tokens
            .insert(key, liveness, generation, &self.generation);
    }

    pub fn lineage(&self, key: &LineageKey) -> Option<Arc<[Link]>> {
        self.lineages.get(key).filter(|_| self.is_serving())
    }

    pub fn keep_lineage(&self, key: LineageKey, lineage: Arc<[Link]>, generation: u64) {
        self.lineages
            .insert(key, lineage, generation, &self.generation);
    }

    pub fn account(&self, id: &AccountId) -> Option<Arc<Account>> {
        self.accounts.get(id).filter(|_| self.is_serving())
    }

    pub fn keep_account(&self, account: Arc<Account>, generation: u64) {
        let key = account.id.clone();
        self.accounts
            .insert(key, account, generation, &self.generation);
    }

    pub fn api_key(&self, token_hash: &str) -> Option<Arc<Authenticated>> {
        self.api_keys.get(token_hash).filter(|_| self.is_serving())
    }

    pub fn keep_api_key(&self, token_hash: String, key: Arc<Authenticated>, generation: u64) {
        self.api_keys
            .insert(token_hash, key, generation, &self.generation);
    }

    /// Forgets everything: something changed.
    pub fn clear(&self) {
        // Bump first: a reader that loaded before the change can no longer keep its rows.
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.clients.clear();
        self.tokens.clear();
        self.lineages.clear();
        self.accounts.clear();
        self.api_keys.clear();
    }

    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    fn serve(&self, serving: bool) {
        self.clear();
        self.serving.store(serving, Ordering::Release);
    }
}

#[derive(Debug)]
struct Map<K, V> {
    entries: RwLock<HashMap<K, Entry<V>>>,
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Map {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    loaded_at: Instant,
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        (entry.loaded_at.elapsed() < TTL).then(|| entry.value.clone())
    }

    /// Keeps `value`, read when the cache was at `generation`. A change since then (`current`
    /// moved on: `clear` bumps it before taking this lock) means it may be stale: dropped.
    fn insert(&self, key: K, value: V, generation: u64, current: &AtomicU64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if generation != current.load(Ordering::Acquire) {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let loaded_at = Instant::now();
        entries.insert(key, Entry { value, loaded_at });
    }

    fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Follows the PostgreSQL triggers' notifications until `shutdown`: the cache serves only
/// while a listener is connected (from the moment its connection is known lost until it is
/// subscribed again, every answer comes from the database), and starts empty after every
/// (re)connection, because notifications sent meanwhile are lost. `application_name` names
/// the connection in `pg_stat_activity`.
pub async fn follow_changes(
    cache: &Cache,
    database_url: &str,
    application_name: &str,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        cache.serve(false);
        let listening = async {
            let options =
                PgConnectOptions::from_str(database_url)?.application_name(application_name);
            // A pool of one, as `PgListener::connect` makes, with the connection named.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with(options)
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let retry = match listening.await {
            Ok(mut listener) => {
                // Told of a lost connection at once, not after sqlx has reconnected (which can
                // take as long as the database takes to answer).
                listener.eager_reconnect(false);
                cache.serve(true);
                let retry = loop {
                    tokio::select! {
                        notification = listener.try_recv() => match notification {
                            Ok(Some(_)) => cache.clear(),
                            // The connection dropped (`None`) or failed: start over.
                            Ok(None) => {
                                tracing::warn!("access change listener lost its connection");
                                break Duration::ZERO;
                            }
                            Err(error) => {
                                tracing::warn!(%error, "access change listener failed");
                                break Duration::from_secs(1);
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                };
                // Changes go unheard from now until the next subscription: stop serving now,
                // not after the wait.
                cache.serve(false);
                retry
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for access changes; reading from the database");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::sample;

    #[test]
    fn a_row_read_before_a_change_is_not_kept() {
        let cache = Cache::new(true);
        let client = sample(false);
        let before = cache.generation();
        cache.clear();
        cache.keep_client(&client, before);
        assert!(cache.client(&client.client_id).is_none());
        cache.keep_client(&client, cache.generation());
        assert_eq!(
            cache.client(&client.client_id).map(|c| c.client_id),
            Some(client.client_id)
        );
    }

    #[test]
    fn a_change_forgets_tokens_too() {
        let cache = Cache::new(true);
        let key: TokenKey = ("01JD5Q80A7B3C5D9E2F4G6H8J0".into(), None);
        let live = Liveness {
            live: true,
            standing: None,
            until: i64::MAX,
        };
        cache.keep_token(key.clone(), live, cache.generation());
        assert!(cache.token(&key).is_some());
        cache.clear();
        assert!(cache.token(&key).is_none());
    }

    #[test]
    fn a_change_forgets_lineages_and_accounts_and_a_stale_read_is_not_kept() {
        let cache = Cache::new(true);
        let account = Arc::new(Account::new("Acme".into(), None, 0));
        let key: LineageKey = (account.id.clone(), None);
        let lineage: Arc<[Link]> = Arc::from(Vec::new());
        let before = cache.generation();
        cache.keep_lineage(key.clone(), lineage.clone(), before);
        cache.keep_account(account.clone(), before);
        assert!(cache.lineage(&key).is_some());
        assert!(cache.account(&account.id).is_some());
        cache.clear();
        assert!(cache.lineage(&key).is_none());
        assert!(cache.account(&account.id).is_none());
        cache.keep_lineage(key.clone(), lineage, before);
        cache.keep_account(account.clone(), before);
        assert!(cache.lineage(&key).is_none(), "read before the change");
        assert!(
            cache.account(&account.id).is_none(),
            "read before the change"
        );
    }

    #[test]
    fn a_cache_that_is_not_serving_serves_nothing() {
        let cache = Cache::new(false);
        let client = sample(false);
        cache.keep_client(&client, cache.generation());
        assert!(cache.client(&client.client_id).is_none());
    }
}
