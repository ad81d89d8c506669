//! Roles: the four built-in ones (`owner`, `admin`, `member`, `viewer`) with fixed permission
//! sets, and custom roles an account defines for itself and its descendants (API.md §11).
//! Members, invitations and API keys hold a role by its id.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::permission::{Permission, Permissions};
use crate::text;
use crate::validation::FieldError;

fn fail(field: &'static str, message: &str) -> FieldError {
    FieldError {
        field,
        message: message.to_owned(),
    }
}

/// The `role` of a token a client obtained for itself (client credentials): no custom role
/// may take it, or a user's token would read as a client's.
pub const CLIENT_ROLE: &str = "client";

/// A built-in role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Builtin {
    /// In the order role lists show them.
    pub const ALL: [Builtin; 4] = [
        Builtin::Owner,
        Builtin::Admin,
        Builtin::Member,
        Builtin::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Owner => "owner",
            Builtin::Admin => "admin",
            Builtin::Member => "member",
            Builtin::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|role| role.as_str() == text)
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Owner => "Owner",
            Builtin::Admin => "Admin",
            Builtin::Member => "Member",
            Builtin::Viewer => "Viewer",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Builtin::Owner => "Everything, including deleting the account and granting owner",
            Builtin::Admin => "Everything but deleting or suspending the account",
            Builtin::Member => "Sees the account and its members; works with its files",
            Builtin::Viewer => "Sees the account and its members",
        }
    }

    /// The fixed sets that keep the rules of the ranked roles (API.md §11): an admin lacks
    /// only `account:delete`, which is also why it cannot grant `owner`.
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        match self {
            Builtin::Owner => Permissions::all(),
            Builtin::Admin => Permissions::of(&[
                AccountRead,
                AccountWrite,
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
            ])
            .with_every_app(),
            Builtin::Member => Permissions::of(&[AccountRead, MembersRead, FilesRead, FilesWrite]),
            Builtin::Viewer => Permissions::of(&[AccountRead, MembersRead]),
        }
    }

    /// Whether holding this role on an account makes its holder an admin of every
    /// descendant (API.md §8: an owner or admin of a parent is admin of its descendants).
    pub fn reaches_descendants(self) -> bool {
        matches!(self, Builtin::Owner | Builtin::Admin)
    }
}

/// A role's id: a built-in name, or a custom role's slug (`[a-z0-9_-]{2,32}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[schema(value_type = String, example = "admin")]
pub struct RoleId(String);

impl RoleId {
    pub fn parse(text: &str) -> Option<RoleId> {
        let well_formed = (2..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        well_formed.then(|| RoleId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn builtin(&self) -> Option<Builtin> {
        Builtin::parse(&self.0)
    }

    pub fn is(&self, role: Builtin) -> bool {
        self.0 == role.as_str()
    }
}

impl From<Builtin> for RoleId {
    fn from(role: Builtin) -> RoleId {
        RoleId(role.as_str().to_owned())
    }
}

impl std::fmt::Display for RoleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RoleId, D::Error> {
        let text = String::deserialize(deserializer)?;
        RoleId::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("a role id is 2 to 32 of a-z, 0-9, '_' and '-'")
        })
    }
}

/// A role as `GET /v1/accounts/{acc}/roles` shows it. `account_id` is where a custom role
/// is defined (`None` for a built-in one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub permissions: Permissions,
    pub builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// The fields a custom role's `PATCH` may change; the rest are read-only.
const PATCHABLE: [&str; 3] = ["name", "description", "permissions"];

impl Role {
    /// A custom role for `account_id`, if its fields are valid: an id that is a slug and not
    /// a built-in name, a one-line name (1 to 100 characters), a description of at most 1000
    /// characters, and permissions from the catalogue or `app:<name>`.
    pub fn custom(
        account_id: &AccountId,
        id: &str,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
        now: i64,
    ) -> Result<Role, Vec<FieldError>> {
        let mut errors = Vec::new();
        let id = RoleId::parse(id);
        match &id {
            None => errors.push(fail("id", "must be 2 to 32 of a-z, 0-9, '_' and '-'")),
            Some(id) if id.builtin().is_some() => {
                errors.push(fail("id", "is a built-in role's id"));
            }
            Some(id) if id.as_str() == CLIENT_ROLE => {
                errors.push(fail("id", "is the role of client credentials tokens"));
            }
            Some(_) => {}
        }
        let role = Role {
            id: id.unwrap_or_else(|| Builtin::Viewer.into()),
            name: name.trim().to_owned(),
            description: description.map(str::to_owned),
            permissions: Permissions::default(),
            builtin: false,
            account_id: Some(account_id.clone()),
            created_at: Some(Timestamp(now)),
            updated_at: Some(Timestamp(now)),
        };
        match role.with_fields(permissions, &mut errors) {
            Some(role) if errors.is_empty() => Ok(role),
            _ => Err(errors),
        }
    }

    /// The role after an RFC 7396 merge patch of `name`, `description` (`null` removes it)
    /// and `permissions`.
    pub fn merge_patch(&self, patch: &Value, now: i64) -> Result<Role, Vec<FieldError>> {
        let Value::Object(fields) = patch else {
            return Err(vec![fail("body", "must be a JSON object")]);
        };
        if let Some(field) = fields.keys().find(|key| !PATCHABLE.contains(&key.as_str())) {
            return Err(vec![FieldError {
                field: "body",
                message: format!("`{field}` cannot be changed"),
            }]);
        }
        let mut document = json!({
            "name": self.name,
            "description": self.description,
            "permissions": self.permissions.ids(),
        });
        json_patch::merge(&mut document, patch);
        let mut errors = Vec::new();
        let name = match &document["name"] {
            Value::String(name) => name.trim().to_owned(),
            _ => {
                errors.push(fail("name", "must be a string"));
                self.name.clone()
            }
        };
        let description = match &document["description"] {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            _ => {
                errors.push(fail("description", "must be a string or null"));
                None
            }
        };
        let permissions: Vec<String> = match &document["permissions"] {
            Value::Array(ids) => ids
                .iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .unwrap_or_else(|| {
                    errors.push(fail("permissions", "must be an array of strings"));
                    Vec::new()
                }),
            _ => {
                errors.push(fail("permissions", "must be an array of strings"));
                Vec::new()
            }
        };
        let role = Role {
            name,
            description,
            updated_at: Some(Timestamp(now)),
            ..self.clone()
        };
        match role.with_fields(&permissions, &mut errors) {
            Some(role) if errors.is_empty() => Ok(role),
            _ => Err(errors),
        }
    }

    /// The role with `permissions` parsed, after checking its name and description; what is
    /// wrong goes to `errors`.
    fn with_fields(self, permissions: &[String], errors: &mut Vec<FieldError>) -> Option<Role> {
        let length = self.name.chars().count();
        if !(1..=100).contains(&length) || !text::is_one_line(&self.name) {
            errors.push(fail("name", "must be 1 to 100 characters on one line"));
        }
        if let Some(description) = &self.description
            && (description.chars().count() > 1000 || text::has_control_characters(description))
        {
            errors.push(fail(
                "description",
                "must be at most 1000 characters without control characters",
            ));
        }
        let permissions = match Permissions::parse(permissions.iter().map(String::as_str)) {
            Ok(permissions) => permissions,
            Err(unknown) => {
                errors.push(FieldError {
                    field: "permissions",
                    message: format!(
                        "`{unknown}` is neither in the catalogue (GET /v1/permissions) nor \
                         app:<name> ([a-z0-9_.:-]{{1,64}})"
                    ),
                });
                return None;
            }
        };
        Some(Role {
            permissions,
            ..self
        })
    }

    pub fn builtin(role: Builtin) -> Role {
        Role {
            id: role.into(),
            name: role.name().to_owned(),
            description: Some(role.description().to_owned()),
            permissions: role.permissions(),
            builtin: true,
            account_id: None,
            created_at: None,
            updated_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Builtin, Role, RoleId};
    use crate::ids::AccountId;
    use crate::permission::Permission;

    #[test]
    fn a_custom_role_is_checked_field_by_field() {
        let account = AccountId::generate();
        let perms = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        let role = Role::custom(
            &account,
            "support",
            "Support",
            None,
            &perms(&["members:read", "app:tickets.read"]),
            1,
        )
        .unwrap();
        assert_eq!(role.permissions.ids(), ["members:read", "app:tickets.read"]);
        let fields = |result: Result<Role, Vec<crate::validation::FieldError>>| {
            result
                .unwrap_err()
                .iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        for reserved in ["owner", "client"] {
            assert_eq!(
                fields(Role::custom(&account, reserved, "X", None, &[], 1)),
                ["id"]
            );
        }
        assert_eq!(
            fields(Role::custom(&account, "S", "", None, &perms(&["root"]), 1)),
            ["id", "name", "permissions"]
        );
        let patched = role
            .merge_patch(
                &json!({"permissions": ["account:read"], "description": "Helps"}),
                2,
            )
            .unwrap();
        assert_eq!(patched.permissions.ids(), ["account:read"]);
        assert_eq!(patched.description.as_deref(), Some("Helps"));
        assert_eq!(
            fields(role.merge_patch(&json!({"id": "other"}), 2)),
            ["body"]
        );
        assert_eq!(
            fields(role.merge_patch(&json!({"permissions": "x"}), 2)),
            ["permissions"]
        );
        assert_eq!(
            fields(role.merge_patch(&json!({"name": null}), 2)),
            ["name"]
        );
    }

    #[test]
    fn builtin_roles_nest_as_the_ranks_did() {
        let [owner, admin, member, viewer] = Builtin::ALL.map(Builtin::permissions);
        assert!(owner.covers(&admin) && !admin.covers(&owner));
        assert!(admin.covers(&member) && !member.covers(&admin));
        assert!(member.covers(&viewer) && !viewer.covers(&member));
        assert!(!admin.contains(Permission::AccountDelete));
        assert!(!member.contains(Permission::ClientsRead));
        assert!(!member.contains(Permission::AuditRead));
        assert!(!member.contains(Permission::BillingRead));
        for role in Builtin::ALL {
            assert_eq!(Builtin::parse(role.as_str()), Some(role));
            assert_eq!(RoleId::from(role).builtin(), Some(role));
        }
        assert_eq!(Builtin::parse("Owner"), None);
    }

    #[test]
    fn role_ids_are_slugs() {
        assert!(RoleId::parse("support-tier_2").is_some());
        assert!(RoleId::parse("x").is_none());
        assert!(RoleId::parse(&"x".repeat(33)).is_none());
        assert!(RoleId::parse("Support").is_none());
        assert!(RoleId::parse("a b").is_none());
    }
}
