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

/// Why a display name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    TooLong,
    NotOneLine,
}

impl NameError {
    /// What completes "`name` …" in an API error.
    pub fn message(self) -> &'static str {
        match self {
            NameError::TooLong => "must be at most 200 characters",
            NameError::NotOneLine => "must be one line without control characters",
        }
    }
}

/// The rule for a user's display name, wherever one is given (sign-up, the profile, the
/// operator): trimmed, at most 200 characters on one line without control characters; empty
/// means no name.
pub fn display_name(name: &str) -> Result<Option<String>, NameError> {
    let name = name.trim();
    if name.chars().count() > 200 {
        return Err(NameError::TooLong);
    }
    if !crate::text::is_one_line(name) {
        return Err(NameError::NotOneLine);
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::{NameError, display_name};

    #[test]
    fn display_names() {
        assert_eq!(display_name("  Ada  "), Ok(Some("Ada".to_owned())));
        assert_eq!(display_name("   "), Ok(None));
        assert_eq!(display_name(&"x".repeat(200)), Ok(Some("x".repeat(200))));
        assert_eq!(display_name(&"x".repeat(201)), Err(NameError::TooLong));
        assert_eq!(display_name("a\u{0}b"), Err(NameError::NotOneLine));
        assert_eq!(display_name("a\nb"), Err(NameError::NotOneLine));
    }
}
