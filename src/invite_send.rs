//! Sending an invitation, for the invites API and for members added by email alike: at most
//! one pending invitation per email and account (a new one revokes the old, whose link stops
//! working), a per-account hourly limit, the mail through the outbox and the audit events,
//! all in the caller's transaction, which must hold the account's lock (`accounts::lock`).

use serde_json::json;

use crate::account::Account;
use crate::clock::Timestamp;
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{InvitationId, UserId};
use crate::invitation::{Invitation, InvitationStatus};
use crate::invite_answer::Context;
use crate::mailer;
use crate::rate_limit::{self, Limited};
use crate::role::Role;
use crate::secret;
use crate::store::audit_events::{self, NewEvent};
use crate::store::{Tx, emails, invitations};

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

pub async fn send(
    tx: &mut Tx,
    issuer: &Issuer,
    request: Request<'_>,
    context: &Context<'_>,
    now: i64,
) -> Result<Sent, SendError> {
    let account_id = &request.account.id;
    // Counted inside the transaction: an invitation refused later does not count.
    rate_limit::begin_invitation(&mut **tx, account_id, now)
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
    let event = |action, target_id, details| NewEvent {
        account_id: Some(account_id),
        action,
        actor: context.actor,
        target_type: "invitation",
        target_id,
        ip: context.ip,
        user_agent: context.user_agent,
        details,
    };
    let replaced =
        invitations::revoke_pending_for_email(&mut **tx, account_id, &invitation.email, now)
            .await?;
    for old in &replaced {
        let details = json!({ "email": old.email, "replaced_by": invitation.id });
        audit_events::insert(
            &mut **tx,
            &event("invite.revoked", old.id.as_str(), details),
            now,
        )
        .await?;
    }
    invitations::insert(&mut **tx, &invitation, &secret::hash(&token)).await?;
    emails::enqueue(
        &mut **tx,
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
    audit_events::insert(
        &mut **tx,
        &event("invite.created", invitation.id.as_str(), details),
        now,
    )
    .await?;
    Ok(Sent {
        invitation,
        accept_url,
    })
}
