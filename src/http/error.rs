//! Errors of the JSON API as RFC 9457 problem details, with a stable `code`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::oauth::client::FieldError;

#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> HttpError {
        HttpError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn not_found(what: &str) -> HttpError {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> HttpError {
        HttpError {
            status: StatusCode::BAD_REQUEST,
            code: "validation_failed",
            detail: "the request is not valid".into(),
            errors,
        }
    }

    /// A failure that is ours, not the caller's: logged in full, answered generically.
    pub fn internal(error: &dyn std::error::Error) -> HttpError {
        tracing::error!(error = %error, "internal error");
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred",
        )
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(error: sqlx::Error) -> HttpError {
        HttpError::internal(&error)
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let problem = Problem {
            type_: format!("urn:tessera:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            errors: &self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
