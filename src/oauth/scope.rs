//! Scope strings (RFC 6749 §3.3): space-separated tokens of printable ASCII.

/// Scopes this server gives meaning to; clients may also be registered with their own.
pub const SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether `token` is a valid scope token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_valid_token;

    #[test]
    fn scope_tokens_exclude_spaces_quotes_and_backslashes() {
        assert!(is_valid_token("openid"));
        assert!(is_valid_token("read:invoices"));
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(!is_valid_token(bad), "{bad}");
        }
    }
}
