//! Request bodies of `/v1`: JSON of the declared media type, parsed strictly. A wrong
//! `Content-Type` is 415; malformed JSON, wrong types and unknown fields are 400
//! `validation_failed` naming the field (never 422).

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

/// A JSON Merge Patch document (RFC 7396, `application/merge-patch+json`).
pub struct MergePatch(pub serde_json::Value);

/// A JSON Merge Patch document (RFC 7396) sent as `application/merge-patch+json` or as plain
/// `application/json`: API.md names the merge-patch type for accounts only, and a client
/// following "JSON in and out" sends a client's PATCH as plain JSON.
pub struct MergePatchOrJson(pub serde_json::Value);

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
        let body = read(request, state, &["application/merge-patch+json"]).await?;
        parse(&body).map(MergePatch)
    }
}

impl<S: Send + Sync> FromRequest<S> for MergePatchOrJson {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let body = read(
            request,
            state,
            &["application/merge-patch+json", "application/json"],
        )
        .await?;
        parse(&body).map(MergePatchOrJson)
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
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let field = if path == "." {
            named_field(&message).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        HttpError::invalid_field(field, message)
    })?;
    deserializer
        .end()
        .map_err(|error| HttpError::invalid_field("body", error.to_string()))?;
    Ok(value)
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
}
