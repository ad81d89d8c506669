//! An account's billing records (API.md §13): the subscriptions, invoices and payments an
//! application keeps in Tessera (which charges nothing). The fields each takes and their
//! rules: amounts in minor units, ISO 4217 currencies in lower case, bounded `metadata`,
//! closed status sets. Pure: reading a request's JSON checks every field; no I/O.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

use crate::audit::Action;
use crate::clock::Timestamp;
use crate::ids::{AccountId, InvoiceId, PaymentId, Prefixed, SubscriptionId};
use crate::text;
use crate::validation::FieldError;

/// Fields a merge patch may not name: the record's identity and its clock.
pub const READ_ONLY: [&str; 4] = ["id", "account_id", "created_at", "updated_at"];

/// One kind of billing record: its writable fields (what a `POST` takes and a merge patch
/// changes), read strictly from JSON.
pub trait Resource:
    Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + Unpin + 'static
{
    /// `subscription`: the audit target's type, and what "not found" names.
    const NAME: &'static str;
    /// The kind of id (`sub_…`).
    type Id: Prefixed;
    const CREATED: Action;
    const DELETED: Action;

    /// A new id of this kind.
    fn new_id() -> String {
        Self::Id::generate().into()
    }

    /// `text` in canonical form if it is an id of this kind.
    fn parse_id(text: &str) -> Option<String> {
        Self::Id::parse(text).map(Into::into)
    }

    /// Rules across fields, once each field is valid on its own.
    fn check(&self) -> Vec<FieldError>;

    /// The record of the same account this one names, if any.
    fn reference(&self) -> Option<Reference<'_>>;
}

/// A kind of record a merge patch may change.
pub trait Patchable: Resource {
    const UPDATED: Action;
}

/// A record another one names (an invoice's subscription, a payment's invoice): it must be
/// the same account's.
pub enum Reference<'a> {
    Subscription(&'a SubscriptionId),
    /// A payment's invoice, which must be in the payment's currency.
    Invoice(&'a InvoiceId, &'a Currency),
}

/// A billing record as stored and shown: `id`, `account_id`, its fields, its clock.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Billed<F> {
    /// `sub_…`, `invc_…` or `pay_…`.
    pub id: String,
    pub account_id: AccountId,
    #[serde(flatten)]
    pub fields: F,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Declares a status set: the enum, its wire names (the variants' in snake case, which
/// `as_str` spells out for the database), the default a new record takes.
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)+ } default $default:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            /// Every status, for tests that the two spellings agree.
            #[cfg(test)]
            const ALL: &'static [$name] = &[$($name::$variant,)+];
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::$default
            }
        }
    };
}

statuses! {
    /// Where a subscription stands; new ones are `active` unless said otherwise.
    SubscriptionStatus {
        Trialing = "trialing",
        Active = "active",
        PastDue = "past_due",
        Canceled = "canceled",
    } default Active
}

statuses! {
    /// Where an invoice stands; new ones are `draft` unless said otherwise.
    InvoiceStatus {
        Draft = "draft",
        Open = "open",
        Paid = "paid",
        Void = "void",
        Uncollectible = "uncollectible",
    } default Draft
}

statuses! {
    /// Where a payment stands; new ones are `pending` unless said otherwise.
    PaymentStatus {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
        Refunded = "refunded",
    } default Pending
}

/// Text of one line, 1 to `MAX` characters (a plan, an external id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MAX: usize>(pub String);

impl<const MAX: usize> TryFrom<String> for Text<MAX> {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if (1..=MAX).contains(&text.chars().count()) && text::is_one_line(&text) {
            Ok(Text(text))
        } else {
            Err(format!("must be 1 to {MAX} characters on one line"))
        }
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(text: Text<MAX>) -> String {
        text.0
    }
}

impl<const MAX: usize> utoipa::PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX))
            .into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for Text<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MAX}"))
    }
}

/// An amount in the currency's minor units (cents): a whole number, 0 or more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64")]
pub struct Amount(pub i64);

impl TryFrom<i64> for Amount {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, &'static str> {
        if value >= 0 {
            Ok(Amount(value))
        } else {
            Err("must be a whole number of minor units, 0 or more")
        }
    }
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0))
            .description(Some("In the currency's minor units (cents for usd)"))
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

/// An ISO 4217 currency code in lower case (`usd`, `eur`, `jpy`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(pub String);

impl TryFrom<String> for Currency {
    type Error = &'static str;

    fn try_from(code: String) -> Result<Self, &'static str> {
        let shaped = code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_lowercase());
        if shaped && iso_currency::Currency::from_code(&code.to_ascii_uppercase()).is_some() {
            Ok(Currency(code))
        } else {
            Err("must be an ISO 4217 currency code in lower case, such as usd")
        }
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z]{3}$"))
            .examples(["usd"])
            .description(Some("ISO 4217, lower case"))
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// Free key-value pairs for the application, as Stripe bounds them: at most 50 keys of 1 to
/// 40 characters, string values of at most 500.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct Metadata(pub BTreeMap<String, String>);

const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY: usize = 40;
const MAX_METADATA_VALUE: usize = 500;

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = String;

    fn try_from(pairs: BTreeMap<String, String>) -> Result<Self, String> {
        if pairs.len() > MAX_METADATA_KEYS {
            return Err(format!("must have at most {MAX_METADATA_KEYS} keys"));
        }
        for (key, value) in &pairs {
            if !(1..=MAX_METADATA_KEY).contains(&key.chars().count()) {
                return Err(format!(
                    "keys must be 1 to {MAX_METADATA_KEY} characters ({key:?})"
                ));
            }
            if value.chars().count() > MAX_METADATA_VALUE {
                return Err(format!(
                    "the value of {key:?} is longer than {MAX_METADATA_VALUE} characters"
                ));
            }
        }
        Ok(Metadata(pairs))
    }
}

impl utoipa::PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_METADATA_VALUE)),
            ))
            .max_properties(Some(MAX_METADATA_KEYS))
            .description(Some(
                "String values for the application: at most 50 keys of 1 to 40 characters, \
                 values of at most 500",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Metadata {}

fn one() -> Amount {
    Amount(1)
}

/// A subscription: a plan the account's customer is on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub plan: Text<200>,
    #[serde(default)]
    pub status: SubscriptionStatus,
    /// Default 1.
    #[serde(default = "one")]
    pub quantity: Amount,
    #[serde(default)]
    pub current_period_start: Option<Timestamp>,
    #[serde(default)]
    pub current_period_end: Option<Timestamp>,
    #[serde(default)]
    pub cancel_at: Option<Timestamp>,
    #[serde(default)]
    pub external_id: Option<Text<255>>,
    #[serde(default)]
    pub external_customer_id: Option<Text<255>>,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Resource for Subscription {
    const NAME: &'static str = "subscription";
    type Id = SubscriptionId;
    const CREATED: Action = Action::SubscriptionCreated;
    const DELETED: Action = Action::SubscriptionDeleted;

    fn check(&self) -> Vec<FieldError> {
        ordered(
            self.current_period_start,
            self.current_period_end,
            "current_period_end",
        )
    }

    fn reference(&self) -> Option<Reference<'_>> {
        None
    }
}

impl Patchable for Subscription {
    const UPDATED: Action = Action::SubscriptionUpdated;
}

/// An invoice: what the account's customer owes for a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    #[serde(default)]
    pub number: Option<Text<100>>,
    #[serde(default)]
    pub status: InvoiceStatus,
    pub currency: Currency,
    #[serde(default)]
    pub amount_due: Amount,
    #[serde(default)]
    pub amount_paid: Amount,
    #[serde(default)]
    pub period_start: Option<Timestamp>,
    #[serde(default)]
    pub period_end: Option<Timestamp>,
    #[serde(default)]
    pub due_at: Option<Timestamp>,
    #[serde(default)]
    pub external_id: Option<Text<255>>,
    #[serde(default)]
    pub external_customer_id: Option<Text<255>>,
    /// A subscription of the same account.
    #[serde(default)]
    pub subscription_id: Option<SubscriptionId>,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Resource for Invoice {
    const NAME: &'static str = "invoice";
    type Id = InvoiceId;
    const CREATED: Action = Action::InvoiceCreated;
    const DELETED: Action = Action::InvoiceDeleted;

    fn check(&self) -> Vec<FieldError> {
        ordered(self.period_start, self.period_end, "period_end")
    }

    fn reference(&self) -> Option<Reference<'_>> {
        self.subscription_id.as_ref().map(Reference::Subscription)
    }
}

impl Patchable for Invoice {
    const UPDATED: Action = Action::InvoiceUpdated;
}

/// A payment: money that moved, or tried to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub amount: Amount,
    pub currency: Currency,
    #[serde(default)]
    pub status: PaymentStatus,
    /// How it was paid (`card`, `sepa_debit` …), as the application names it.
    #[serde(default)]
    pub payment_method: Option<Text<100>>,
    /// An invoice of the same account, in the same currency.
    #[serde(default)]
    pub invoice_id: Option<InvoiceId>,
    #[serde(default)]
    pub external_id: Option<Text<255>>,
    #[serde(default)]
    pub external_customer_id: Option<Text<255>>,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Resource for Payment {
    const NAME: &'static str = "payment";
    type Id = PaymentId;
    const CREATED: Action = Action::PaymentCreated;
    const DELETED: Action = Action::PaymentDeleted;

    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }

    fn reference(&self) -> Option<Reference<'_>> {
        self.invoice_id
            .as_ref()
            .map(|id| Reference::Invoice(id, &self.currency))
    }
}

/// A period ends no earlier than it starts.
fn ordered(
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    field: &'static str,
) -> Vec<FieldError> {
    match (start, end) {
        (Some(start), Some(end)) if end < start => vec![FieldError {
            field,
            message: "must not be before the period's start".to_owned(),
        }],
        _ => Vec::new(),
    }
}

/// The fields whose values differ between two versions of a record, each `{from, to}`:
/// what `*.updated` events say.
pub fn changes<F: Resource>(before: &F, after: &F) -> serde_json::Map<String, serde_json::Value> {
    let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Map::new();
    };
    after
        .into_iter()
        .filter(|(field, value)| before.get(field) != Some(value))
        .map(|(field, to)| {
            let from = before.get(&field).cloned().unwrap_or_default();
            (field, serde_json::json!({"from": from, "to": to}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        Invoice, InvoiceStatus, Payment, PaymentStatus, Resource, Subscription, SubscriptionStatus,
        changes,
    };

    #[test]
    fn new_records_take_their_defaults() {
        let subscription: Subscription = serde_json::from_value(json!({"plan": "pro"})).unwrap();
        assert_eq!(subscription.status, SubscriptionStatus::Active);
        assert_eq!(subscription.quantity.0, 1);
        let invoice: Invoice = serde_json::from_value(json!({"currency": "eur"})).unwrap();
        assert_eq!(invoice.status.as_str(), "draft");
        assert_eq!(invoice.amount_due.0, 0);
    }

    #[test]
    fn currencies_amounts_statuses_and_metadata_are_checked() {
        let payment = |body: serde_json::Value| serde_json::from_value::<Payment>(body);
        assert!(payment(json!({"amount": 100, "currency": "usd"})).is_ok());
        assert!(payment(json!({"amount": 100, "currency": "jpy", "status": "refunded"})).is_ok());
        for bad in [
            json!({"amount": 100, "currency": "USD"}),
            json!({"amount": 100, "currency": "us"}),
            json!({"amount": 100, "currency": "abc"}),
            json!({"amount": -1, "currency": "usd"}),
            json!({"amount": 1.5, "currency": "usd"}),
            json!({"amount": 1, "currency": "usd", "status": "lost"}),
            json!({"amount": 1, "currency": "usd", "colour": "red"}),
            json!({"amount": 1, "currency": "usd", "metadata": {"a": 1}}),
            json!({"amount": 1, "currency": "usd", "metadata": {"": "x"}}),
            json!({"amount": 1, "currency": "usd", "metadata": {"k".repeat(41): "x"}}),
            json!({"amount": 1, "currency": "usd", "metadata": {"k": "v".repeat(501)}}),
            json!({"amount": 1, "currency": "usd", "payment_method": ""}),
            json!({"amount": 1, "currency": "usd", "invoice_id": "sub_01JD2Z3X4Y5V6W7T8S9R0Q1P2N"}),
        ] {
            assert!(payment(bad.clone()).is_err(), "{bad}");
        }
        let many: serde_json::Map<String, serde_json::Value> =
            (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(payment(json!({"amount": 1, "currency": "usd", "metadata": many})).is_err());
    }

    #[test]
    fn statuses_are_spelled_alike_on_the_wire_and_in_the_database() {
        fn agree<S: serde::Serialize + Copy>(all: &[S], as_str: fn(S) -> &'static str) {
            for status in all {
                assert_eq!(
                    serde_json::to_value(status).unwrap(),
                    json!(as_str(*status))
                );
            }
        }
        agree(SubscriptionStatus::ALL, SubscriptionStatus::as_str);
        agree(InvoiceStatus::ALL, InvoiceStatus::as_str);
        agree(PaymentStatus::ALL, PaymentStatus::as_str);
        assert_eq!(
            SubscriptionStatus::parse("past_due"),
            Some(SubscriptionStatus::PastDue)
        );
    }

    #[test]
    fn a_period_ends_after_it_starts() {
        let subscription: Subscription = serde_json::from_value(json!({
            "plan": "pro",
            "current_period_start": "2026-02-01T00:00:00Z",
            "current_period_end": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(subscription.check()[0].field, "current_period_end");
    }

    #[test]
    fn changes_name_each_changed_field() {
        let before: Subscription = serde_json::from_value(json!({"plan": "pro"})).unwrap();
        let after: Subscription =
            serde_json::from_value(json!({"plan": "pro", "status": "canceled"})).unwrap();
        assert_eq!(
            serde_json::Value::Object(changes(&before, &after)),
            json!({"status": {"from": "active", "to": "canceled"}})
        );
    }
}
