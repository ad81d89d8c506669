//! Prefixed ULID identifiers (`usr_01J…`, `acc_01J…`): one newtype per resource so ids of
//! different kinds never mix between modules.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use ulid::{Generator, Ulid};

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            /// Accepts the prefix followed by a ULID in either case; stores it canonically.
            pub fn parse(text: &str) -> Option<Self> {
                let ulid = Ulid::from_string(text.strip_prefix($prefix)?).ok()?;
                Some(Self(format!("{}{}", $prefix, ulid)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(text: String) -> Result<Self, InvalidId> {
                Self::parse(&text).ok_or(InvalidId($prefix))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9A-HJKMNP-TV-Z]{26}$")))
                    .examples([concat!($prefix, "01JD2Z3X4Y5V6W7T8S9R0Q1P2N")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Prefixed for $name {
            fn generate() -> Self {
                $name::generate()
            }

            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }
        }
    };
}

/// Every kind of id, for code generic over the kind (billing records).
pub trait Prefixed: Sized + Into<String> {
    fn generate() -> Self;

    fn parse(text: &str) -> Option<Self>;
}

/// A new ULID, strictly greater than every other this process made: ids created one after
/// the other sort in that order even within one millisecond, so lists ordered by
/// `(created_at, id)` are newest first.
fn next_ulid() -> Ulid {
    static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    generator
        .get_or_insert_with(Generator::new)
        .generate()
        .unwrap_or_else(|_| Ulid::new())
}

/// A string that is not an id of the expected kind.
#[derive(Debug, thiserror::Error)]
#[error("not a valid {0}… id")]
pub struct InvalidId(&'static str);

prefixed_id!(UserId, "usr_");
prefixed_id!(
    /// A user's identity at another OpenID provider, linked for signing in.
    IdentityId,
    "idn_"
);
prefixed_id!(AccountId, "acc_");
prefixed_id!(InvitationId, "inv_");
prefixed_id!(
    /// An OAuth client's `client_id`.
    ClientId,
    "cli_"
);
prefixed_id!(ApiKeyId, "key_");
prefixed_id!(EventId, "evt_");
prefixed_id!(
    /// A second factor of a user (a TOTP app, a passkey).
    FactorId,
    "fac_"
);
prefixed_id!(
    /// One signed-in browser (a login on the hosted pages), as `/v1/me/sessions` lists it.
    SessionId,
    "ses_"
);
prefixed_id!(
    /// An account's claim on an email domain.
    DomainId,
    "dom_"
);
prefixed_id!(
    /// An account's connection to an upstream OpenID Connect provider (SSO).
    SsoConnectionId,
    "ssoc_"
);
prefixed_id!(
    /// One authorization an access-token family descends from (a refresh-token family).
    GrantId,
    "grt_"
);
prefixed_id!(
    /// A subscription an account's billing records keep (API.md §13).
    SubscriptionId,
    "sub_"
);
prefixed_id!(
    /// An invoice an account's billing records keep.
    InvoiceId,
    "invc_"
);
prefixed_id!(
    /// A payment an account's billing records keep.
    PaymentId,
    "pay_"
);

#[cfg(test)]
mod tests {
    use super::{AccountId, UserId};

    #[test]
    fn ids_made_in_a_row_sort_in_that_order() {
        let ids: Vec<UserId> = (0..1000).map(|_| UserId::generate()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn ids_round_trip_and_reject_other_kinds() {
        let id = UserId::generate();
        assert!(id.as_str().starts_with("usr_"));
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(AccountId::parse(id.as_str()), None);
        assert_eq!(UserId::parse("usr_nope"), None);
        let lower = id.as_str().to_lowercase();
        assert_eq!(UserId::parse(&lower), Some(id));
    }
}
