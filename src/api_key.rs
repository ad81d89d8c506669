//! API keys: account-scoped machine credentials with a role. The secret is `tsk_` followed by
//! 256 random bits (base64url), shown once and stored as its SHA-256 digest; the prefix tells
//! a key from a JWT at a glance.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{AccountId, ApiKeyId, UserId};
use crate::role::RoleId;
use crate::secret;

/// What every API key secret starts with.
pub const PREFIX: &str = "tsk_";

/// How stale `last_used_at` may get: a key used again within this many seconds of its last
/// recorded use is not written again.
pub const LAST_USED_GRANULARITY_SECONDS: i64 = 60;

/// A fresh API key secret.
pub fn generate() -> String {
    format!("{PREFIX}{}", secret::generate())
}

/// Whether a bearer value is shaped like an API key (and so is not a JWT).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub role: RoleId,
    pub created_by: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ApiKey {
    pub fn new(
        account_id: AccountId,
        name: String,
        role: RoleId,
        created_by: Option<&UserId>,
        expires_at: Option<Timestamp>,
        now: i64,
    ) -> ApiKey {
        ApiKey {
            id: ApiKeyId::generate(),
            account_id,
            name,
            role,
            created_by: created_by.map(ToString::to_string),
            expires_at,
            last_used_at: None,
            revoked_at: None,
            created_at: Timestamp(now),
            updated_at: Timestamp(now),
        }
    }

    pub fn status_at(&self, now: i64) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at.0 <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
    }

    pub fn is_active(&self, now: i64) -> bool {
        self.status_at(now) == ApiKeyStatus::Active
    }

    /// Whether a use at `now` should be written down (see [`LAST_USED_GRANULARITY_SECONDS`]).
    pub fn use_is_news(&self, now: i64) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at.0 >= LAST_USED_GRANULARITY_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::{ApiKey, ApiKeyStatus, generate, looks_like_key};
    use crate::clock::Timestamp;
    use crate::ids::AccountId;
    use crate::role::Builtin;

    #[test]
    fn keys_are_prefixed_url_safe_and_long() {
        let key = generate();
        assert!(looks_like_key(&key));
        assert_eq!(key.len(), 4 + 43);
        assert!(!looks_like_key("eyJhbGciOi"));
    }

    #[test]
    fn status_follows_revocation_then_expiry() {
        let mut key = ApiKey::new(
            AccountId::generate(),
            "ci".into(),
            Builtin::Member.into(),
            None,
            Some(Timestamp(100)),
            0,
        );
        assert_eq!(key.status_at(99), ApiKeyStatus::Active);
        assert_eq!(key.status_at(100), ApiKeyStatus::Expired);
        key.revoked_at = Some(Timestamp(50));
        assert_eq!(key.status_at(10), ApiKeyStatus::Revoked);
        assert!(key.use_is_news(10));
        key.last_used_at = Some(Timestamp(10));
        assert!(!key.use_is_news(69));
        assert!(key.use_is_news(70));
    }
}
