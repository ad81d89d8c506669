//! Accounts: the tenants tokens are scoped to, optionally nested under a parent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::account_profile::{AccountProfile, is_email, is_web_url};
use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::permission::Permission;
use crate::role::RoleId;
use crate::validation::FieldError;

const MAX_LABELS: usize = 64;
const MAX_LABEL_KEY: usize = 64;
const MAX_LABEL_VALUE: usize = 256;
const MAX_TEXT: usize = 200;
const MAX_DESCRIPTION: usize = 1000;
const AUTO_JOIN_RULE: &str = "must be \"off\" or a role id";

/// Fields of an account that no request may set.
pub const READ_ONLY_FIELDS: [&str; 5] = [
    "id",
    "parent_id",
    "email_domains",
    "created_at",
    "updated_at",
];
/// Fields a merge patch may change.
pub const MUTABLE_FIELDS: [&str; 11] = [
    "name",
    "type",
    "description",
    "domain",
    "profile",
    "status",
    "settings",
    "avatar_url",
    "billing_email",
    "labels",
    "external_id",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Suspended,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<AccountStatus> {
        match text {
            "active" => Some(AccountStatus::Active),
            "suspended" => Some(AccountStatus::Suspended),
            _ => None,
        }
    }
}

/// What kind of customer the account is (API.md §13); Tessera treats both alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    #[default]
    Standard,
    Enterprise,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Standard => "standard",
            AccountType::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<AccountType> {
        match text {
            "standard" => Some(AccountType::Standard),
            "enterprise" => Some(AccountType::Enterprise),
            _ => None,
        }
    }
}

/// An account's policies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountSettings {
    /// Where reports of abuse by the account's users go.
    pub abuse_contact_email: Option<String>,
    /// Account-scoped tokens for this account and its descendants come only from a login
    /// with a second factor (API.md §10). Only an owner changes it.
    pub require_mfa: bool,
    /// `"off"`, or the role a user who verifies an email address on one of the account's
    /// verified domains joins it with (API.md §12). Changing it takes `members:write` and
    /// every permission of the role.
    #[serde(serialize_with = "auto_join_as_text")]
    #[schema(value_type = String, example = "off")]
    pub domain_auto_join: Option<RoleId>,
}

/// How `domain_auto_join` reads when no role is set, in the API and in the database.
pub const AUTO_JOIN_OFF: &str = "off";

fn auto_join_as_text<S: Serializer>(
    role: &Option<RoleId>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(role.as_ref().map_or(AUTO_JOIN_OFF, RoleId::as_str))
}

/// `domain_auto_join` as stored or given: `"off"`, else a role id (`None` when it is neither).
pub fn parse_auto_join(text: &str) -> Option<Option<RoleId>> {
    if text == AUTO_JOIN_OFF {
        return Some(None);
    }
    RoleId::parse(text).map(Some)
}

/// An account as stored and as the REST API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AccountType,
    /// Free text, up to 1000 characters.
    pub description: Option<String>,
    /// The account's own web domain (not a verified email domain: those are
    /// `email_domains`).
    pub domain: Option<String>,
    pub parent_id: Option<AccountId>,
    pub status: AccountStatus,
    pub avatar_url: Option<String>,
    pub billing_email: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub external_id: Option<String>,
    pub settings: AccountSettings,
    pub profile: AccountProfile,
    /// The domains the account verified (API.md §12), sorted; changed through its domains.
    pub email_domains: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    pub fn new(name: String, parent_id: Option<AccountId>, now: i64) -> Account {
        Account {
            id: AccountId::generate(),
            name,
            kind: AccountType::Standard,
            description: None,
            domain: None,
            parent_id,
            status: AccountStatus::Active,
            avatar_url: None,
            billing_email: None,
            labels: BTreeMap::new(),
            external_id: None,
            settings: AccountSettings::default(),
            profile: AccountProfile::default(),
            email_domains: Vec::new(),
            created_at: Timestamp(now),
            updated_at: Timestamp(now),
        }
    }
}

impl Account {
    /// Every rule the account's fields break; empty when valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &'static str, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            });
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_TEXT || name != self.name {
            fail(
                "name",
                "must be 1 to 200 characters without surrounding spaces",
            );
        } else if !crate::text::is_one_line(name) {
            fail("name", "must be one line without control characters");
        }
        if let Some(url) = &self.avatar_url
            && !is_web_url(url)
        {
            fail("avatar_url", "must be an absolute http or https URL");
        }
        if let Some(email) = &self.billing_email
            && !is_email(email)
        {
            fail("billing_email", "must be an email address");
        }
        if let Some(description) = &self.description
            && (description.trim().is_empty()
                || description.chars().count() > MAX_DESCRIPTION
                || crate::text::has_control_characters(description))
        {
            fail("description", "must be 1 to 1000 characters");
        }
        if let Some(domain) = &self.domain
            && crate::domain::parse_name(domain).ok().as_ref() != Some(domain)
        {
            fail(
                "domain",
                "must be a domain name in lower case, e.g. acme.example",
            );
        }
        if let Some(email) = &self.settings.abuse_contact_email
            && !is_email(email)
        {
            fail("settings.abuse_contact_email", "must be an email address");
        }
        if self
            .external_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.chars().count() > MAX_TEXT)
        {
            fail("external_id", "must be 1 to 200 characters");
        }
        if self.labels.len() > MAX_LABELS
            || self.labels.iter().any(|(key, value)| {
                key.is_empty()
                    || key.chars().count() > MAX_LABEL_KEY
                    || value.chars().count() > MAX_LABEL_VALUE
            })
        {
            fail(
                "labels",
                "at most 64 labels, keys 1 to 64 and values up to 256 characters",
            );
        }
        errors.extend(self.profile.validate(true));
        errors
    }

    /// The account after a JSON Merge Patch (RFC 7396): `null` removes an optional field
    /// (and a label), read-only and unknown fields are refused. Validate the result.
    pub fn merge_patch(&self, patch: &Value) -> Result<Account, Vec<FieldError>> {
        let fail = |field: &'static str, message: &str| {
            vec![FieldError {
                field,
                message: message.to_owned(),
            }]
        };
        let Some(fields) = patch.as_object() else {
            return Err(fail("body", "a merge patch of an account is a JSON object"));
        };
        let mut errors = Vec::new();
        for key in fields.keys() {
            if let Some(field) = READ_ONLY_FIELDS.iter().find(|field| *field == key) {
                errors.push(FieldError {
                    field,
                    message: "is read-only".into(),
                });
            } else if !MUTABLE_FIELDS.contains(&key.as_str()) {
                errors.push(FieldError {
                    field: "body",
                    message: format!("unknown field `{key}`"),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut document = serde_json::to_value(self).map_err(|_| fail("body", "invalid"))?;
        json_patch::merge(&mut document, patch);
        let text = |field: &'static str| -> Result<Option<String>, Vec<FieldError>> {
            match &document[field] {
                Value::Null => Ok(None),
                Value::String(text) => Ok(Some(text.clone())),
                _ => Err(fail(field, "must be a string or null")),
            }
        };
        let name = text("name")?.ok_or_else(|| fail("name", "is required"))?;
        let status = match &document["status"] {
            Value::String(status) => AccountStatus::parse(status),
            _ => None,
        }
        .ok_or_else(|| fail("status", "must be active or suspended"))?;
        let labels = match &document["labels"] {
            Value::Null => BTreeMap::new(),
            Value::Object(labels) => labels
                .iter()
                .map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect::<Option<_>>()
                .ok_or_else(|| fail("labels", "values must be strings"))?,
            _ => return Err(fail("labels", "must be an object")),
        };
        let settings = match &document["settings"] {
            Value::Object(settings) => {
                if let Some(unknown) = settings.keys().find(|key| {
                    !["require_mfa", "domain_auto_join", "abuse_contact_email"]
                        .contains(&key.as_str())
                }) {
                    return Err(vec![FieldError {
                        field: "settings",
                        message: format!("unknown setting `{unknown}`"),
                    }]);
                }
                AccountSettings {
                    abuse_contact_email: match settings.get("abuse_contact_email") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(text)) => Some(text.clone()),
                        Some(_) => {
                            return Err(fail(
                                "settings.abuse_contact_email",
                                "must be a string or null",
                            ));
                        }
                    },
                    require_mfa: match settings.get("require_mfa") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(on)) => *on,
                        Some(_) => return Err(fail("settings.require_mfa", "must be a boolean")),
                    },
                    domain_auto_join: match settings.get("domain_auto_join") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(text)) => parse_auto_join(text)
                            .ok_or_else(|| fail("settings.domain_auto_join", AUTO_JOIN_RULE))?,
                        Some(_) => return Err(fail("settings.domain_auto_join", AUTO_JOIN_RULE)),
                    },
                }
            }
            Value::Null => AccountSettings::default(),
            _ => return Err(fail("settings", "must be an object")),
        };
        let kind = match &document["type"] {
            Value::String(kind) => AccountType::parse(kind),
            _ => None,
        }
        .ok_or_else(|| fail("type", "must be standard or enterprise"))?;
        let profile = match &document["profile"] {
            Value::Null => AccountProfile::default(),
            profile => serde_json::from_value(profile.clone()).map_err(|error| {
                vec![FieldError {
                    field: "profile",
                    message: format!("{error}"),
                }]
            })?,
        };
        Ok(Account {
            name,
            kind,
            description: text("description")?,
            domain: text("domain")?,
            profile,
            status,
            settings,
            avatar_url: text("avatar_url")?,
            billing_email: text("billing_email")?,
            labels,
            external_id: text("external_id")?,
            ..self.clone()
        })
    }

    /// The permission changing `field` (a name from [`Account::changed_fields`]) needs:
    /// suspending and the security policy weigh as much as deleting (owners only, among the
    /// built-in roles); billing details are billing's; who joins by domain is the members'
    /// (and the role's permissions, checked apart); the rest is the account's own.
    pub fn permission_to_change(field: &str) -> Permission {
        match field {
            "status" | "settings.require_mfa" => Permission::AccountDelete,
            "billing_email" => Permission::BillingWrite,
            "settings.domain_auto_join" => Permission::MembersWrite,
            _ => Permission::AccountWrite,
        }
    }

    /// The permissions that may change some field: who holds none may not patch at all.
    pub const CHANGING: [Permission; 4] = [
        Permission::AccountWrite,
        Permission::BillingWrite,
        Permission::AccountDelete,
        Permission::MembersWrite,
    ];

    /// The names of the fields that differ from `other`.
    pub fn changed_fields(&self, other: &Account) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.name != other.name {
            changed.push("name");
        }
        if self.kind != other.kind {
            changed.push("type");
        }
        if self.description != other.description {
            changed.push("description");
        }
        if self.domain != other.domain {
            changed.push("domain");
        }
        if self.settings.abuse_contact_email != other.settings.abuse_contact_email {
            changed.push("settings.abuse_contact_email");
        }
        changed.extend(self.profile.changed_fields(&other.profile, true));
        if self.status != other.status {
            changed.push("status");
        }
        if self.avatar_url != other.avatar_url {
            changed.push("avatar_url");
        }
        if self.billing_email != other.billing_email {
            changed.push("billing_email");
        }
        if self.labels != other.labels {
            changed.push("labels");
        }
        if self.external_id != other.external_id {
            changed.push("external_id");
        }
        if self.settings.require_mfa != other.settings.require_mfa {
            changed.push("settings.require_mfa");
        }
        if self.settings.domain_auto_join != other.settings.domain_auto_join {
            changed.push("settings.domain_auto_join");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Account, AccountStatus};

    #[test]
    fn merge_patch_sets_removes_and_refuses() {
        let mut account = Account::new("Acme".into(), None, 0);
        account.labels.insert("tier".into(), "gold".into());
        account.external_id = Some("ext-1".into());
        let patched = account
            .merge_patch(&json!({
                "name": "Acme Inc",
                "external_id": null,
                "labels": {"tier": null, "region": "eu"},
                "status": "suspended"
            }))
            .unwrap();
        assert_eq!(patched.name, "Acme Inc");
        assert_eq!(patched.external_id, None);
        assert_eq!(patched.labels.len(), 1);
        assert_eq!(patched.labels["region"], "eu");
        assert_eq!(patched.status, AccountStatus::Suspended);
        assert_eq!(
            patched.changed_fields(&account),
            ["name", "status", "labels", "external_id"]
        );
        for bad in [
            json!({"id": "acc_x"}),
            json!({"parent_id": null}),
            json!({"nickname": "x"}),
            json!({"name": null}),
            json!({"name": 5}),
            json!({"status": "gone"}),
            json!({"labels": {"a": 1}}),
            json!([]),
        ] {
            assert!(account.merge_patch(&bad).is_err(), "{bad}");
        }
        assert!(account.merge_patch(&json!({})).is_ok());
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut account = Account::new(" ".into(), None, 0);
        account.avatar_url = Some("javascript:alert(1)".into());
        account.billing_email = Some("nope".into());
        let fields: Vec<_> = account.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "avatar_url", "billing_email"]);
        assert!(Account::new("Acme".into(), None, 0).validate().is_empty());
    }
}
