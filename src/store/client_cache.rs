//! Clients by id, held in memory: every token request authenticates one, and a client changes
//! rarely. Any change to a client or an account forgets them all: at once on the instance
//! that made it (`Store::clients_changed` after commit), through PostgreSQL `NOTIFY` (fired
//! by triggers) on every other instance, and after `TTL` at the latest otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::ids::ClientId;
use crate::oauth::client::Client;

/// The channel the PostgreSQL triggers of migration 0021 notify.
pub const CHANNEL: &str = "tessera_clients_changed";

/// How long an entry serves without a word from the database: the bound for a second process
/// on one SQLite file, which hears of no change.
pub const TTL: Duration = Duration::from_secs(10);

/// More clients than this and the cache starts over, so unbounded growth is impossible.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub struct ClientCache {
    entries: RwLock<HashMap<ClientId, Entry>>,
    /// Bumped by every change: an entry from an older generation is not served.
    generation: AtomicU64,
    /// Off on PostgreSQL while no listener hears the triggers: changes could be missed.
    serving: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    client: Client,
    generation: u64,
    loaded_at: Instant,
}

impl ClientCache {
    /// `serving`: whether entries may serve from the start (SQLite), or only once a listener
    /// follows the changes (PostgreSQL).
    pub fn new(serving: bool) -> ClientCache {
        ClientCache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            serving: AtomicBool::new(serving),
        }
    }

    /// The generation to pass to `insert` for a row read from now on.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, id: &ClientId) -> Option<Client> {
        if !self.serving.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(id)?;
        (entry.generation == self.generation() && entry.loaded_at.elapsed() < TTL)
            .then(|| entry.client.clone())
    }

    /// Keeps `client`, read from the database when the cache was at `generation`; a change
    /// since then means the row may be stale, and it is dropped.
    pub fn insert(&self, client: Client, generation: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if generation != self.generation() {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let entry = Entry {
            client: client.clone(),
            generation,
            loaded_at: Instant::now(),
        };
        entries.insert(client.client_id, entry);
    }

    /// Forgets every client: something changed.
    pub fn clear(&self) {
        // Bump first: a reader that loaded before the change can no longer insert its row.
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn serve(&self, serving: bool) {
        self.clear();
        self.serving.store(serving, Ordering::Release);
    }
}

/// Follows the PostgreSQL triggers' notifications until `shutdown`: the cache serves only
/// while a listener is connected, and starts empty after every (re)connection, because
/// notifications sent meanwhile are lost.
pub async fn follow_changes(
    cache: &ClientCache,
    database_url: &str,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        cache.serve(false);
        let listening = async {
            let mut listener = PgListener::connect(database_url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let retry = match listening.await {
            Ok(mut listener) => {
                cache.serve(true);
                loop {
                    tokio::select! {
                        notification = listener.try_recv() => match notification {
                            Ok(Some(_)) => cache.clear(),
                            // The connection dropped (`None`) or failed: start over.
                            Ok(None) => break Duration::ZERO,
                            Err(error) => {
                                tracing::warn!(%error, "client change listener failed");
                                break Duration::from_secs(1);
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for client changes; clients are read from the database");
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
        let cache = ClientCache::new(true);
        let client = sample(false);
        let before = cache.generation();
        cache.clear();
        cache.insert(client.clone(), before);
        assert!(cache.get(&client.client_id).is_none());
        cache.insert(client.clone(), cache.generation());
        assert_eq!(
            cache.get(&client.client_id).map(|c| c.client_id),
            Some(client.client_id)
        );
    }

    #[test]
    fn a_cache_that_is_not_serving_serves_nothing() {
        let cache = ClientCache::new(false);
        let client = sample(false);
        cache.insert(client.clone(), cache.generation());
        assert!(cache.get(&client.client_id).is_none());
    }
}
