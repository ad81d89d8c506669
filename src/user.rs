//! Users: global human identities, unique by email case-insensitively.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::email_address::EmailAddress;
use crate::ids::UserId;

/// A user as stored; serializes as the REST profile (never the password hash).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub superadmin: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(skip)]
    pub updated_at: Timestamp,
    /// Set by an operator: the user cannot log in and none of their tokens stand.
    #[serde(skip)]
    pub disabled_at: Option<Timestamp>,
}

impl User {
    pub fn new(
        email: EmailAddress,
        name: Option<String>,
        password_hash: Option<String>,
        now: i64,
    ) -> User {
        User {
            id: UserId::generate(),
            email: email.into_string(),
            name,
            email_verified: false,
            created_at: Timestamp(now),
            superadmin: false,
            password_hash,
            updated_at: Timestamp(now),
            disabled_at: None,
        }
    }
}
