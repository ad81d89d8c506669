//! Who may do what on an account: a holder's standing (role and permissions), from its
//! memberships along the account's ancestry and the reach of its credential, and the rules
//! about granting roles. Pure rules: the lineage is loaded by `store::accounts::lineage`.

use crate::ids::AccountId;
use crate::oauth::claims::AccessTokenClaims;
use crate::permission::{Permission, Permissions};
use crate::role::{Builtin, RoleId};

/// A role held on one account, with the permissions it has there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub role: RoleId,
    pub permissions: Permissions,
}

impl Held {
    pub fn builtin(role: Builtin) -> Held {
        Held {
            role: role.into(),
            permissions: role.permissions(),
        }
    }

    /// The role an account token carries (`role`, `permissions`), which caps what it may do
    /// wherever it reaches. A built-in role whose list is whole is that role (with every
    /// application permission for `owner` and `admin`); a token from before `permissions`
    /// was issued carries its built-in role's.
    pub fn carried_by(claims: &AccessTokenClaims) -> Option<Held> {
        let role = RoleId::parse(claims.role.as_deref()?)?;
        let builtin = role.builtin().map(Builtin::permissions);
        let permissions = match (&claims.permissions, builtin) {
            (None, Some(builtin)) => builtin,
            (Some(ids), Some(builtin)) if *ids == builtin.ids() => builtin,
            (Some(ids), _) => Permissions::parse(ids.iter().map(String::as_str)).ok()?,
            (None, None) => return None,
        };
        Some(Held { role, permissions })
    }
}

/// One account of a lineage: whether it is active, whether it requires a second factor for
/// its account tokens, and the role the holder has on it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub account_id: AccountId,
    pub active: bool,
    pub requires_mfa: bool,
    pub held: Option<Held>,
}

/// What a credential may reach: an account-scoped one only its account and that account's
/// descendants, with at most the role it was issued with (or, for an API key, holds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub account_id: Option<AccountId>,
    pub cap: Option<Held>,
}

/// Where a holder stands on an account: the role it acts with there, what that lets it do,
/// and the ancestor whose membership the role comes from when not its own (API.md §11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub role: RoleId,
    pub permissions: Permissions,
    pub inherited_from: Option<AccountId>,
}

impl Standing {
    /// How a superadmin's user-level token acts on any account: as its owner (API.md §2).
    pub fn superadmin() -> Standing {
        Standing {
            role: Builtin::Owner.into(),
            permissions: Builtin::Owner.permissions(),
            inherited_from: None,
        }
    }

    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// Whether this standing passes down to the account's descendants, as an owner's or an
    /// admin's does (API.md §8); a custom role's stays on its account.
    pub fn reaches_descendants(&self) -> bool {
        self.role
            .builtin()
            .is_some_and(Builtin::reaches_descendants)
    }

    /// At most what `cap` allows: the permissions both hold, under the cap's role when the cap
    /// does not cover this one (a member's token of an owner acts as a member).
    pub fn capped_by(self, cap: &Held) -> Standing {
        let permissions = self.permissions.intersection(&cap.permissions);
        if cap.permissions.covers(&self.permissions) {
            return Standing {
                permissions,
                ..self
            };
        }
        Standing {
            role: cap.role.clone(),
            permissions,
            inherited_from: None,
        }
    }
}

/// The holder's standing on `lineage[0]` (the account itself, followed by its parent,
/// grandparent …): its own role there, or `admin` when it is owner or admin of an ancestor
/// (the nearest such ancestor is `inherited_from`), whichever lets it do more (its own on a
/// tie, or when neither covers the other), capped by the credential's reach. `None` means no
/// relation, which callers answer with 404 so as not to reveal that the account exists.
pub fn standing(lineage: &[Link], reach: &Reach) -> Option<Standing> {
    if let Some(scope) = &reach.account_id
        && !lineage.iter().any(|link| &link.account_id == scope)
    {
        return None;
    }
    let (account, ancestors) = lineage.split_first()?;
    let inherited = ancestors
        .iter()
        .find(|link| {
            link.held
                .as_ref()
                .and_then(|held| held.role.builtin())
                .is_some_and(Builtin::reaches_descendants)
        })
        .map(|link| Standing {
            inherited_from: Some(link.account_id.clone()),
            ..Standing::from(Held::builtin(Builtin::Admin))
        });
    let own = account.held.clone().map(Standing::from);
    let standing = match (own, inherited) {
        (Some(own), Some(inherited))
            if inherited.permissions.covers(&own.permissions)
                && inherited.permissions != own.permissions =>
        {
            inherited
        }
        (Some(own), _) => own,
        (None, inherited) => inherited?,
    };
    Some(match &reach.cap {
        Some(cap) => standing.capped_by(cap),
        None => standing,
    })
}

impl From<Held> for Standing {
    fn from(held: Held) -> Standing {
        Standing {
            role: held.role,
            permissions: held.permissions,
            inherited_from: None,
        }
    }
}

/// Whether every account of the lineage is active: a suspension covers the subtree.
pub fn is_active(lineage: &[Link]) -> bool {
    lineage.iter().all(|link| link.active)
}

/// Whether the account or an ancestor requires a second factor for its account tokens.
pub fn requires_mfa(lineage: &[Link]) -> bool {
    lineage.iter().any(|link| link.requires_mfa)
}

/// Whether the user whose roles `lineage` carries is a member of its account or of one of
/// that account's ancestors: such a user already trusts the account's clients.
pub fn is_member_along(lineage: &[Link]) -> bool {
    lineage.iter().any(|link| link.held.is_some())
}

/// Whether a caller who may do `caller` may give someone a role that allows `role` (by
/// adding, inviting, or issuing a key): never more than the caller may do itself.
pub fn may_grant(caller: &Permissions, role: &Permissions) -> bool {
    caller.covers(role)
}

/// Whether a caller may change a member's role from `current` to `new`: it must cover both,
/// so nobody demotes a holder of more than it has.
pub fn may_change_role(caller: &Permissions, current: &Permissions, new: &Permissions) -> bool {
    caller.covers(current) && caller.covers(new)
}

/// Whether a caller may remove a member holding `target`; anyone may leave.
pub fn may_remove(caller: &Permissions, is_self: bool, target: &Permissions) -> bool {
    is_self || (caller.contains(Permission::MembersWrite) && caller.covers(target))
}

/// Whether the user of `lineage` (the account first, then its ancestors) is a member of an
/// ancestor, in any role: such a user already belongs to the organisation, and may be added
/// to the account without being asked (API.md §8).
pub fn belongs_to_an_ancestor(lineage: &[Link]) -> bool {
    lineage.iter().skip(1).any(|link| link.held.is_some())
}

#[cfg(test)]
mod tests {
    use super::{
        Held, Link, Reach, belongs_to_an_ancestor, may_change_role, may_grant, may_remove, standing,
    };
    use crate::ids::AccountId;
    use crate::permission::Permissions;
    use crate::role::{Builtin, RoleId};

    fn lineage(roles: &[Option<Builtin>]) -> Vec<Link> {
        roles
            .iter()
            .map(|role| Link {
                account_id: AccountId::generate(),
                active: true,
                requires_mfa: false,
                held: role.map(Held::builtin),
            })
            .collect()
    }

    fn role_of(lineage: &[Link], reach: &Reach) -> Option<Builtin> {
        standing(lineage, reach).map(|s| {
            let role = s.role.builtin().unwrap();
            // The built-in roles act with exactly their own permissions, or less if capped.
            assert!(role.permissions().covers(&s.permissions));
            role
        })
    }

    #[test]
    fn own_membership_or_ancestor_admin_decides() {
        let any = Reach::default();
        use Builtin::*;
        assert_eq!(role_of(&[], &any), None);
        assert_eq!(role_of(&lineage(&[None, None]), &any), None);
        assert_eq!(role_of(&lineage(&[Some(Viewer)]), &any), Some(Viewer));
        let chain = lineage(&[None, None, Some(Owner)]);
        let inherited = standing(&chain, &any).unwrap();
        assert_eq!(inherited.role.builtin(), Some(Admin));
        assert_eq!(
            inherited.inherited_from.as_ref(),
            Some(&chain[2].account_id)
        );
        let chain = lineage(&[Some(Viewer), Some(Admin)]);
        assert_eq!(
            standing(&chain, &any).unwrap().inherited_from.as_ref(),
            Some(&chain[1].account_id)
        );
        // Its own admin role needs no ancestor to explain it.
        let own = standing(&lineage(&[Some(Admin), Some(Owner)]), &any).unwrap();
        assert_eq!(
            (own.role.builtin(), own.inherited_from),
            (Some(Admin), None)
        );
        assert_eq!(
            role_of(&lineage(&[Some(Owner), Some(Admin)]), &any),
            Some(Owner)
        );
        // A member of the parent is nothing in the child.
        assert_eq!(role_of(&lineage(&[None, Some(Member)]), &any), None);
    }

    #[test]
    fn a_custom_role_stays_unless_the_inherited_admin_covers_it() {
        let custom = |ids: &[&str]| Held {
            role: RoleId::parse("support").unwrap(),
            permissions: Permissions::parse(ids.iter().copied()).unwrap(),
        };
        let mut chain = lineage(&[None, Some(Builtin::Admin)]);
        chain[0].held = Some(custom(&["members:read", "app:tickets"]));
        // Admins hold every application permission: the inherited admin covers it.
        assert_eq!(role_of(&chain, &Reach::default()), Some(Builtin::Admin));
        chain[0].held = Some(custom(&["account:delete"]));
        let own = standing(&chain, &Reach::default()).unwrap();
        assert_eq!(own.role.as_str(), "support");
        assert_eq!(own.inherited_from, None);
    }

    #[test]
    fn an_account_scoped_credential_reaches_its_account_and_descendants_only() {
        let chain = lineage(&[Some(Builtin::Owner), Some(Builtin::Owner)]);
        let child_scope = Reach {
            account_id: Some(chain[0].account_id.clone()),
            cap: Some(Held::builtin(Builtin::Owner)),
        };
        let parent_scope = Reach {
            account_id: Some(chain[1].account_id.clone()),
            cap: Some(Held::builtin(Builtin::Member)),
        };
        let elsewhere = Reach {
            account_id: Some(AccountId::generate()),
            cap: Some(Held::builtin(Builtin::Owner)),
        };
        assert_eq!(role_of(&chain, &child_scope), Some(Builtin::Owner));
        let capped = standing(&chain, &parent_scope).unwrap();
        assert_eq!(capped.permissions, Builtin::Member.permissions());
        assert_eq!(capped.role.builtin(), Some(Builtin::Member));
        assert_eq!(role_of(&chain, &elsewhere), None);
        // Scoped to the child, the parent is out of reach.
        assert_eq!(role_of(&chain[1..], &child_scope), None);
    }

    #[test]
    fn only_owners_grant_or_touch_owners() {
        let [owner, admin, member, viewer] = Builtin::ALL.map(Builtin::permissions);
        assert!(may_grant(&admin, &admin));
        assert!(!may_grant(&admin, &owner));
        assert!(may_grant(&owner, &owner));
        assert!(!may_change_role(&admin, &owner, &admin));
        assert!(may_change_role(&owner, &owner, &admin));
        assert!(may_change_role(&admin, &member, &admin));
        assert!(may_remove(&viewer, true, &viewer));
        assert!(!may_remove(&member, false, &viewer));
        assert!(!may_remove(&admin, false, &owner));
        assert!(may_remove(&owner, false, &owner));
        // A custom role that may manage members still cannot hand out more than it has.
        let manager =
            Permissions::parse(["members:read", "members:write", "account:read"]).unwrap();
        assert!(may_grant(&manager, &viewer));
        assert!(!may_grant(&manager, &member));
        assert!(!may_grant(&manager, &owner));
        assert!(!may_remove(&manager, false, &admin));
    }

    #[test]
    fn only_a_membership_above_the_account_counts_as_belonging() {
        use Builtin::*;
        assert!(belongs_to_an_ancestor(&lineage(&[
            None,
            None,
            Some(Viewer)
        ])));
        assert!(!belongs_to_an_ancestor(&lineage(&[Some(Owner), None])));
        assert!(!belongs_to_an_ancestor(&lineage(&[None])));
        assert!(!belongs_to_an_ancestor(&[]));
    }
}
