//! Invitations: an email and a role for one account, behind a single-use secret link that
//! expires. Only the link's hash is stored.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{AccountId, InvitationId, UserId};
use crate::role::RoleId;

/// Invitations live 7 days unless the inviter says otherwise, at most 30 days.
pub const DEFAULT_TTL_SECONDS: i64 = 7 * 86_400;
pub const MAX_TTL_SECONDS: i64 = 30 * 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    /// Shown, never stored: a pending invitation past its expiry.
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<InvitationStatus> {
        match text {
            "pending" => Some(InvitationStatus::Pending),
            "accepted" => Some(InvitationStatus::Accepted),
            "declined" => Some(InvitationStatus::Declined),
            "revoked" => Some(InvitationStatus::Revoked),
            _ => None,
        }
    }
}

/// An invitation as stored; `status` is the stored one (never `Expired`).
#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: String,
    pub role: RoleId,
    pub status: InvitationStatus,
    pub invited_by: Option<UserId>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Invitation {
    /// The status as the API shows it at `now`.
    pub fn status_at(&self, now: i64) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && self.expires_at.0 <= now {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    /// Whether `email` is the invitee's address (compared case-insensitively).
    pub fn is_addressed_to(&self, email: &str) -> bool {
        self.email.trim().eq_ignore_ascii_case(email.trim())
    }
}

/// Why an invitation cannot be answered now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswerable {
    Expired,
    AlreadyAnswered(InvitationStatus),
}

/// Whether the invitation can still be accepted or declined at `now`.
pub fn check_answerable(invitation: &Invitation, now: i64) -> Result<(), Unanswerable> {
    match invitation.status_at(now) {
        InvitationStatus::Pending => Ok(()),
        InvitationStatus::Expired => Err(Unanswerable::Expired),
        status => Err(Unanswerable::AlreadyAnswered(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Invitation, InvitationStatus, Unanswerable, check_answerable};
    use crate::clock::Timestamp;
    use crate::ids::{AccountId, InvitationId};
    use crate::role::Builtin;

    fn invitation(status: InvitationStatus, expires_at: i64) -> Invitation {
        Invitation {
            id: InvitationId::generate(),
            account_id: AccountId::generate(),
            email: "Ada@Example.com".into(),
            role: Builtin::Member.into(),
            status,
            invited_by: None,
            expires_at: Timestamp(expires_at),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn pending_invitations_expire_and_answered_ones_stay_answered() {
        assert_eq!(
            check_answerable(&invitation(InvitationStatus::Pending, 100), 99),
            Ok(())
        );
        assert_eq!(
            check_answerable(&invitation(InvitationStatus::Pending, 100), 100),
            Err(Unanswerable::Expired)
        );
        assert_eq!(
            check_answerable(&invitation(InvitationStatus::Revoked, 100), 50),
            Err(Unanswerable::AlreadyAnswered(InvitationStatus::Revoked))
        );
        assert!(invitation(InvitationStatus::Pending, 1).is_addressed_to("ada@example.COM"));
        assert!(!invitation(InvitationStatus::Pending, 1).is_addressed_to("bob@example.com"));
    }
}
