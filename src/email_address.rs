//! Email addresses as users type them: trimmed, checked for a plausible shape, compared
//! case-insensitively (the database indexes `lower(email)`).

use std::fmt;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts `local@domain` with no spaces or control characters, at most 254 bytes.
    /// Deliverability is proven by the verification link, not by parsing.
    pub fn parse(text: &str) -> Option<EmailAddress> {
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@')?;
        let plausible = !local.is_empty()
            && !domain.is_empty()
            && text.len() <= 254
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        plausible.then(|| EmailAddress(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn plausible_addresses_parse_and_others_do_not() {
        assert_eq!(
            EmailAddress::parse(" Ada@Example.com ").unwrap().as_str(),
            "Ada@Example.com"
        );
        assert!(EmailAddress::parse("admin@localhost").is_some());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a da@example.com",
            "ada@.com",
            "<a>@b.c",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad}");
        }
    }
}
