//! The `passkey_ceremonies` table: a passkey ceremony's state (its challenge) between the
//! options and the browser's answer, so that any instance can finish it. [`take`] deletes
//! the row it returns: each challenge is answered at most once, also by concurrent twins.

use sqlx::{Any, Executor};

use crate::ids::UserId;

/// What a ceremony is for; a state is only ever taken back for the same purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Creating a passkey for a signed-in user.
    Enrolment,
    /// Proving a passkey after the password.
    SecondFactor,
    /// Signing in with a passkey alone.
    SignIn,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Enrolment => "enrolment",
            Purpose::SecondFactor => "second_factor",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// Stores a ceremony's `state` under `id` until `expires_at`, replacing one under the same
/// id (a user enrols one passkey at a time).
pub async fn put<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    user_id: Option<&UserId>,
    purpose: Purpose,
    state: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into passkey_ceremonies (id, user_id, purpose, state, expires_at) \
         values ($1, $2, $3, $4, $5) \
         on conflict (id) do update set user_id = excluded.user_id, purpose = excluded.purpose, \
         state = excluded.state, expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(user_id.map(UserId::as_str))
    .bind(purpose.as_str())
    .bind(state)
    .bind(expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Takes the state stored under `id` for `purpose` (and `user_id`, when the ceremony was
/// one user's), if it has not expired: the row is gone afterwards either way.
pub async fn take<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    user_id: Option<&UserId>,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>, String, String, i64)> = sqlx::query_as(
        "delete from passkey_ceremonies where id = $1 \
         returning user_id, purpose, state, expires_at",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(owner, stored_purpose, state, expires_at)| {
        let same_owner = owner.as_deref() == user_id.map(UserId::as_str);
        (same_owner && stored_purpose == purpose.as_str() && expires_at > now).then_some(state)
    }))
}
