//! Errors of the JSON API as RFC 9457 problem details, with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::oauth::error::{ErrorCode, OAuthError};
use crate::password::{self, PasswordError};
use crate::validation::FieldError;

#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<ProblemField>,
    challenge: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429, 503).
    retry_after: Option<i64>,
}

/// One entry of a problem's `errors` array: which field, and what is wrong with it.
#[derive(Debug, Serialize)]
struct ProblemField {
    field: String,
    message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> HttpError {
        HttpError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 503 `overloaded`: the server cannot take this request now (no password hashing slot).
    pub fn overloaded() -> HttpError {
        HttpError {
            retry_after: Some(i64::from(password::RETRY_AFTER_SECONDS)),
            ..HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is busy; try again in a moment",
            )
        }
    }

    /// 401 without credentials: a bare `WWW-Authenticate: Bearer` challenge (RFC 6750 §3.1).
    pub fn unauthenticated() -> HttpError {
        HttpError {
            challenge: Some("Bearer"),
            ..HttpError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request needs a bearer token",
            )
        }
    }

    /// 401 for credentials that are malformed, unknown, expired or revoked.
    pub fn invalid_token() -> HttpError {
        HttpError {
            challenge: Some("Bearer error=\"invalid_token\""),
            ..HttpError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the bearer token is invalid, expired or revoked",
            )
        }
    }

    /// 403 for a token that lacks the scope this API needs (RFC 6750 §3.1).
    pub fn insufficient_scope(needed: &str) -> HttpError {
        HttpError {
            challenge: Some("Bearer error=\"insufficient_scope\""),
            ..HttpError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this API needs a token with the {needed} scope"),
            )
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 409 with a stable code such as `conflict`, `last_owner` or `has_children`.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::CONFLICT, code, detail)
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(detail: impl Into<String>, retry_after: i64) -> HttpError {
        HttpError {
            retry_after: Some(retry_after.max(1)),
            ..HttpError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
        }
    }

    /// 400 `validation_failed` naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> HttpError {
        HttpError::invalid(vec![ProblemField {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn not_found(what: &str) -> HttpError {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 413 for a body over the server's limit, whether declared up front or found reading it.
    pub fn payload_too_large() -> HttpError {
        HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than {} bytes",
                crate::http::MAX_BODY_BYTES
            ),
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> HttpError {
        HttpError::invalid(
            errors
                .into_iter()
                .map(|error| ProblemField {
                    field: error.field.to_owned(),
                    message: error.message,
                })
                .collect(),
        )
    }

    /// 400 `validation_failed`; the detail repeats each broken rule, so that a reader of the
    /// detail alone (a search's syntax error and its position, say) learns what is wrong.
    fn invalid(errors: Vec<ProblemField>) -> HttpError {
        let detail = if errors.is_empty() {
            "the request is not valid".to_owned()
        } else {
            errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        HttpError {
            status: StatusCode::BAD_REQUEST,
            code: "validation_failed",
            detail,
            errors,
            challenge: None,
            retry_after: None,
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

impl From<crate::manage::Error> for HttpError {
    fn from(error: crate::manage::Error) -> HttpError {
        use crate::manage::Error;
        match error {
            Error::Invalid(errors) => HttpError::validation(errors),
            Error::InvalidAt { field, message } => HttpError::invalid_field(field, message),
            Error::NotFound(what) => HttpError::not_found(what),
            Error::Forbidden(message) => HttpError::forbidden(message),
            Error::Refused { code, message } => {
                HttpError::new(StatusCode::FORBIDDEN, code, message)
            }
            Error::CallerGone => HttpError::invalid_token(),
            Error::Conflict { code, message } => HttpError::conflict(code, message),
            Error::Gone { code, message } => HttpError::new(StatusCode::GONE, code, message),
            Error::RateLimited {
                message,
                retry_after,
            } => HttpError::rate_limited(message, retry_after),
            Error::Rejected { code, message } => {
                HttpError::new(StatusCode::BAD_REQUEST, code, message)
            }
            Error::Database(error) => error.into(),
            Error::Storage(error) => HttpError::internal(&error),
            Error::Password(error) => error.into(),
        }
    }
}

impl From<PasswordError> for HttpError {
    fn from(error: PasswordError) -> HttpError {
        match error {
            PasswordError::Busy => HttpError::overloaded(),
            error => HttpError::internal(&error),
        }
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
    errors: &'a [ProblemField],
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
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// An error of the token, introspection and revocation endpoints: RFC 6749 §5.2 JSON
/// `{error, error_description}`, never cached. Internal failures are logged and answered
/// with `server_error`.
#[derive(Debug)]
pub struct OAuthJsonError(pub OAuthError);

impl From<OAuthError> for OAuthJsonError {
    fn from(error: OAuthError) -> OAuthJsonError {
        OAuthJsonError(error)
    }
}

impl From<sqlx::Error> for OAuthJsonError {
    fn from(error: sqlx::Error) -> OAuthJsonError {
        tracing::error!(%error, "database error");
        OAuthJsonError(OAuthError::server_error())
    }
}

impl From<serde_json::Error> for OAuthJsonError {
    fn from(error: serde_json::Error) -> OAuthJsonError {
        tracing::error!(%error, "token encoding failed");
        OAuthJsonError(OAuthError::server_error())
    }
}

impl From<crate::tokens::TokenError> for OAuthJsonError {
    fn from(error: crate::tokens::TokenError) -> OAuthJsonError {
        match error {
            crate::tokens::TokenError::OAuth(error) => error.into(),
            crate::tokens::TokenError::Database(error) => error.into(),
            crate::tokens::TokenError::Encoding(error) => error.into(),
            crate::tokens::TokenError::Keys(error) => {
                tracing::error!(%error, "no signing key");
                OAuthJsonError(OAuthError::server_error())
            }
        }
    }
}

impl IntoResponse for OAuthJsonError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({
            "error": self.0.code.as_str(),
            "error_description": self.0.description,
        });
        let mut response = (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(body),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\""),
            );
        }
        response
    }
}

/// An error of a bearer-protected endpoint (RFC 6750 §3): 401 with
/// `WWW-Authenticate: Bearer error="invalid_token"`, or 403 for `insufficient_scope`.
#[derive(Debug)]
pub enum BearerError {
    /// No credentials at all: a bare challenge with no error code (RFC 6750 §3.1).
    Missing,
    InvalidToken,
    InsufficientScope(&'static str),
    Internal,
}

impl From<sqlx::Error> for BearerError {
    fn from(error: sqlx::Error) -> BearerError {
        tracing::error!(%error, "database error");
        BearerError::Internal
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge) = match self {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer".to_owned()),
            BearerError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "Bearer error=\"invalid_token\"".to_owned(),
            ),
            BearerError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            ),
            BearerError::Internal => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        let mut response = status.into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
