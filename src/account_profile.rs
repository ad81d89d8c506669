//! An account's business profile (API.md §13): who the tenant is as a business, every field
//! optional. Read and replaced alone at `/v1/accounts/{acc}/profile`, merge-patched as the
//! account's `profile`; the rules are here.

use serde::{Deserialize, Serialize};

use crate::email_address::EmailAddress;
use crate::validation::FieldError;

const MAX_NAME: usize = 200;
const MAX_ADDRESS: usize = 1000;
const MAX_URL: usize = 2048;
const MAX_PHONE: usize = 32;

/// The profile's fields, as stored and shown (`null` for the unset ones).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccountProfile {
    pub business_name: Option<String>,
    pub business_email: Option<String>,
    /// Digits with an optional leading `+`, spaces, `-`, `.` and parentheses.
    pub business_phone: Option<String>,
    /// Free text; several lines.
    pub business_address: Option<String>,
    /// An absolute http(s) URL.
    pub url: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// An IANA time zone name (`Europe/Paris`).
    pub timezone: Option<String>,
    /// An ISO 3166-1 alpha-2 code in upper case (`FR`).
    pub country: Option<String>,
}

/// The names of the profile's fields, for changed-field lists and merge patches.
pub const FIELDS: [&str; 9] = [
    "business_name",
    "business_email",
    "business_phone",
    "business_address",
    "url",
    "contact_name",
    "contact_email",
    "timezone",
    "country",
];

impl AccountProfile {
    /// Every rule the profile breaks, each named inside an account (`profile.url`) when
    /// `prefixed`, else alone (`url`); empty when valid.
    pub fn validate(&self, prefixed: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field_name(prefixed, field),
                message: message.to_owned(),
            });
        };
        for (field, value) in [
            ("business_name", &self.business_name),
            ("contact_name", &self.contact_name),
        ] {
            if let Some(text) = value
                && !one_line(text, MAX_NAME)
            {
                fail(field, "must be 1 to 200 characters on one line");
            }
        }
        for (field, value) in [
            ("business_email", &self.business_email),
            ("contact_email", &self.contact_email),
        ] {
            if let Some(email) = value
                && !is_email(email)
            {
                fail(field, "must be an email address");
            }
        }
        if let Some(address) = &self.business_address
            && (address.trim().is_empty()
                || address.chars().count() > MAX_ADDRESS
                || crate::text::has_control_characters(address))
        {
            fail("business_address", "must be 1 to 1000 characters");
        }
        if let Some(phone) = &self.business_phone
            && !is_phone(phone)
        {
            fail(
                "business_phone",
                "must be a phone number: digits, an optional leading +, spaces, -, . and ()",
            );
        }
        if let Some(url) = &self.url
            && !is_web_url(url)
        {
            fail("url", "must be an absolute http or https URL");
        }
        if let Some(zone) = &self.timezone
            && !tzdb_data::TZ_NAMES.contains(&zone.as_str())
        {
            fail(
                "timezone",
                "must be an IANA time zone name, e.g. Europe/Paris",
            );
        }
        if let Some(country) = &self.country
            && isocountry::CountryCode::for_alpha2(country).is_err()
        {
            fail(
                "country",
                "must be an ISO 3166-1 alpha-2 code in upper case, e.g. FR",
            );
        }
        errors
    }

    /// The names of the fields that differ from `other` (as [`AccountProfile::validate`]
    /// names them).
    pub fn changed_fields(&self, other: &AccountProfile, prefixed: bool) -> Vec<&'static str> {
        let pairs = [
            (&self.business_name, &other.business_name),
            (&self.business_email, &other.business_email),
            (&self.business_phone, &other.business_phone),
            (&self.business_address, &other.business_address),
            (&self.url, &other.url),
            (&self.contact_name, &other.contact_name),
            (&self.contact_email, &other.contact_email),
            (&self.timezone, &other.timezone),
            (&self.country, &other.country),
        ];
        FIELDS
            .iter()
            .zip(pairs)
            .filter(|(_, (mine, theirs))| mine != theirs)
            .map(|(field, _)| field_name(prefixed, field))
            .collect()
    }

    /// Whether the onboarding's `profile` step is done: the business has a name.
    pub fn has_business_name(&self) -> bool {
        self.business_name.is_some()
    }
}

/// [`FIELDS`] as named inside an account (`FieldError` names are `'static`).
const PREFIXED: [&str; 9] = [
    "profile.business_name",
    "profile.business_email",
    "profile.business_phone",
    "profile.business_address",
    "profile.url",
    "profile.contact_name",
    "profile.contact_email",
    "profile.timezone",
    "profile.country",
];

/// A field's name, inside an account (`prefixed`) or in the profile alone.
fn field_name(prefixed: bool, field: &str) -> &'static str {
    let index = FIELDS
        .iter()
        .position(|known| *known == field)
        .unwrap_or_default();
    if prefixed {
        PREFIXED[index]
    } else {
        FIELDS[index]
    }
}

/// Text of 1 to `max` characters on one line, without surrounding spaces.
pub fn one_line(text: &str, max: usize) -> bool {
    let trimmed = text.trim();
    !trimmed.is_empty()
        && trimmed == text
        && text.chars().count() <= max
        && crate::text::is_one_line(text)
}

/// An email address as this server writes them (lower case, trimmed).
pub fn is_email(text: &str) -> bool {
    EmailAddress::parse(text).is_some_and(|parsed| parsed.as_str() == text)
}

/// An absolute http or https URL of at most 2048 characters.
pub fn is_web_url(text: &str) -> bool {
    text.len() <= MAX_URL
        && url::Url::parse(text).is_ok_and(|parsed| {
            matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some()
        })
}

fn is_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let body = text.strip_prefix('+').unwrap_or(text);
    text.len() <= MAX_PHONE
        && (5..=20).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_has_its_rule() {
        let good = AccountProfile {
            business_name: Some("Acme Inc".into()),
            business_email: Some("billing@acme.example".into()),
            business_phone: Some("+33 1 23 45 67 89".into()),
            business_address: Some("1 rue de la Paix\n75002 Paris".into()),
            url: Some("https://acme.example".into()),
            contact_name: Some("Ada".into()),
            contact_email: Some("ada@acme.example".into()),
            timezone: Some("Europe/Paris".into()),
            country: Some("FR".into()),
        };
        assert!(good.validate(true).is_empty());
        let bad = AccountProfile {
            business_name: Some(" Acme".into()),
            business_email: Some("not an email".into()),
            business_phone: Some("call me".into()),
            business_address: Some(String::new()),
            url: Some("ftp://acme.example".into()),
            contact_name: Some("two\nlines".into()),
            contact_email: Some("ada@".into()),
            timezone: Some("Mars/Olympus".into()),
            country: Some("fr".into()),
        };
        let fields: Vec<&str> = bad.validate(true).iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "profile.business_name",
                "profile.contact_name",
                "profile.business_email",
                "profile.contact_email",
                "profile.business_address",
                "profile.business_phone",
                "profile.url",
                "profile.timezone",
                "profile.country",
            ]
        );
        let alone: Vec<&str> = bad.validate(false).iter().map(|e| e.field).collect();
        assert_eq!(alone[0], "business_name");
    }

    #[test]
    fn changed_fields_are_named() {
        let before = AccountProfile::default();
        let after = AccountProfile {
            country: Some("DE".into()),
            url: Some("https://a.example".into()),
            ..AccountProfile::default()
        };
        assert_eq!(after.changed_fields(&before, false), ["url", "country"]);
        assert_eq!(
            after.changed_fields(&before, true),
            ["profile.url", "profile.country"]
        );
    }
}
