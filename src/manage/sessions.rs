//! The browsers a user is signed in on (API.md §10 "Sessions"): a login on the hosted pages
//! opens one; `/v1/me/sessions` lists them and ends one, which signs that browser out and
//! revokes the refresh-token families issued through it.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{GrantId, SessionId, UserId};
use crate::manage::Error;
use crate::manage::caller::Caller;
use crate::manage::sign_in::Visitor;
use crate::store::browser_sessions::{self, BrowserSession};
use crate::store::{Position, Store, Unaudited, grants, sessions};

const MAX_USER_AGENT_CHARS: usize = 512;

/// A session ends this long after its sign-in, however busy (API.md §10); idleness ends it
/// sooner (the session layer's expiry).
pub const ABSOLUTE_LIFETIME_SECONDS: i64 = 14 * 86_400;

/// A session as `GET /v1/me/sessions` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: Timestamp,
    /// When the browser was last seen (to the minute).
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the user signed in (RFC 8176 method references).
    pub amr: Vec<String>,
    /// Whether the caller's token was issued through this session.
    pub current: bool,
}

/// A browser's new session for `user_id`, who just signed in by `amr`; the browser's
/// login session keeps its id (`LoginSession::sign_in`).
pub async fn open(
    store: &Store,
    user_id: &UserId,
    amr: Vec<String>,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<BrowserSession, sqlx::Error> {
    let session = BrowserSession {
        id: SessionId::generate(),
        user_id: user_id.clone(),
        created_at: Timestamp(now),
        last_seen_at: Timestamp(now),
        ip: (!visitor.ip.is_unspecified()).then(|| visitor.ip.to_string()),
        user_agent: visitor
            .user_agent
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
        amr,
    };
    let mut change = store.change().await?;
    browser_sessions::insert(&mut *change, &session).await?;
    change.commit_unaudited(Unaudited::SignIn).await?;
    Ok(session)
}

/// The caller's live sessions, newest first, after `after`; `current` marks the one the
/// caller's token came through.
pub async fn list(
    store: &Store,
    caller: &Caller,
    after: &Position,
    limit: i64,
    now: i64,
) -> Result<Vec<SessionView>, Error> {
    let user_id = person(caller)?;
    let current = current_session(store, caller).await?;
    list_for(store, user_id, current.as_ref(), after, limit, now).await
}

/// The live sessions of `user_id`, newest first; `current` marks the one the request came
/// through (the page's own browser, or the token's session).
pub async fn list_for(
    store: &Store,
    user_id: &UserId,
    current: Option<&SessionId>,
    after: &Position,
    limit: i64,
    now: i64,
) -> Result<Vec<SessionView>, Error> {
    let found = browser_sessions::list_live(
        store.pool(),
        user_id,
        now - ABSOLUTE_LIFETIME_SECONDS,
        now,
        after,
        limit,
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|session| SessionView {
            current: current == Some(&session.id),
            id: session.id.to_string(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            ip: session.ip,
            user_agent: session.user_agent,
            amr: session.amr,
        })
        .collect())
}

/// Ends the caller's session `id`: its browser is signed out and every refresh-token family
/// issued through it is revoked, in one change. Ending one that already ended changes
/// nothing; another user's is not found.
pub async fn end(store: &Store, caller: &Caller, id: &SessionId, now: i64) -> Result<(), Error> {
    end_for(store, person(caller)?, id, now).await
}

/// [`end`] for `user_id`'s own session `id`.
pub async fn end_for(
    store: &Store,
    user_id: &UserId,
    id: &SessionId,
    now: i64,
) -> Result<(), Error> {
    let mut change = store.change().await?;
    if !browser_sessions::end_for_user(&mut *change, user_id, id, now).await? {
        return Err(Error::NotFound("session"));
    }
    sessions::delete_for_session(&mut *change, id).await?;
    grants::revoke_for_session(&mut *change, id, now).await?;
    // No audit action names this (API.md §10); it revokes tokens, so every instance
    // forgets what it cached.
    change.commit_unaudited(Unaudited::Revocation).await?;
    Ok(())
}

/// The person whose browsers these are: a user's token that is not limited to one account
/// (a token handed to an app for one account must not see or end the person's sessions).
fn person(caller: &Caller) -> Result<&UserId, Error> {
    let user_id = caller.user()?;
    caller.require_user_level()?;
    Ok(user_id)
}

/// The session the caller's token came through: its grant's.
async fn current_session(store: &Store, caller: &Caller) -> Result<Option<SessionId>, Error> {
    let Some(grant_id) = caller
        .access_token()?
        .gid
        .as_deref()
        .and_then(GrantId::parse)
    else {
        return Ok(None);
    };
    Ok(grants::find(store.pool(), &grant_id)
        .await?
        .and_then(|grant| grant.session_id))
}
