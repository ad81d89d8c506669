//! `/files/{acc}/{key}`: the local file store's presigned URLs (API.md §13). The signature is
//! the credential (no bearer token): an expired or altered URL is 403. `PUT` streams the body
//! into the store and answers its `ETag`; `GET` answers the file or a byte range. Outside the
//! body limit of the rest of the router; never cached by shared caches. Any origin may use
//! them from a browser (CORS without credentials, as an S3 bucket's rule would allow): the
//! URL, not a cookie, is what grants.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::clock;
use crate::file::{FileKey, Grant, GrantError, GrantMethod, PartOf};
use crate::files::{Read, WriteError};
use crate::http::error::HttpError;
use crate::ids::AccountId;
use crate::state::AppState;

const NOT_SHARED: HeaderValue = HeaderValue::from_static("private, no-store");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/files/{acc}/{*key}",
            get(download).put(upload).options(preflight),
        )
        .layer(axum::middleware::map_response(allow_any_origin))
}

/// CORS preflight (Fetch standard): PUT and GET with the headers an upload or a ranged
/// download sends.
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Range"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

async fn allow_any_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag, Content-Range, Content-Length, Accept-Ranges"),
    );
    response
}

/// A signed URL's query.
#[derive(Deserialize)]
struct Signed {
    expires: i64,
    content_type: Option<String>,
    size: Option<u64>,
    upload_id: Option<String>,
    part_number: Option<u32>,
    signature: String,
}

/// The grant the URL claims, checked against its signature: 403 if expired or altered.
fn checked(
    state: &AppState,
    method: GrantMethod,
    acc: &str,
    key: &str,
    signed: Signed,
) -> Result<Grant, Box<Response>> {
    let forbidden = |detail: &str| Box::new(refuse(HttpError::forbidden(detail.to_owned())));
    let local = state
        .files
        .local()
        .ok_or_else(|| Box::new(refuse(HttpError::not_found("file"))))?;
    let (Some(account_id), Ok(key)) = (AccountId::parse(acc), FileKey::parse(key)) else {
        return Err(forbidden("the URL's signature does not match"));
    };
    let part = match (signed.upload_id, signed.part_number) {
        (Some(upload), Some(number)) => Some(PartOf { upload, number }),
        (None, None) => None,
        _ => return Err(forbidden("the URL's signature does not match")),
    };
    let grant = Grant {
        method,
        account_id,
        key,
        expires_at: signed.expires,
        content_type: signed.content_type,
        size: signed.size,
        part,
    };
    match local.check(&grant, &signed.signature, clock::now()) {
        Ok(()) => Ok(grant),
        Err(GrantError::Expired) => Err(forbidden("the URL has expired")),
        Err(GrantError::BadSignature) => Err(forbidden("the URL's signature does not match")),
    }
}

fn refuse(error: HttpError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, NOT_SHARED);
    response
}

/// Writes the body: the file, or a part of a multipart upload.
async fn upload(
    State(state): State<AppState>,
    Path((acc, key)): Path<(String, String)>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let grant = match checked(&state, GrantMethod::Put, &acc, &key, signed) {
        Ok(grant) => grant,
        Err(response) => return *response,
    };
    // Like S3's signed headers: the content type and a declared length must be the signed ones.
    if let Some(signed_type) = &grant.content_type {
        let sent = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        if sent != Some(signed_type.as_str()) {
            return refuse(HttpError::forbidden(format!(
                "the Content-Type header must be {signed_type}, as signed"
            )));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let (Some(size), Some(declared)) = (grant.size, declared)
        && size != declared
    {
        return refuse(HttpError::forbidden(format!(
            "the body must be {size} bytes, as signed"
        )));
    }
    let Some(local) = state.files.local() else {
        return refuse(HttpError::not_found("file"));
    };
    match local.write(&grant, body.into_data_stream()).await {
        Ok(etag) => {
            let mut response = StatusCode::OK.into_response();
            if let Ok(etag) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, NOT_SHARED);
            response
        }
        Err(WriteError::TooLarge | WriteError::SizeMismatch) => refuse(HttpError::new(
            StatusCode::BAD_REQUEST,
            "size_mismatch",
            "the body is not the size the URL allows",
        )),
        Err(WriteError::NoUpload) => refuse(HttpError::not_found("upload")),
        Err(WriteError::Collides) => refuse(HttpError::conflict(
            "conflict",
            "a file's key is a folder of this key, or this key a folder of a file's",
        )),
        Err(WriteError::Body(message)) => refuse(HttpError::new(
            StatusCode::BAD_REQUEST,
            "body_incomplete",
            message,
        )),
        Err(WriteError::Store(error)) => refuse(HttpError::internal(&error)),
    }
}

/// Sends the file, or the range `Range` asks for (206).
async fn download(
    State(state): State<AppState>,
    Path((acc, key)): Path<(String, String)>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let grant = match checked(&state, GrantMethod::Get, &acc, &key, signed) {
        Ok(grant) => grant,
        Err(response) => return *response,
    };
    let Some(local) = state.files.local() else {
        return refuse(HttpError::not_found("file"));
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok());
    let found = match local.read(&grant.account_id, &grant.key, range).await {
        Ok(Read::Found(found)) => found,
        Ok(Read::Missing) => return refuse(HttpError::not_found("file")),
        Ok(Read::Unsatisfiable(size)) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Err(error) => return refuse(HttpError::internal(&error)),
    };
    let (status, length) = match &found.range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.end - range.start),
        None => (StatusCode::OK, found.size),
    };
    let mut response = Response::new(Body::from_stream(found.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, NOT_SHARED);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&found.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(etag) = found
        .etag
        .and_then(|etag| HeaderValue::from_str(&etag).ok())
    {
        headers.insert(header::ETAG, etag);
    }
    if let Some(range) = &found.range
        && let Ok(value) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            range.start,
            range.end - 1,
            found.size
        ))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}
