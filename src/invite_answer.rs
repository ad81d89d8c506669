//! Answering an invitation — accept or decline — for the REST API and the hosted page alike:
//! the invitee's email must match, the invitation must still be pending, and the answer is
//! one conditional UPDATE, so of concurrent answers exactly one wins and a member is added
//! once. Audit events go in the same transaction.

use serde_json::json;

use crate::clock;
use crate::invitation::{Invitation, InvitationStatus, Unanswerable, check_answerable};
use crate::role::Role;
use crate::secret;
use crate::store::audit_events::{self, Actor, NewEvent};
use crate::store::{Store, invitations, memberships};
use crate::user::User;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Decline,
}

/// Who answers, for the audit trail.
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("no such invitation")]
    NotFound,
    #[error("the invitation is addressed to another email address")]
    NotAddressedToYou,
    #[error("the invitation cannot be answered: {0:?}")]
    Unanswerable(Unanswerable),
    #[error("the invitation was answered meanwhile")]
    AnsweredMeanwhile,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The answered invitation and, after accepting, the role the user now holds there (an
/// existing member keeps the role they had).
pub struct Answered {
    pub invitation: Invitation,
    pub role: Option<Role>,
}

/// The invitation behind a link, if there is one.
pub async fn find(store: &Store, token: &str) -> Result<Option<Invitation>, sqlx::Error> {
    invitations::find_by_token_hash(store.pool(), &secret::hash(token)).await
}

/// Checks that `user` may answer now, without answering.
pub fn check(invitation: &Invitation, user: &User, now: i64) -> Result<(), AnswerError> {
    if !invitation.is_addressed_to(&user.email) {
        return Err(AnswerError::NotAddressedToYou);
    }
    check_answerable(invitation, now).map_err(AnswerError::Unanswerable)
}

pub async fn answer(
    store: &Store,
    token: &str,
    user: &User,
    decision: Decision,
    context: &Context<'_>,
) -> Result<Answered, AnswerError> {
    let token_hash = secret::hash(token);
    let now = clock::now();
    let invitation = invitations::find_by_token_hash(store.pool(), &token_hash)
        .await?
        .ok_or(AnswerError::NotFound)?;
    check(&invitation, user, now)?;

    let status = match decision {
        Decision::Accept => InvitationStatus::Accepted,
        Decision::Decline => InvitationStatus::Declined,
    };
    let mut tx = store.begin().await?;
    let Some(invitation) = invitations::answer(&mut *tx, &token_hash, status, now).await? else {
        // Lost a race, or it expired meanwhile: say which.
        let current = invitations::find_by_token_hash(&mut *tx, &token_hash)
            .await?
            .ok_or(AnswerError::NotFound)?;
        return Err(match check_answerable(&current, now) {
            Err(reason) => AnswerError::Unanswerable(reason),
            Ok(()) => AnswerError::AnsweredMeanwhile,
        });
    };
    let event = |action, target_type, target_id, details| NewEvent {
        account_id: Some(&invitation.account_id),
        action,
        actor: context.actor,
        target_type,
        target_id,
        ip: context.ip,
        user_agent: context.user_agent,
        details,
    };
    let role = match decision {
        Decision::Decline => {
            let details = json!({ "email": invitation.email });
            audit_events::insert(
                &mut *tx,
                &event(
                    "invite.declined",
                    "invitation",
                    invitation.id.as_str(),
                    details,
                ),
                now,
            )
            .await?;
            None
        }
        Decision::Accept => {
            let details = json!({ "email": invitation.email, "role": invitation.role });
            audit_events::insert(
                &mut *tx,
                &event(
                    "invite.accepted",
                    "invitation",
                    invitation.id.as_str(),
                    details,
                ),
                now,
            )
            .await?;
            let added = memberships::insert_if_absent(
                &mut *tx,
                &invitation.account_id,
                &user.id,
                invitation.role,
                now,
            )
            .await?;
            if added {
                let details = json!({ "role": invitation.role, "invitation_id": invitation.id });
                audit_events::insert(
                    &mut *tx,
                    &event("member.added", "user", user.id.as_str(), details),
                    now,
                )
                .await?;
            }
            memberships::role(&mut *tx, &invitation.account_id, &user.id).await?
        }
    };
    tx.commit().await?;
    store.access_changed();
    Ok(Answered { invitation, role })
}
