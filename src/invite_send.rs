//! Sending an invitation, for the invites API and for members added by email alike: at most
//! one pending invitation per email and account (a new one revokes the old, whose link stops
//! working), a per-account hourly limit, the mail through the outbox and the audit events,
//! all in the caller's change, which must hold the account's lock (`accounts::lock`).

use serde_json::json;

use crate::account::Account;
use crate::audit::{Action, Origin};
use crate::clock::Timestamp;
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{InvitationId, UserId};
use crate::invitation::{Invitation, InvitationStatus};
use crate::mailer;
use crate::rate_limit::{self, Limited};
use crate::role::Role;
use crate::secret;
use crate::store::{Change, Recorded, invitations};

/// What to invite whom to.
pub struct Request<'a> {
    pub account: &'a Account,
    pub email: EmailAddress,
    pub role: Role,
    pub ttl_seconds: i64,
    pub invited_by: Option<UserId>,
}

/// The invitation sent, and its link: in clear only here, once.
pub struct Sent {
    pub invitation: Invitation,
    pub accept_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the account has sent too many invitations")]
    Limited(Limited),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Sends within `change` and records it: the change may commit once this returns.
pub async fn send<'s>(
    mut change: Change<'s>,
    issuer: &Issuer,
    request: Request<'_>,
    origin: Origin<'_>,
    now: i64,
) -> Result<(Recorded<'s>, Sent), SendError> {
    let account_id = &request.account.id;
    // Counted inside the transaction: an invitation refused later does not count.
    rate_limit::begin_invitation(&mut *change, account_id, now)
        .await?
        .map_err(SendError::Limited)?;
    let token = secret::generate();
    let accept_url = issuer.url(&format!("/invites/{token}"));
    let invitation = Invitation {
        id: InvitationId::generate(),
        account_id: account_id.clone(),
        email: request.email.into_string(),
        role: request.role,
        status: InvitationStatus::Pending,
        invited_by: request.invited_by,
        expires_at: Timestamp(now + request.ttl_seconds),
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
    };
    let event = |action, target_id, details| {
        origin.event(Some(account_id), action, "invitation", target_id, details)
    };
    let replaced =
        invitations::revoke_pending_for_email(&mut *change, account_id, &invitation.email, now)
            .await?;
    invitations::insert(&mut *change, &invitation, &secret::hash(&token)).await?;
    change
        .queue_email(
            &mailer::invitation(
                &invitation.email,
                &request.account.name,
                invitation.role.as_str(),
                &accept_url,
                &invitation.expires_at.rfc3339(),
            ),
            now,
        )
        .await?;
    let details = json!({ "email": invitation.email, "role": invitation.role });
    let created = event(Action::InviteCreated, invitation.id.as_str(), details);
    let mut change = change.record(&created, now).await?;
    for old in &replaced {
        let details = json!({ "email": old.email, "replaced_by": invitation.id });
        let revoked = event(Action::InviteRevoked, old.id.as_str(), details);
        change.record(&revoked, now).await?;
    }
    let sent = Sent {
        invitation,
        accept_url,
    };
    Ok((change, sent))
}
