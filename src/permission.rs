//! Permissions: what a role lets its holder do on an account (API.md §11). A fixed
//! catalogue that `/v1` asks for, plus application permissions (`app:<name>`) that only
//! downstream services read from the token.

use std::collections::BTreeSet;

use serde::Serialize;

/// One permission of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    AccountRead,
    AccountWrite,
    AccountDelete,
    MembersRead,
    MembersWrite,
    InvitesWrite,
    RolesWrite,
    ClientsRead,
    ClientsWrite,
    ApiKeysWrite,
    AuditRead,
    WebhooksWrite,
    BillingRead,
    BillingWrite,
    FilesRead,
    FilesWrite,
}

/// The catalogue in its listed order: id and what it allows.
pub const CATALOGUE: [(Permission, &str, &str); 16] = [
    (
        Permission::AccountRead,
        "account:read",
        "See the account and its child accounts",
    ),
    (
        Permission::AccountWrite,
        "account:write",
        "Change the account's details; with every permission of admin, create child accounts",
    ),
    (
        Permission::AccountDelete,
        "account:delete",
        "Delete, suspend or reactivate the account and set its security policy",
    ),
    (
        Permission::MembersRead,
        "members:read",
        "See the account's members and their roles",
    ),
    (
        Permission::MembersWrite,
        "members:write",
        "Add members, change their roles and remove them",
    ),
    (
        Permission::InvitesWrite,
        "invites:write",
        "See, send and revoke invitations",
    ),
    (
        Permission::RolesWrite,
        "roles:write",
        "Create, change and delete custom roles",
    ),
    (
        Permission::ClientsRead,
        "clients:read",
        "See the account's OAuth clients",
    ),
    (
        Permission::ClientsWrite,
        "clients:write",
        "Register, change and delete OAuth clients and rotate their secrets (the account's \
         clients skip its members' consent page: trust it like an admin)",
    ),
    (
        Permission::ApiKeysWrite,
        "api_keys:write",
        "See, create, roll and revoke API keys",
    ),
    (Permission::AuditRead, "audit:read", "Read the audit log"),
    (
        Permission::WebhooksWrite,
        "webhooks:write",
        "See and configure the webhook and rotate its secret",
    ),
    (
        Permission::BillingRead,
        "billing:read",
        "See billing details and records (subscriptions, invoices, payments)",
    ),
    (
        Permission::BillingWrite,
        "billing:write",
        "Change billing details and records",
    ),
    (
        Permission::FilesRead,
        "files:read",
        "Read the account's files",
    ),
    (
        Permission::FilesWrite,
        "files:write",
        "Create, change and delete the account's files",
    ),
];

/// What an application permission starts with; the rest is `[a-z0-9_.:-]{1,64}`.
pub const APP_PREFIX: &str = "app:";

impl Permission {
    pub fn as_str(self) -> &'static str {
        CATALOGUE[self as usize].1
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of permissions: catalogue entries, named application permissions, and for the
/// roles that hold them all (`owner`, `admin`) every application permission, named or not,
/// so that they may grant any custom role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    catalogue: u32,
    apps: BTreeSet<String>,
    every_app: bool,
}

impl Permissions {
    /// Every permission of the catalogue and every application permission.
    pub fn all() -> Permissions {
        Permissions::of(&CATALOGUE.map(|(permission, _, _)| permission)).with_every_app()
    }

    pub fn of(permissions: &[Permission]) -> Permissions {
        Permissions {
            catalogue: permissions.iter().fold(0, |bits, p| bits | p.bit()),
            ..Permissions::default()
        }
    }

    /// The same set, holding every application permission too.
    pub fn with_every_app(self) -> Permissions {
        Permissions {
            every_app: true,
            ..self
        }
    }

    /// Parses permission ids; the first one that is neither in the catalogue nor a
    /// well-formed `app:<name>` is the error.
    pub fn parse<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<Permissions, String> {
        let mut set = Permissions::default();
        for id in ids {
            if let Some((permission, _, _)) = CATALOGUE.iter().find(|(_, name, _)| *name == id) {
                set.catalogue |= permission.bit();
            } else if is_app_permission(id) {
                set.apps.insert(id.to_owned());
            } else {
                return Err(id.to_owned());
            }
        }
        Ok(set)
    }

    pub fn contains(&self, permission: Permission) -> bool {
        self.catalogue & permission.bit() != 0
    }

    /// Whether this set holds every permission of `other`: what granting a role needs.
    pub fn covers(&self, other: &Permissions) -> bool {
        other.catalogue & !self.catalogue == 0
            && (self.every_app || (!other.every_app && other.apps.is_subset(&self.apps)))
    }

    /// What both sets hold: a credential caps the role of its holder.
    pub fn intersection(&self, other: &Permissions) -> Permissions {
        let apps = match (self.every_app, other.every_app) {
            (true, true) => BTreeSet::new(),
            (true, false) => other.apps.clone(),
            (false, true) => self.apps.clone(),
            (false, false) => self.apps.intersection(&other.apps).cloned().collect(),
        };
        Permissions {
            catalogue: self.catalogue & other.catalogue,
            apps,
            every_app: self.every_app && other.every_app,
        }
    }

    /// The ids, catalogue order first, then application permissions by name: the token's
    /// `permissions` claim and the role's list. "Every application permission" has no id;
    /// it shows only in what its holder may grant.
    pub fn ids(&self) -> Vec<String> {
        CATALOGUE
            .iter()
            .filter(|(permission, _, _)| self.contains(*permission))
            .map(|(_, id, _)| (*id).to_owned())
            .chain(self.apps.iter().cloned())
            .collect()
    }

    /// As stored in `roles.permissions`: the ids separated by spaces.
    pub fn to_stored(&self) -> String {
        self.ids().join(" ")
    }

    /// From `roles.permissions`; an id a later version dropped is skipped, not fatal.
    pub fn from_stored(text: &str) -> Permissions {
        Permissions::parse(
            text.split_whitespace().filter(|id| {
                is_app_permission(id) || CATALOGUE.iter().any(|(_, name, _)| name == id)
            }),
        )
        .unwrap_or_default()
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ids().serialize(serializer)
    }
}

/// Whether `id` is `app:` followed by 1 to 64 of `[a-z0-9_.:-]`.
pub fn is_app_permission(id: &str) -> bool {
    id.strip_prefix(APP_PREFIX).is_some_and(|name| {
        (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::{CATALOGUE, Permission, Permissions, is_app_permission};

    #[test]
    fn the_catalogue_is_indexed_by_its_enum() {
        for (index, (permission, id, _)) in CATALOGUE.iter().enumerate() {
            assert_eq!(*permission as usize, index);
            assert_eq!(permission.as_str(), *id);
        }
    }

    #[test]
    fn ids_parse_and_print_in_catalogue_order() {
        let set = Permissions::parse(["files:read", "app:reports.view", "account:read"]).unwrap();
        assert_eq!(
            set.ids(),
            ["account:read", "files:read", "app:reports.view"]
        );
        assert_eq!(Permissions::from_stored(&set.to_stored()), set);
        assert_eq!(
            Permissions::parse(["account:read", "root"]),
            Err("root".to_owned())
        );
        assert!(is_app_permission("app:a"));
        assert!(is_app_permission("app:billing:export-v2"));
        assert!(!is_app_permission("app:"));
        assert!(!is_app_permission("app:Upper"));
        assert!(!is_app_permission(&format!("app:{}", "x".repeat(65))));
        assert!(!is_app_permission("app:*"));
    }

    #[test]
    fn covering_needs_every_permission_of_the_other() {
        let reader = Permissions::of(&[Permission::AccountRead]);
        let writer = Permissions::of(&[Permission::AccountRead, Permission::AccountWrite]);
        assert!(writer.covers(&reader));
        assert!(!reader.covers(&writer));
        let with_app = Permissions::parse(["account:read", "app:x"]).unwrap();
        assert!(!writer.covers(&with_app));
        assert!(Permissions::all().covers(&with_app));
        assert!(!with_app.covers(&Permissions::all()));
        assert!(Permissions::all().covers(&Permissions::all()));
    }

    #[test]
    fn intersection_keeps_what_both_hold() {
        let all = Permissions::all();
        let some = Permissions::parse(["account:read", "app:x"]).unwrap();
        assert_eq!(all.intersection(&some), some);
        assert_eq!(some.intersection(&all), some);
        let other = Permissions::parse(["members:read", "app:x", "app:y"]).unwrap();
        assert_eq!(some.intersection(&other).ids(), ["app:x"]);
    }
}
