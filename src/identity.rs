//! Linked identities: a user of another OpenID provider, named by `(issuer, sub)`, that signs
//! in as one Tessera user (API.md §12). Who an upstream user signs in as is [`decide`]'s
//! answer; `manage::identities` gathers its facts and writes the outcome.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{IdentityId, UserId};
use crate::user::User;

/// The upstream user an ID token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUser {
    pub issuer: String,
    pub subject: String,
    /// Lower-cased; `None` when the provider shares none.
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// A stored link.
#[derive(Clone, Debug)]
pub struct Identity {
    pub id: IdentityId,
    pub user_id: UserId,
    /// The operator provider's id or the SSO connection's id that made the link.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// An identity as `GET /v1/me/identities` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    pub id: String,
    /// The operator provider's id (`[[identity_providers]]`) or the SSO connection's id.
    pub provider: String,
    pub issuer: String,
    /// The user's id at the provider.
    pub subject: String,
    /// The address the provider gave at the last sign-in.
    pub email: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<Identity> for IdentityView {
    fn from(identity: Identity) -> IdentityView {
        IdentityView {
            id: identity.id.to_string(),
            provider: identity.provider,
            issuer: identity.issuer,
            subject: identity.subject,
            email: identity.email,
            created_at: identity.created_at,
            last_used_at: identity.last_used_at,
        }
    }
}

/// What is known when an upstream user arrives.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub upstream: &'a UpstreamUser,
    /// The user its `(issuer, sub)` is linked to, if any.
    pub linked: Option<&'a User>,
    /// The user with the address the provider gave, if any.
    pub same_email: Option<&'a User>,
    /// Whether a new user may be made for it (sign-up open, or an SSO connection's `jit`).
    pub may_create: bool,
    /// The signed-in user who started the login to connect this identity to itself.
    pub connecting: Option<&'a UserId>,
}

/// Who the upstream user signs in as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Its link names this user.
    SignIn(UserId),
    /// Link it to this user first (by a verified address, or the signed-in user connecting
    /// it), then sign in.
    Link(UserId),
    /// Make a user with the provider's address, link it, sign in.
    Create,
    Refuse(Refusal),
}

/// Why an upstream user does not sign in; each is a sentence for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Disabled,
    /// A user has the address, and the provider does not vouch for it: linking would hand
    /// that user to whoever holds the upstream account.
    UnverifiedEmailTaken,
    NoEmail,
    SignupClosed,
    /// Connecting an identity that is another user's already.
    LinkedToAnother,
    /// An SSO connection's provider signed in an address outside the connection's domains.
    OutsideDomains,
    /// The SSO connection's account is suspended.
    AccountInactive,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Disabled => "This user is disabled. Ask the operator of this server.",
            Refusal::UnverifiedEmailTaken => {
                "A user with this email address exists already, and the provider did not confirm the address. Sign in with your password, then connect the provider from your account's security page."
            }
            Refusal::NoEmail => {
                "The provider did not share an email address, which this server needs to make you a user."
            }
            Refusal::SignupClosed => "Sign-up is closed on this server. Ask its operator.",
            Refusal::LinkedToAnother => {
                "This sign-in of the provider is connected to another user already."
            }
            Refusal::OutsideDomains => {
                "The provider signed in an email address that this single sign-on is not set up for."
            }
            Refusal::AccountInactive => {
                "The organization of this single sign-on is suspended. Ask its administrators."
            }
        }
    }
}

/// The linking rule of API.md §12: an identity already linked signs in as its user; the
/// first time, it links to the user with the same address only when the provider says the
/// address is verified, else a new user is made when that is allowed.
pub fn decide(facts: Facts<'_>) -> Decision {
    let disabled = |user: &User| user.disabled_at.is_some();
    if let Some(connecting) = facts.connecting {
        return match facts.linked {
            Some(linked) if &linked.id != connecting => Decision::Refuse(Refusal::LinkedToAnother),
            Some(linked) => Decision::SignIn(linked.id.clone()),
            None => Decision::Link(connecting.clone()),
        };
    }
    if let Some(linked) = facts.linked {
        return if disabled(linked) {
            Decision::Refuse(Refusal::Disabled)
        } else {
            Decision::SignIn(linked.id.clone())
        };
    }
    if facts.upstream.email.is_none() {
        return Decision::Refuse(Refusal::NoEmail);
    }
    match facts.same_email {
        Some(_) if !facts.upstream.email_verified => {
            Decision::Refuse(Refusal::UnverifiedEmailTaken)
        }
        Some(user) if disabled(user) => Decision::Refuse(Refusal::Disabled),
        Some(user) => Decision::Link(user.id.clone()),
        None if facts.may_create => Decision::Create,
        None => Decision::Refuse(Refusal::SignupClosed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email_address::EmailAddress;

    fn upstream(email: Option<&str>, verified: bool) -> UpstreamUser {
        UpstreamUser {
            issuer: "https://id.example.com".into(),
            subject: "248289761001".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            name: None,
        }
    }

    fn user(email: &str) -> User {
        User::new(EmailAddress::parse(email).unwrap(), None, None, 0)
    }

    fn facts<'a>(upstream: &'a UpstreamUser) -> Facts<'a> {
        Facts {
            upstream,
            linked: None,
            same_email: None,
            may_create: true,
            connecting: None,
        }
    }

    #[test]
    fn a_linked_identity_signs_in_as_its_user_whatever_the_address_says() {
        let jane = user("jane@example.com");
        let other = user("other@example.com");
        let up = upstream(Some("other@example.com"), true);
        let decision = decide(Facts {
            linked: Some(&jane),
            same_email: Some(&other),
            ..facts(&up)
        });
        assert_eq!(decision, Decision::SignIn(jane.id.clone()));
        let mut disabled = jane.clone();
        disabled.disabled_at = Some(Timestamp(1));
        let decision = decide(Facts {
            linked: Some(&disabled),
            ..facts(&up)
        });
        assert_eq!(decision, Decision::Refuse(Refusal::Disabled));
    }

    #[test]
    fn the_first_time_an_address_links_only_when_verified() {
        let jane = user("jane@example.com");
        let verified = upstream(Some("jane@example.com"), true);
        let decision = decide(Facts {
            same_email: Some(&jane),
            ..facts(&verified)
        });
        assert_eq!(decision, Decision::Link(jane.id.clone()));
        let unverified = upstream(Some("jane@example.com"), false);
        let decision = decide(Facts {
            same_email: Some(&jane),
            ..facts(&unverified)
        });
        assert_eq!(decision, Decision::Refuse(Refusal::UnverifiedEmailTaken));
    }

    #[test]
    fn a_new_address_makes_a_user_only_when_allowed() {
        let up = upstream(Some("new@example.com"), false);
        assert_eq!(decide(facts(&up)), Decision::Create);
        let closed = decide(Facts {
            may_create: false,
            ..facts(&up)
        });
        assert_eq!(closed, Decision::Refuse(Refusal::SignupClosed));
        let no_email = upstream(None, false);
        assert_eq!(decide(facts(&no_email)), Decision::Refuse(Refusal::NoEmail));
    }

    #[test]
    fn connecting_links_to_the_signed_in_user_unless_another_holds_it() {
        let jane = user("jane@example.com");
        let other = user("other@example.com");
        let up = upstream(None, false);
        let decision = decide(Facts {
            connecting: Some(&jane.id),
            ..facts(&up)
        });
        assert_eq!(decision, Decision::Link(jane.id.clone()));
        let decision = decide(Facts {
            connecting: Some(&jane.id),
            linked: Some(&other),
            ..facts(&up)
        });
        assert_eq!(decision, Decision::Refuse(Refusal::LinkedToAnother));
        let decision = decide(Facts {
            connecting: Some(&jane.id),
            linked: Some(&jane),
            ..facts(&up)
        });
        assert_eq!(decision, Decision::SignIn(jane.id.clone()));
    }
}
