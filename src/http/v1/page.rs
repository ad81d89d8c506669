//! Cursor pagination of `/v1` lists: `?limit=` (1..100, default 20) and `?cursor=`, answered
//! as `{"data": [...], "next_cursor": "..." | null}`, newest first by `(created_at, id)`.
//! Cursors are sealed with the cursor key (derived from the key-encryption key, never the KEK
//! itself) and bound to their list, so a cursor this server did not issue for that list is a
//! 400.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;

use crate::http::error::HttpError;
use crate::state::AppState;
use crate::store::Position;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The page a request asks for (`?limit=`, `?cursor=`).
pub struct PageRequest {
    pub limit: i64,
    cursor: Option<String>,
}

impl PageRequest {
    /// Where the page starts in `list`, the name the cursor was sealed for.
    pub fn position(&self, state: &AppState, list: &str) -> Result<Position, HttpError> {
        let Some(cursor) = &self.cursor else {
            return Ok(Position::start());
        };
        let invalid = || HttpError::invalid_field("cursor", "not a cursor of this list");
        let plain = state
            .keys
            .key_encryption_key()
            .cursor_key()
            .open(cursor, &context(list))
            .map_err(|_| invalid())?;
        let plain = String::from_utf8(plain).map_err(|_| invalid())?;
        let (created_at, id) = plain.split_once(':').ok_or_else(invalid)?;
        Ok(Position {
            created_at: created_at.parse().map_err(|_| invalid())?,
            id: id.to_owned(),
        })
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// The value of `key` in the request's query string, if it is there.
pub fn query_param(uri: &axum::http::Uri, key: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

fn context(list: &str) -> String {
    format!("cursor:{list}")
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Builds the response from rows fetched with `fetch_limit`, `position` giving each row's
/// place in the order.
pub fn page<R, T>(
    state: &AppState,
    list: &str,
    request: &PageRequest,
    mut rows: Vec<R>,
    position: impl Fn(&R) -> Position,
    show: impl Fn(R) -> T,
) -> Json<Page<T>> {
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| {
            let at = position(last);
            state.keys.key_encryption_key().cursor_key().seal(
                format!("{}:{}", at.created_at, at.id).as_bytes(),
                &context(list),
            )
        })
    } else {
        None
    };
    Json(Page {
        data: rows.into_iter().map(show).collect(),
        next_cursor,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        let mut limit = DEFAULT_LIMIT;
        let mut cursor = None;
        let query = parts.uri.query().unwrap_or_default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    limit = value
                        .parse::<i64>()
                        .ok()
                        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                        .ok_or_else(|| {
                            HttpError::invalid_field("limit", "must be an integer from 1 to 100")
                        })?;
                }
                "cursor" => cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(PageRequest { limit, cursor })
    }
}
