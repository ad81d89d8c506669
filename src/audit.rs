//! What the audit trail records: the closed set of actions (`<resource>.<verb>`), who did it
//! and from where, and the filters webhooks apply to actions. Pure rules and types: the store
//! records events (`store::Change::record`), webhooks deliver them, both ask here.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::ids::AccountId;

/// Declares [`Action`] once: each variant, its wire name, and whether committing it must make
/// every instance forget what it cached about tokens and clients.
macro_rules! actions {
    ($($variant:ident = $name:literal, access: $access:literal;)+) => {
        /// Every audit action Tessera records (API.md §8, plus the operator's and the account
        /// page's): the names the audit log shows and a webhook filter may use.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }

            /// Whether the change may alter who holds access (a client, an account's status,
            /// a membership, a credential): then committing it clears the token cache.
            pub fn touches_access(self) -> bool {
                match self {
                    $(Action::$variant => $access,)+
                }
            }
        }
    };
}

actions! {
    AccountCreated = "account.created", access: true;
    AccountUpdated = "account.updated", access: true;
    AccountDeleted = "account.deleted", access: true;
    // Inherited roles follow the new ancestry.
    AccountMoved = "account.moved", access: true;
    MemberAdded = "member.added", access: true;
    MemberRoleChanged = "member.role_changed", access: true;
    MemberRemoved = "member.removed", access: true;
    InviteCreated = "invite.created", access: false;
    InviteAccepted = "invite.accepted", access: true;
    InviteDeclined = "invite.declined", access: false;
    InviteRevoked = "invite.revoked", access: false;
    ClientCreated = "client.created", access: true;
    ClientUpdated = "client.updated", access: true;
    ClientDeleted = "client.deleted", access: true;
    ClientSecretRotated = "client.secret_rotated", access: true;
    ApiKeyCreated = "api_key.created", access: true;
    ApiKeyRolled = "api_key.rolled", access: true;
    ApiKeyRevoked = "api_key.revoked", access: true;
    // A role's permissions are part of every cached standing of its holders.
    RoleCreated = "role.created", access: false;
    RoleUpdated = "role.updated", access: true;
    RoleDeleted = "role.deleted", access: true;
    DomainCreated = "domain.created", access: false;
    // An account's view lists its verified domains, and the store caches the view.
    DomainVerified = "domain.verified", access: true;
    DomainDeleted = "domain.deleted", access: true;
    SsoConnectionCreated = "sso_connection.created", access: false;
    SsoConnectionUpdated = "sso_connection.updated", access: false;
    SsoConnectionDeleted = "sso_connection.deleted", access: false;
    SubscriptionCreated = "subscription.created", access: false;
    SubscriptionUpdated = "subscription.updated", access: false;
    SubscriptionDeleted = "subscription.deleted", access: false;
    InvoiceCreated = "invoice.created", access: false;
    InvoiceUpdated = "invoice.updated", access: false;
    InvoiceDeleted = "invoice.deleted", access: false;
    PaymentCreated = "payment.created", access: false;
    PaymentDeleted = "payment.deleted", access: false;
    FileDeleted = "file.deleted", access: false;
    WebhookUpdated = "webhook.updated", access: false;
    WebhookDeleted = "webhook.deleted", access: false;
    WebhookSecretRotated = "webhook.secret_rotated", access: false;
    UserCreated = "user.created", access: false;
    // A new password or email revokes the user's tokens (`credentials::revoke_all`).
    UserUpdated = "user.updated", access: true;
    UserDeleted = "user.deleted", access: true;
    UserEmailChangeRequested = "user.email_change_requested", access: false;
    UserDisabled = "user.disabled", access: true;
    UserEnabled = "user.enabled", access: true;
    UserLogin = "user.login", access: false;
    UserLoginFailed = "user.login_failed", access: false;
    UserMfaEnabled = "user.mfa_enabled", access: false;
    UserMfaDisabled = "user.mfa_disabled", access: false;
    UserRecoveryCodesRegenerated = "user.recovery_codes_regenerated", access: false;
    UserIdentityLinked = "user.identity_linked", access: false;
    UserIdentityUnlinked = "user.identity_unlinked", access: false;
    SigningKeyRotated = "signing_key.rotated", access: false;
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an action Tessera records: a filter naming it would silently never
/// match, so it is refused instead.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownAction;

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(text: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == text)
            .ok_or(UnknownAction)
    }
}

/// Whether an event passes a webhook's filter; `None` lets every event through.
pub fn wants(events: Option<&[String]>, action: Action) -> bool {
    events.is_none_or(|events| events.iter().any(|event| event == action.as_str()))
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(String),
    ApiKey(String),
    Client(String),
    /// The operator CLI, start-up, background work.
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ApiKey(_) => "api_key",
            Actor::Client(_) => "client",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::User(id) | Actor::ApiKey(id) | Actor::Client(id) => Some(id),
            Actor::System => None,
        }
    }
}

/// Who asks and from where: every event a request causes carries it.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub actor: &'a Actor,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

static SYSTEM: Actor = Actor::System;

impl Origin<'static> {
    /// The operator CLI, start-up and background work.
    pub fn system() -> Origin<'static> {
        Origin {
            actor: &SYSTEM,
            ip: None,
            user_agent: None,
        }
    }
}

impl<'a> Origin<'a> {
    /// An event of this origin: `action` on the `target_type` `target_id`, in the log of
    /// `account_id` (none for a user's own changes outside any account).
    pub fn event(
        self,
        account_id: Option<&'a AccountId>,
        action: Action,
        target_type: &'a str,
        target_id: &'a str,
        details: Value,
    ) -> NewEvent<'a> {
        NewEvent {
            account_id,
            action,
            actor: self.actor,
            target_type,
            target_id,
            ip: self.ip,
            user_agent: self.user_agent,
            details,
        }
    }
}

/// One recorded change.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub account_id: Option<&'a AccountId>,
    pub action: Action,
    pub actor: &'a Actor,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: Value,
}

#[cfg(test)]
mod tests {
    use super::{Action, wants};

    #[test]
    fn filters_and_action_names() {
        assert!(wants(None, Action::MemberAdded));
        let events = vec!["member.added".to_owned()];
        assert!(wants(Some(&events), Action::MemberAdded));
        assert!(!wants(Some(&events), Action::MemberRemoved));
        assert_eq!("api_key.created".parse(), Ok(Action::ApiKeyCreated));
        assert!("member".parse::<Action>().is_err());
        assert!("Member.added".parse::<Action>().is_err());
        assert!(
            "member.promoted".parse::<Action>().is_err(),
            "well-formed but unknown"
        );
    }

    #[test]
    fn every_name_is_resource_dot_verb_and_parses_back() {
        for action in Action::ALL {
            let (resource, verb) = action.as_str().split_once('.').expect("resource.verb");
            assert!(!resource.is_empty() && !verb.is_empty());
            assert_eq!(action.as_str().parse(), Ok(*action));
        }
    }
}
