//! Wall-clock time as unix seconds, and its RFC 3339 rendering on the wire.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the unix epoch; what the database stores for every `*_at` column.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the unix epoch, for ordering events within one second.
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A point in time stored as unix seconds and shown as an RFC 3339 UTC string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// The time as the hosted pages show it: `2026-01-02 03:04 UTC`.
    pub fn for_people(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .map(|t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default()
    }

    /// Parses an RFC 3339 string such as `2026-01-02T03:04:05Z`.
    pub fn parse(text: &str) -> Option<Timestamp> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(|t| Timestamp(t.unix_timestamp()))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .examples(["2026-01-02T03:04:05Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

/// An RFC 3339 string in a request (any offset; fractions of a second are dropped).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("must be an RFC 3339 time such as 2026-01-02T03:04:05Z")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(1_795_441_421).for_people(),
            "2026-11-23 13:43 UTC"
        );
        assert_eq!(
            Timestamp::parse("2026-11-23T13:43:41Z"),
            Some(Timestamp(1_795_441_421))
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }
}
