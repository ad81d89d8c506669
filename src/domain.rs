//! An account's email domains (API.md §12): a claimed name, proved by a DNS TXT record
//! holding the claim's challenge. A name is verified by one account at a time.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{AccountId, DomainId};

/// Where the challenge is published: `_tessera-challenge.<domain>`.
pub const CHALLENGE_LABEL: &str = "_tessera-challenge";
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// A claim on a domain name by an account.
#[derive(Clone, Debug)]
pub struct Domain {
    pub id: DomainId,
    pub account_id: AccountId,
    /// Lower case, IDNA (punycode) for international names.
    pub name: String,
    /// The TXT value that proves control: public in DNS anyway, so stored as is.
    pub challenge: String,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Domain {
    /// The name of the TXT record that verifies the claim.
    pub fn challenge_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.name)
    }

    pub fn status(&self) -> DomainStatus {
        if self.verified_at.is_some() {
            DomainStatus::Verified
        } else {
            DomainStatus::Pending
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    Pending,
    Verified,
}

/// The canonical form of a domain name a request names: a host name of two labels or more,
/// lower case, international names in IDNA form; not an IP address, no trailing dot, at most
/// 253 characters. The message says what is wrong.
pub fn parse_name(text: &str) -> Result<String, &'static str> {
    const HOSTNAME: &str = "must be a domain name such as example.com";
    if text.ends_with('.') {
        return Err("must not end with a dot");
    }
    if text.trim() != text || text.is_empty() {
        return Err(HOSTNAME);
    }
    let name = match url::Host::parse(text) {
        Ok(url::Host::Domain(name)) => name,
        Ok(_) => return Err("must be a domain name, not an IP address"),
        Err(_) => return Err(HOSTNAME),
    };
    let labels: Vec<&str> = name.split('.').collect();
    let valid_label = |label: &&str| {
        (1..=MAX_LABEL).contains(&label.len())
            && label
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_level = labels.last().copied().unwrap_or_default();
    if labels.len() < 2
        || name.len() > MAX_NAME
        || !labels.iter().all(valid_label)
        || top_level.bytes().all(|byte| byte.is_ascii_digit())
    {
        return Err(HOSTNAME);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn names_are_lower_case_and_international_ones_punycode() {
        assert_eq!(parse_name("Example.COM").as_deref(), Ok("example.com"));
        assert_eq!(
            parse_name("bücher.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        assert_eq!(parse_name("a-b.c.example").as_deref(), Ok("a-b.c.example"));
    }

    #[test]
    fn what_is_not_a_registrable_host_name_is_refused() {
        let long = format!("{}.example", "a.".repeat(130));
        for bad in [
            "",
            "example",
            "example.com.",
            " example.com",
            "127.0.0.1",
            "[::1]",
            "1.2.3.999",
            "-a.example",
            "a_b.example",
            "a..example",
            "ex ample.com",
            "example.com/path",
            "user@example.com",
            long.as_str(),
        ] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }
}
