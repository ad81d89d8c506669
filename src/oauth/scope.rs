//! Scopes (RFC 6749 §3.3): space-separated tokens of printable ASCII, as an ordered set.

use std::fmt;

/// Scopes this server gives meaning to; clients may also be registered with their own.
pub const SUPPORTED: [&str; 5] = ["openid", "profile", "email", "offline_access", MANAGE];

/// What a client registered by a tenant (REST or RFC 7591) may ask for unless it lists more:
/// everything but [`MANAGE`], which lets a token act on the user's behalf on `/v1`.
pub const REGISTERED_DEFAULT: [&str; 4] = ["openid", "profile", "email", "offline_access"];

pub const OPENID: &str = "openid";
pub const OFFLINE_ACCESS: &str = "offline_access";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
/// Lets a user's access token act on the `/v1` management API as that user (API.md §2).
pub const MANAGE: &str = "tessera:manage";

/// Whether `token` is a valid scope token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// A set of scope tokens in first-seen order, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a `scope` parameter; `None` if any token is malformed.
    pub fn parse(text: &str) -> Option<Scope> {
        let mut tokens: Vec<String> = Vec::new();
        for token in text.split(' ').filter(|token| !token.is_empty()) {
            if !is_valid_token(token) {
                return None;
            }
            if !tokens.iter().any(|seen| seen == token) {
                tokens.push(token.to_owned());
            }
        }
        Some(Scope(tokens))
    }

    pub fn from_tokens(tokens: &[String]) -> Scope {
        Scope::parse(&tokens.join(" ")).unwrap_or_default()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|token| other.contains(token))
    }

    /// The tokens of `self` that `allowed` lists, in `self`'s order.
    pub fn intersect(&self, allowed: &[String]) -> Scope {
        Scope(
            self.0
                .iter()
                .filter(|token| allowed.contains(token))
                .cloned()
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A canonical form for comparing consents: sorted.
    pub fn sorted(&self) -> String {
        let mut tokens = self.0.clone();
        tokens.sort();
        tokens.join(" ")
    }

    pub fn tokens(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::{Scope, is_valid_token};

    #[test]
    fn scope_tokens_exclude_spaces_quotes_and_backslashes() {
        assert!(is_valid_token("openid"));
        assert!(is_valid_token("read:invoices"));
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(!is_valid_token(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_parse_dedupe_and_compare_as_sets() {
        let scope = Scope::parse("openid  email openid").unwrap();
        assert_eq!(scope.to_string(), "openid email");
        assert!(scope.contains("email"));
        assert!(Scope::parse("email").unwrap().is_subset_of(&scope));
        assert!(!Scope::parse("email profile").unwrap().is_subset_of(&scope));
        assert_eq!(Scope::parse("b a").unwrap().sorted(), "a b");
        assert!(Scope::parse("bad\"scope").is_none());
        assert!(Scope::parse("").unwrap().is_empty());
    }
}
