//! Request bodies of `/v1`: JSON of the declared media type, parsed strictly. A wrong
//! `Content-Type` is 415; malformed JSON, wrong types and unknown fields are 400
//! `validation_failed` naming the field (never 422), in our words: serde's messages (`unknown
//! variant 'god', expected one of … at line 1 column 44`) never reach a client.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::http::error::HttpError;

/// A JSON body (`application/json`) parsed into `T`; give `T` `#[serde(deny_unknown_fields)]`.
pub struct ApiJson<T>(pub T);

/// An optional JSON body, for a `DELETE` that may carry one: no body at all (no
/// `Content-Type`, nothing sent) is `None`; anything else is read as [`ApiJson`] is.
pub struct OptionalApiJson<T>(pub Option<T>);

/// Every `PATCH` takes both media types with the same RFC 7396 meaning (API.md §2).
const PATCH_MEDIA_TYPES: [&str; 2] = ["application/merge-patch+json", "application/json"];

/// A JSON Merge Patch document (RFC 7396), to merge into the resource's current JSON.
pub struct MergePatch(pub serde_json::Value);

/// A merge patch of a flat resource parsed straight into `T`, whose optional fields stand
/// for absent members (and `Option<Option<_>>` tells `null`, which removes, from absent).
pub struct PatchJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let body = read(request, state, &["application/json"]).await?;
        parse(&body).map(ApiJson)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let declared_empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|length| length.as_bytes() == b"0");
        if declared_empty && !request.headers().contains_key(header::CONTENT_TYPE) {
            return Ok(OptionalApiJson(None));
        }
        let body = read(request, state, &["application/json"]).await?;
        parse(&body).map(|value| OptionalApiJson(Some(value)))
    }
}

impl<S: Send + Sync> FromRequest<S> for MergePatch {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let body = read(request, state, &PATCH_MEDIA_TYPES).await?;
        parse(&body).map(MergePatch)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PatchJson<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let body = read(request, state, &PATCH_MEDIA_TYPES).await?;
        parse(&body).map(PatchJson)
    }
}

/// The body, if its `Content-Type` (parameters aside) is one of `media_types`.
async fn read<S: Send + Sync>(
    request: Request,
    state: &S,
    media_types: &[&str],
) -> Result<Bytes, HttpError> {
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    let matches = essence.is_some_and(|essence| {
        media_types
            .iter()
            .any(|media_type| essence.eq_ignore_ascii_case(media_type))
    });
    if !matches {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the body must be {}", media_types.join(" or ")),
        ));
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection.status() {
            // A body longer than the limit that did not declare its length up front.
            StatusCode::PAYLOAD_TOO_LARGE => HttpError::payload_too_large(),
            status => HttpError::new(status, "invalid_body", rejection.body_text()),
        })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    // NUL and other control characters are refused before anything reads the body, the
    // same on both databases (PostgreSQL would fail on a NUL at insert time).
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(field) = crate::text::first_control_character(&value)
    {
        return Err(HttpError::invalid_field(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "must not contain control characters",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        if !error.inner().is_data() {
            return not_json(error.inner());
        }
        let (field, message) = failed_field(&error);
        HttpError::invalid_field(field, message)
    })?;
    deserializer.end().map_err(|error| not_json(&error))?;
    Ok(value)
}

/// The field a value failed to read at (`body` for the whole) and why, in our words.
pub fn failed_field(error: &serde_path_to_error::Error<serde_json::Error>) -> (String, String) {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let field = if path == "." {
        named_field(&message).unwrap_or_else(|| "body".to_owned())
    } else {
        path
    };
    (field, in_our_words(&message))
}

fn not_json(error: &serde_json::Error) -> HttpError {
    HttpError::invalid_field(
        "body",
        format!(
            "is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ),
    )
}

/// What serde's message about one field says, as we would say it to a client.
pub fn in_our_words(message: &str) -> String {
    // serde_json appends the position; the field's name already says where.
    let message = message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at]);
    let expected = message.split_once(", expected ").map(|(_, rest)| rest);
    if message.starts_with("unknown variant") {
        return match expected {
            Some(names) => format!("must be one of {}", names_of(names)),
            None => "is not one of the allowed values".to_owned(),
        };
    }
    if message.starts_with("unknown field") {
        return "is not a known field".to_owned();
    }
    if message.starts_with("missing field") {
        return "is required".to_owned();
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return match expected.map(kind_of) {
            Some(kind) => format!("must be {kind}"),
            None => "has the wrong type".to_owned(),
        };
    }
    if message.starts_with("invalid length") || message.starts_with("duplicate field") {
        return "is not valid here".to_owned();
    }
    // Our own messages (ids, timestamps, …), raised by the types themselves.
    message.to_owned()
}

/// "`owner`, `admin`, `member`, `viewer`" (or "`a` or `b`") → "owner, admin, member, viewer".
fn names_of(list: &str) -> String {
    let list = list.strip_prefix("one of ").unwrap_or(list);
    list.replace(" or ", ", ").replace('`', "")
}

/// serde's name for what it expected → a JSON word.
fn kind_of(expected: &str) -> &str {
    match expected {
        "a string" | "a borrowed string" | "a character" => "a string",
        "a boolean" => "true or false",
        "a sequence" | "a tuple" => "an array",
        "a map" => "an object",
        kind if kind.starts_with("struct ") || kind.starts_with("a struct") => "an object",
        kind if kind.starts_with('u') || kind.starts_with('i') => "a whole number",
        kind if kind.starts_with('f') => "a number",
        kind if kind.starts_with("enum") => "one of the allowed values",
        _ => "of another type",
    }
}

/// The field serde's "unknown field `x`" and "missing field `x`" messages name.
fn named_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::in_our_words;
    use axum::body::{Body, to_bytes};
    use axum::extract::{FromRequest, Request};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use http_body_util::Limited;

    use super::ApiJson;
    use crate::http::MAX_BODY_BYTES;

    #[tokio::test]
    async fn a_body_cut_off_by_the_limit_while_read_is_payload_too_large() {
        // What tower-http's limit layer hands on for a body that declared no length.
        let body = Limited::new(Body::from(vec![b' '; MAX_BODY_BYTES + 1]), MAX_BODY_BYTES);
        let request = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::new(body))
            .unwrap();
        let response = ApiJson::<serde_json::Value>::from_request(request, &())
            .await
            .err()
            .expect("refused")
            .into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 4096).await.unwrap()).unwrap();
        assert_eq!(problem["code"], "payload_too_large");
        assert_eq!(problem["status"], 413);
    }

    #[test]
    fn serde_messages_are_said_in_our_words() {
        for (serde, ours) in [
            (
                "unknown variant `god`, expected one of `owner`, `admin`, `member`, `viewer` at line 1 column 44",
                "must be one of owner, admin, member, viewer",
            ),
            (
                "unknown variant `x`, expected `active` or `suspended`",
                "must be one of active, suspended",
            ),
            (
                "invalid type: integer `5`, expected a string at line 1 column 10",
                "must be a string",
            ),
            (
                "invalid type: string \"x\", expected u32",
                "must be a whole number",
            ),
            (
                "invalid type: string \"x\", expected a sequence",
                "must be an array",
            ),
            ("missing field `email`", "is required"),
            (
                "unknown field `x`, expected `a` or `b`",
                "is not a known field",
            ),
        ] {
            assert_eq!(in_our_words(serde), ours, "{serde}");
        }
    }
}
