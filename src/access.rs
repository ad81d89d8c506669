//! Who may do what on an account: a caller's effective role, from its memberships along the
//! account's ancestry and the reach of its credential, and the rules about granting roles.
//! Pure rules: the lineage is loaded by `store::accounts::lineage`.

use crate::ids::AccountId;
use crate::role::Role;

/// One account of a lineage, and the caller's own membership role on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub account_id: AccountId,
    pub role: Option<Role>,
}

/// What a credential may reach: an account-scoped one only its account and that account's
/// descendants, with at most the role it was issued with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub account_id: Option<AccountId>,
    pub max_role: Option<Role>,
}

/// The caller's effective role on `lineage[0]` (the account itself, followed by its parent,
/// grandparent …): its own membership role, or `admin` when it is owner or admin of any
/// ancestor, whichever is higher, capped by the credential's reach. `None` means no relation,
/// which callers answer with 404 so as not to reveal that the account exists.
pub fn effective_role(lineage: &[Link], reach: &Reach) -> Option<Role> {
    if let Some(scope) = &reach.account_id
        && !lineage.iter().any(|link| &link.account_id == scope)
    {
        return None;
    }
    let (account, ancestors) = lineage.split_first()?;
    let inherited = ancestors
        .iter()
        .any(|link| link.role.is_some_and(|role| role >= Role::Admin))
        .then_some(Role::Admin);
    let role = account.role.max(inherited)?;
    Some(match reach.max_role {
        Some(max) => role.min(max),
        None => role,
    })
}

/// Whether the user whose roles `lineage` carries is a member of its account or of one of
/// that account's ancestors: such a user already trusts the account's clients.
pub fn is_member_along(lineage: &[Link]) -> bool {
    lineage.iter().any(|link| link.role.is_some())
}

/// Whether a caller with `caller` may give someone `role` (by adding or inviting them):
/// admins grant up to admin, only owners grant owner.
pub fn may_grant(caller: Role, role: Role) -> bool {
    caller >= Role::Admin && (role < Role::Owner || caller == Role::Owner)
}

/// Whether a caller with `caller` may change a member's role from `current` to `new`.
pub fn may_change_role(caller: Role, current: Role, new: Role) -> bool {
    may_grant(caller, new) && (current < Role::Owner || caller == Role::Owner)
}

/// Whether a caller may remove a member holding `target`; anyone may leave.
pub fn may_remove(caller: Role, is_self: bool, target: Role) -> bool {
    is_self || (caller >= Role::Admin && (target < Role::Owner || caller == Role::Owner))
}

/// Whether the user of `lineage` (the account first, then its ancestors) is a member of an
/// ancestor, in any role: such a user already belongs to the organisation, and may be added
/// to the account without being asked (API.md §8).
pub fn belongs_to_an_ancestor(lineage: &[Link]) -> bool {
    lineage.iter().skip(1).any(|link| link.role.is_some())
}

#[cfg(test)]
mod tests {
    use super::{
        Link, Reach, belongs_to_an_ancestor, effective_role, may_change_role, may_grant, may_remove,
    };
    use crate::ids::AccountId;
    use crate::role::Role;

    fn lineage(roles: &[Option<Role>]) -> Vec<Link> {
        roles
            .iter()
            .map(|role| Link {
                account_id: AccountId::generate(),
                role: *role,
            })
            .collect()
    }

    #[test]
    fn own_membership_or_ancestor_admin_decides() {
        let any = Reach::default();
        assert_eq!(effective_role(&[], &any), None);
        assert_eq!(effective_role(&lineage(&[None, None]), &any), None);
        assert_eq!(
            effective_role(&lineage(&[Some(Role::Viewer)]), &any),
            Some(Role::Viewer)
        );
        assert_eq!(
            effective_role(&lineage(&[None, None, Some(Role::Owner)]), &any),
            Some(Role::Admin)
        );
        assert_eq!(
            effective_role(&lineage(&[Some(Role::Viewer), Some(Role::Admin)]), &any),
            Some(Role::Admin)
        );
        assert_eq!(
            effective_role(&lineage(&[Some(Role::Owner), Some(Role::Admin)]), &any),
            Some(Role::Owner)
        );
        // A member of the parent is nothing in the child.
        assert_eq!(
            effective_role(&lineage(&[None, Some(Role::Member)]), &any),
            None
        );
    }

    #[test]
    fn an_account_scoped_credential_reaches_its_account_and_descendants_only() {
        let chain = lineage(&[Some(Role::Owner), Some(Role::Owner)]);
        let child_scope = Reach {
            account_id: Some(chain[0].account_id.clone()),
            max_role: Some(Role::Owner),
        };
        let parent_scope = Reach {
            account_id: Some(chain[1].account_id.clone()),
            max_role: Some(Role::Member),
        };
        let elsewhere = Reach {
            account_id: Some(AccountId::generate()),
            max_role: Some(Role::Owner),
        };
        assert_eq!(effective_role(&chain, &child_scope), Some(Role::Owner));
        assert_eq!(effective_role(&chain, &parent_scope), Some(Role::Member));
        assert_eq!(effective_role(&chain, &elsewhere), None);
        // Scoped to the child, the parent is out of reach.
        assert_eq!(effective_role(&chain[1..], &child_scope), None);
    }

    #[test]
    fn only_owners_grant_or_touch_owners() {
        assert!(may_grant(Role::Admin, Role::Admin));
        assert!(!may_grant(Role::Admin, Role::Owner));
        assert!(may_grant(Role::Owner, Role::Owner));
        assert!(!may_grant(Role::Member, Role::Viewer));
        assert!(!may_change_role(Role::Admin, Role::Owner, Role::Admin));
        assert!(may_change_role(Role::Owner, Role::Owner, Role::Admin));
        assert!(may_change_role(Role::Admin, Role::Member, Role::Admin));
        assert!(may_remove(Role::Viewer, true, Role::Viewer));
        assert!(!may_remove(Role::Member, false, Role::Viewer));
        assert!(!may_remove(Role::Admin, false, Role::Owner));
        assert!(may_remove(Role::Owner, false, Role::Owner));
    }

    #[test]
    fn only_a_membership_above_the_account_counts_as_belonging() {
        assert!(belongs_to_an_ancestor(&lineage(&[
            None,
            None,
            Some(Role::Viewer)
        ])));
        assert!(!belongs_to_an_ancestor(&lineage(&[
            Some(Role::Owner),
            None
        ])));
        assert!(!belongs_to_an_ancestor(&lineage(&[None])));
        assert!(!belongs_to_an_ancestor(&[]));
    }
}
