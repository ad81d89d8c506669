//! API keys: account-scoped machine credentials with a role. The secret is `tsk_` followed by
//! 256 random bits (base64url), shown once and stored as its SHA-256 digest; the prefix tells
//! a key from a JWT at a glance.

use std::sync::atomic::{AtomicI64, Ordering};

use serde::Serialize;

use crate::access::Held;
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
}

/// A key as authentication found it: the key, the role it holds on its account, and when its
/// use was last written down. The store's cache hands out this one value to every request
/// with the key, so they share that moment and one of them a minute writes the use.
#[derive(Debug)]
pub struct Authenticated {
    pub key: ApiKey,
    pub held: Held,
    noted_use: AtomicI64,
}

impl Authenticated {
    pub fn new(key: ApiKey, held: Held) -> Authenticated {
        let noted_use = AtomicI64::new(key.last_used_at.map_or(i64::MIN, |at| at.0));
        Authenticated {
            key,
            held,
            noted_use,
        }
    }

    /// Whether this request writes down the use at `now`: none was within
    /// [`LAST_USED_GRANULARITY_SECONDS`], and no other request claimed it first.
    pub fn claim_use(&self, now: i64) -> bool {
        let last = self.noted_use.load(Ordering::Relaxed);
        now.saturating_sub(last) >= LAST_USED_GRANULARITY_SECONDS
            && self
                .noted_use
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::{ApiKey, ApiKeyStatus, Authenticated, generate, looks_like_key};
    use crate::access::Held;
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
    }

    #[test]
    fn one_use_a_minute_is_written_down_whoever_shares_the_key() {
        let mut key = ApiKey::new(
            AccountId::generate(),
            "ci".into(),
            Builtin::Member.into(),
            None,
            None,
            0,
        );
        let never_used = Authenticated::new(key.clone(), Held::builtin(Builtin::Member));
        assert!(never_used.claim_use(10));
        assert!(!never_used.claim_use(10), "claimed once");
        key.last_used_at = Some(Timestamp(10));
        let used = Authenticated::new(key, Held::builtin(Builtin::Member));
        assert!(!used.claim_use(69));
        assert!(used.claim_use(70));
        assert!(!used.claim_use(71));
    }
}
