//! Answering an invitation — accept or decline — for the REST API and the hosted page alike:
//! the invitee's email must match, the invitation must still be pending, and the answer is
//! one conditional UPDATE, so of concurrent answers exactly one wins and a member is added
//! once. Audit events go in the same transaction.

use serde_json::json;

use crate::audit::{Action, Origin};
use crate::clock;
use crate::invitation::{Invitation, InvitationStatus, Unanswerable, check_answerable};
use crate::role::Role;
use crate::secret;
use crate::store::{Store, invitations, memberships};
use crate::user::User;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Decline,
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
    origin: Origin<'_>,
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
    let mut change = store.change().await?;
    let Some(invitation) = invitations::answer(&mut *change, &token_hash, status, now).await?
    else {
        // Lost a race, or it expired meanwhile: say which.
        let current = invitations::find_by_token_hash(&mut *change, &token_hash)
            .await?
            .ok_or(AnswerError::NotFound)?;
        return Err(match check_answerable(&current, now) {
            Err(reason) => AnswerError::Unanswerable(reason),
            Ok(()) => AnswerError::AnsweredMeanwhile,
        });
    };
    let account_id = Some(&invitation.account_id);
    let invitation_id = invitation.id.as_str();
    let role = match decision {
        Decision::Decline => {
            let details = json!({ "email": invitation.email });
            let event = origin.event(
                account_id,
                Action::InviteDeclined,
                "invitation",
                invitation_id,
                details,
            );
            change.record(&event, now).await?.commit().await?;
            None
        }
        Decision::Accept => {
            let added = memberships::insert_if_absent(
                &mut *change,
                &invitation.account_id,
                &user.id,
                invitation.role,
                now,
            )
            .await?;
            let role = memberships::role(&mut *change, &invitation.account_id, &user.id).await?;
            let details = json!({ "email": invitation.email, "role": invitation.role });
            let event = origin.event(
                account_id,
                Action::InviteAccepted,
                "invitation",
                invitation_id,
                details,
            );
            let mut change = change.record(&event, now).await?;
            if added {
                let details = json!({ "role": invitation.role, "invitation_id": invitation.id });
                let event = origin.event(
                    account_id,
                    Action::MemberAdded,
                    "user",
                    user.id.as_str(),
                    details,
                );
                change.record(&event, now).await?;
            }
            change.commit().await?;
            role
        }
    };
    Ok(Answered { invitation, role })
}
