//! Accounts: the tenants tokens are scoped to, optionally nested under a parent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::AccountId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// An account as stored and as the REST API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub parent_id: Option<AccountId>,
    pub status: AccountStatus,
    pub avatar_url: Option<String>,
    pub billing_email: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub external_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    pub fn new(name: String, parent_id: Option<AccountId>, now: i64) -> Account {
        Account {
            id: AccountId::generate(),
            name,
            parent_id,
            status: AccountStatus::Active,
            avatar_url: None,
            billing_email: None,
            labels: BTreeMap::new(),
            external_id: None,
            created_at: Timestamp(now),
            updated_at: Timestamp(now),
        }
    }
}
