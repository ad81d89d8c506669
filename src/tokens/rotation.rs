//! The write half of a refresh: spend the token (the single-use gate, reuse and grace-retry
//! handling) and issue its successor. On SQLite, rotations that arrive together are written
//! in one transaction of the single writer (group commit); on PostgreSQL each has its own,
//! as transactions run side by side there.
//!
//! Why (issue 16, each step of `tokens::refresh` timed under the bench's load: SQLite, 32
//! connections, ~1,100 refreshes/s, two cores): of ~28 ms per refresh, ~27 ms went to
//! waiting for the writer; the reads before it took ~0.4 ms, the three writes ~0.1 ms, the
//! commit ~0.12 ms, the two signatures ~0.5 ms. Each transaction held the writer ~0.9 ms,
//! mostly hand-offs: the connection goes back to the pool, the next waiter is woken, begins,
//! and every one of those steps is a wake-up from SQLite's worker thread that queues on the
//! runtime behind the requests busy signing. Batching alone (on the shared runtime) gave
//! ~13 rotations per transaction but still ~4-6 ms per batch to begin, ~0.8 ms to commit:
//! hence a thread of its own for the writer, where those wake-ups are prompt. On PostgreSQL
//! the same batching measured slower (~1,130 against ~1,330 refreshes/s alone, same run):
//! there transactions overlap, and a batch would serialize them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::sync::{Notify, oneshot};

use super::{TokenError, invalid_refresh_token, issue_refresh_token};
use crate::clock;
use crate::ids::{AccountId, ClientId, GrantId};
use crate::oauth::client::Client;
use crate::oauth::token::{self, SpentRefreshToken};
use crate::store::refresh_tokens::{self, Children};
use crate::store::{Backend, Change, Store, Unaudited, grants};

/// The most rotations one transaction writes; more wait for the next.
const MOST_PER_BATCH: usize = 64;

/// One rotation, owned: on SQLite the writer's task carries it out.
pub(super) struct Rotation {
    pub client: Client,
    pub grant_id: GrantId,
    pub token_hash: String,
    /// The account the family moves to (API.md §11), when the request switches.
    pub rebind: Option<AccountId>,
    pub now: i64,
}

/// What a rotation came to, once written.
pub(super) enum Rotated {
    /// The token was spent here; the new refresh token, when the client gets one.
    Issued(Option<String>),
    /// The token was spent before: reuse, and its family is revoked.
    Reused,
}

/// How presenting the token went at the gate.
enum Spent {
    /// Spent now: the successor may be written, committed as this kind (a grace retry
    /// revoked the pair it replaces).
    Now(Unaudited),
    /// Spent before, and not a retry that may replace its pair: reuse.
    Reused,
}

/// Rotations waiting for the writer, and the writer: on SQLite a thread of its own, started
/// by the first rotation, that writes every rotation waiting in one transaction.
#[derive(Default)]
pub struct Rotations {
    shared: Arc<Shared>,
    writer: OnceLock<()>,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<Vec<Job>>,
    arrived: Notify,
    /// The writer ended early (a panic): rotations are then written alone.
    writer_gone: AtomicBool,
    /// No more rotations will come: the writer ends once none waits.
    closed: AtomicBool,
}

struct Job {
    rotation: Rotation,
    answer: oneshot::Sender<Result<Rotated, TokenError>>,
}

impl Rotations {
    /// Writes `rotation`: with others arriving at the same time on SQLite, alone on
    /// PostgreSQL. Each caller learns its own outcome.
    pub(super) async fn rotate(
        &self,
        store: &Store,
        rotation: Rotation,
    ) -> Result<Rotated, TokenError> {
        if store.backend() == Backend::Postgres {
            return alone(store, &rotation).await;
        }
        let (answer, answered) = oneshot::channel();
        {
            let mut waiting = self.shared.lock();
            if self.shared.writer_gone.load(Ordering::Relaxed) {
                drop(waiting);
                return alone(store, &rotation).await;
            }
            waiting.push(Job { rotation, answer });
        }
        self.writer
            .get_or_init(|| start_writer(self.shared.clone(), store.clone()));
        self.shared.arrived.notify_one();
        answered
            .await
            .unwrap_or(Err(TokenError::Database(sqlx::Error::WorkerCrashed)))
    }

    /// How many rotations wait for the writer (a test watches it to form a batch).
    pub fn waiting(&self) -> usize {
        self.shared.lock().len()
    }
}

impl Drop for Rotations {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.arrived.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Job>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_batch(&self) -> Vec<Job> {
        let mut waiting = self.lock();
        let count = waiting.len().min(MOST_PER_BATCH);
        waiting.drain(..count).collect()
    }
}

/// Starts the writer on a thread with a runtime of its own: each of its statements wakes it
/// from SQLite's worker thread, and on the shared runtime such a wake-up queues behind every
/// request busy signing. Without a thread, it runs on the shared runtime.
fn start_writer(shared: Arc<Shared>, store: Store) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let (for_thread, store_for_thread) = (shared.clone(), store.clone());
    let started = runtime.and_then(|runtime| {
        std::thread::Builder::new()
            .name("tessera-writer".into())
            .spawn(move || runtime.block_on(write_batches(for_thread, store_for_thread)))
    });
    if let Err(error) = started {
        tracing::warn!(%error, "no thread for the refresh writer: it runs on the shared runtime");
        tokio::spawn(write_batches(shared, store));
    }
}

/// The writer: takes the writer's transaction, then every rotation waiting (those that
/// arrived while it was busy included), writes them, answers each, and again. Should it end
/// early (a panic), rotations are written alone from then on and the waiting ones are
/// answered with an error rather than left waiting.
async fn write_batches(shared: Arc<Shared>, store: Store) {
    struct Gone(Arc<Shared>);
    impl Drop for Gone {
        fn drop(&mut self) {
            let mut waiting = self.0.lock();
            self.0.writer_gone.store(true, Ordering::Relaxed);
            waiting.clear();
        }
    }
    let gone = Gone(shared);
    let shared = &gone.0;
    loop {
        if shared.lock().is_empty() {
            if shared.closed.load(Ordering::SeqCst) {
                return;
            }
            shared.arrived.notified().await;
            continue;
        }
        let change = store.change().await;
        let batch = shared.next_batch();
        let change = match change {
            Ok(change) => change,
            Err(error) => {
                // Nothing was tried: retrying each alone would only wait for the writer again.
                tracing::error!(%error, rotations = batch.len(), "the writer cannot begin: refresh rotations fail");
                for job in batch {
                    let _ = job.answer.send(Err(TokenError::Database(copy_of(&error))));
                }
                continue;
            }
        };
        match together(change, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    // A caller that went away no longer needs its answer; its writes stand.
                    let _ = job.answer.send(outcome);
                }
            }
            // A database error in any rotation rolled all of them back: each is written
            // alone, so one failure neither loses nor half-writes another.
            Err(error) => {
                tracing::warn!(%error, rotations = batch.len(), "a batch of refresh rotations failed: writing each alone");
                for job in batch {
                    let outcome = alone(&store, &job.rotation).await;
                    let _ = job.answer.send(outcome);
                }
            }
        }
    }
}

/// The same failure, for each caller of a batch.
fn copy_of(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Every rotation of `batch`, in order, in one change. Past the gate a rotation cannot fail
/// but by a database error (its request was checked before it queued), and a refusal at the
/// gate writes nothing, so each outcome stands with the others'.
async fn together(
    mut change: Change<'_>,
    batch: &[Job],
) -> Result<Vec<Result<Rotated, TokenError>>, sqlx::Error> {
    let mut kind = Unaudited::Issuance;
    let mut outcomes = Vec::with_capacity(batch.len());
    for Job { rotation, .. } in batch {
        let outcome = match spend(&mut change, rotation).await {
            Ok(Spent::Now(spent)) => {
                if spent == Unaudited::Revocation {
                    kind = spent;
                }
                Ok(Rotated::Issued(issue(&mut change, rotation).await?))
            }
            Ok(Spent::Reused) => {
                kind = Unaudited::Revocation;
                Ok(Rotated::Reused)
            }
            Err(TokenError::Database(error)) => return Err(error),
            Err(refused) => Err(refused),
        };
        outcomes.push(outcome);
    }
    change.commit_unaudited(kind).await?;
    Ok(outcomes)
}

/// One rotation in a change of its own.
async fn alone(store: &Store, rotation: &Rotation) -> Result<Rotated, TokenError> {
    let mut change = store.change().await?;
    match spend(&mut change, rotation).await? {
        Spent::Now(kind) => {
            let refresh = issue(&mut change, rotation).await?;
            change.commit_unaudited(kind).await?;
            Ok(Rotated::Issued(refresh))
        }
        Spent::Reused => {
            change.commit_unaudited(Unaudited::Revocation).await?;
            Ok(Rotated::Reused)
        }
    }
}

/// For a request refused past the gate (scope, user, standing): a spent token still revokes
/// its family (`Rotated::Reused`); an unspent one stays unspent, as nothing is committed.
pub(super) async fn check_reuse(store: &Store, rotation: &Rotation) -> Result<(), TokenError> {
    let mut change = store.change().await?;
    if let Spent::Reused = spend(&mut change, rotation).await? {
        change.commit_unaudited(Unaudited::Revocation).await?;
        warn_reused(&rotation.grant_id, &rotation.client.client_id);
        return Err(invalid_refresh_token().into());
    }
    Ok(())
}

pub(super) fn warn_reused(grant_id: &GrantId, client_id: &ClientId) {
    tracing::warn!(grant = %grant_id, client = %client_id, "refresh token reused: family revoked");
}

/// The gate: marks the token used, the one conditional `UPDATE` of which only one of two
/// concurrent uses passes. A spent token is reuse, except as a retry within the client's
/// grace period, which counts only for the family's latest spent token and takes the place
/// of the pair that token produced (API.md §5): never two live chains.
async fn spend(change: &mut Change<'_>, rotation: &Rotation) -> Result<Spent, TokenError> {
    let Rotation {
        client,
        grant_id,
        token_hash,
        now,
        ..
    } = rotation;
    if refresh_tokens::mark_used(&mut **change, token_hash, *now).await? {
        return Ok(Spent::Now(Unaudited::Issuance));
    }
    let used_at = refresh_tokens::find(&mut **change, token_hash)
        .await?
        .and_then(|record| record.used_at)
        .unwrap_or(0);
    let retry = token::classify_spent(used_at, client.settings.refresh_reuse_grace_seconds, *now)
        == SpentRefreshToken::RetryWithinGrace;
    if !retry {
        grants::revoke(&mut **change, grant_id, *now).await?;
        return Ok(Spent::Reused);
    }
    match refresh_tokens::replace_child(change, token_hash, *now).await? {
        Children::Replaced => {
            grants::revoke_access_tokens_before(&mut **change, grant_id, clock::now_ms()).await?;
            Ok(Spent::Now(Unaudited::Revocation))
        }
        Children::Gone => Err(invalid_refresh_token().into()),
        Children::Used => {
            grants::revoke(&mut **change, grant_id, *now).await?;
            Ok(Spent::Reused)
        }
    }
}

/// Past the gate: the successor token, the family's expiry slid forward and, on a switch, the
/// family bound to the new account. Nothing here refuses; only the database can fail.
async fn issue(
    change: &mut Change<'_>,
    rotation: &Rotation,
) -> Result<Option<String>, sqlx::Error> {
    let Rotation {
        client,
        grant_id,
        token_hash,
        rebind,
        now,
    } = rotation;
    let refresh = issue_refresh_token(change, client, grant_id, Some(token_hash), *now).await?;
    grants::extend(
        &mut **change,
        grant_id,
        now + client.settings.refresh_token_ttl_seconds,
        rebind.as_ref(),
    )
    .await?;
    Ok(refresh)
}
