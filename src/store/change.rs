//! One unit of change: every write goes through a [`Change`]. It wraps the write
//! transaction; it can commit only once it has recorded its audit event (a [`Recorded`]
//! change) or when it says which kind of bookkeeping it is that no event describes
//! ([`Unaudited`]). Committing does what used to be remembered by hand: the token cache is
//! cleared when the change touched access (the recorded actions or the bookkeeping kind say
//! so), and the webhook and email outboxes are woken when it queued work for them.

use std::ops::{Deref, DerefMut};

use sqlx::AnyConnection;

use crate::audit::NewEvent;
use crate::ids::{AccountId, EventId};
use crate::store::emails::{self, NewEmail};
use crate::store::{Store, Tx, accounts, audit_events};

/// A write transaction that has recorded nothing yet: it reads, writes, queues email, and
/// either records its event ([`Change::record`]) or commits as [`Unaudited`] bookkeeping.
/// Dropped without committing, it rolls back.
pub struct Change<'s> {
    store: &'s Store,
    tx: Tx,
    effects: Effects,
}

/// A change with at least one audit event: it may record more, and commit.
pub struct Recorded<'s>(Change<'s>);

/// What committing must set in motion.
#[derive(Default)]
struct Effects {
    access: bool,
    webhooks: bool,
    mail: bool,
}

/// Writes that no audit event describes, by kind: the closed list of what may commit without
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unaudited {
    /// Codes, grants, refresh tokens and consents written while issuing tokens.
    Issuance,
    /// Tokens revoked by a protocol rule (a replayed code, a reused refresh token, RFC 7009):
    /// every instance forgets what it cached.
    Revocation,
    /// Sign-in bookkeeping: one-time links (reset, verification) issued or spent, and a linked
    /// identity's last use.
    SignIn,
    /// A second factor's pending enrolment (recorded as `user.mfa_enabled` once a code
    /// proves it) and the TOTP step a login accepted.
    Factors,
    /// The first reading that finds an account's onboarding checklist complete dates it
    /// (`completed_at`, set once); the steps' own changes are recorded as `account.updated`.
    OnboardingCompleted,
    /// Signing keys made or retired (the key ring reloads; no token is affected). The
    /// operator's rotation is recorded apart, as `signing_key.rotated`.
    Keys,
}

impl Unaudited {
    fn touches_access(self) -> bool {
        matches!(self, Unaudited::Revocation)
    }
}

impl Store {
    /// Starts a change (see [`Change`]).
    pub async fn change(&self) -> Result<Change<'_>, sqlx::Error> {
        Ok(Change {
            store: self,
            tx: self.begin().await?,
            effects: Effects::default(),
        })
    }

    /// A change holding `account_id`'s row lock (`accounts::lock`), for a check-then-write on
    /// its memberships, children or settings; `None` when there is no such account.
    pub async fn change_account(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<Change<'_>>, sqlx::Error> {
        let mut change = self.change().await?;
        Ok(accounts::lock(&mut change, account_id)
            .await?
            .then_some(change))
    }

    /// A change that is nothing but `events` (a login seen by each of the user's accounts, a
    /// key rotation made elsewhere); none, nothing is written.
    pub async fn record_events(
        &self,
        events: &[NewEvent<'_>],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let Some((first, rest)) = events.split_first() else {
            return Ok(());
        };
        let mut change = self.change().await?.record(first, now).await?;
        for event in rest {
            change.record(event, now).await?;
        }
        change.commit().await
    }
}

impl<'s> Change<'s> {
    /// Records `event` in this transaction, with its webhook deliveries: from here on the
    /// change may commit.
    pub async fn record(
        mut self,
        event: &NewEvent<'_>,
        now: i64,
    ) -> Result<Recorded<'s>, sqlx::Error> {
        self.insert_event(event, now).await?;
        Ok(Recorded(self))
    }

    /// Records a user's event in its own trail (no account) and in the log of each account
    /// of `accounts` (the user's, read before the change may remove them): what a user does
    /// to itself shows where its accounts' admins look. `event` builds it for one log.
    pub async fn record_for_user<'e>(
        self,
        accounts: &'e [AccountId],
        event: impl Fn(Option<&'e AccountId>) -> NewEvent<'e>,
        now: i64,
    ) -> Result<Recorded<'s>, sqlx::Error> {
        let mut recorded = self.record(&event(None), now).await?;
        for account_id in accounts {
            recorded.record(&event(Some(account_id)), now).await?;
        }
        Ok(recorded)
    }

    /// Queues `email` in the outbox; it goes out once the change commits.
    pub async fn queue_email(&mut self, email: &NewEmail, now: i64) -> Result<(), sqlx::Error> {
        emails::enqueue(&mut *self.tx, email, now).await?;
        self.effects.mail = true;
        Ok(())
    }

    /// Commits a change of a `kind` that no audit event describes.
    pub async fn commit_unaudited(mut self, kind: Unaudited) -> Result<(), sqlx::Error> {
        self.effects.access |= kind.touches_access();
        self.commit().await
    }

    async fn insert_event(
        &mut self,
        event: &NewEvent<'_>,
        now: i64,
    ) -> Result<EventId, sqlx::Error> {
        let id = audit_events::insert(&mut *self.tx, event, now).await?;
        self.effects.access |= event.action.touches_access();
        // A delivery may have been queued; the outbox finds out cheaply if not.
        self.effects.webhooks |= event.account_id.is_some();
        Ok(id)
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        let Change { store, tx, effects } = self;
        tx.commit().await?;
        if effects.access {
            store.forget_cached_access();
        }
        if effects.webhooks {
            store.outboxes.webhooks.notify_one();
        }
        if effects.mail {
            store.outboxes.mail.notify_one();
        }
        Ok(())
    }
}

impl<'s> Recorded<'s> {
    /// Records one more event of the same change.
    pub async fn record(&mut self, event: &NewEvent<'_>, now: i64) -> Result<EventId, sqlx::Error> {
        self.0.insert_event(event, now).await
    }

    /// Commits the change and its events; clears the cache and wakes the outboxes as needed.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

/// Store functions take `&mut *change` as their connection, like a transaction.
impl Deref for Change<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Change<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Deref for Recorded<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0.tx
    }
}

impl DerefMut for Recorded<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0.tx
    }
}

impl Change<'_> {
    /// Which database it runs on, for the few statements whose SQL differs (row locks).
    pub fn backend(&self) -> crate::store::Backend {
        self.store.backend()
    }
}
