//! Hosted HTML pages: rendering askama templates, and `PageError`, which every page handler
//! returns and which becomes `error.html` with the right status. Extractors here turn bad
//! forms and queries into error pages instead of plain-text rejections.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::client_ip;
use crate::password::{self, PasswordError};
use crate::session::SessionError;
use crate::state::AppState;

/// Renders a template as a page with `status`. Pages are personal (CSRF tokens, names), so
/// no cache may keep them.
pub fn render(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    let body = template.render()?;
    Ok((
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(body),
    )
        .into_response())
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The request makes no sense (a malformed form, an invalid link); the text is shown.
    #[error("{message}")]
    BadRequest {
        status: StatusCode,
        message: Cow<'static, str>,
    },
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("too many attempts")]
    TooManyRequests { retry_after: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("template failed: {0}")]
    Template(#[from] askama::Error),
}

impl PageError {
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> PageError {
        PageError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            PageError::BadRequest { status, .. } => *status,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            PageError::Password(PasswordError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Database(_)
            | PageError::Session(_)
            | PageError::Password(_)
            | PageError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The heading and sentence the visitor sees; internal detail never reaches them.
    fn public_text(&self) -> (&'static str, String) {
        match self {
            PageError::BadRequest { message, .. } => {
                ("Something is not right", message.to_string())
            }
            PageError::Csrf => (
                "This form has expired",
                "Go back, reload the page and try again.".to_owned(),
            ),
            PageError::NotFound => ("Page not found", "There is nothing here.".to_owned()),
            PageError::TooManyRequests { retry_after } => (
                "Too many attempts",
                format!(
                    "Too many attempts. Try again in {} minutes.",
                    (retry_after + 59) / 60
                ),
            ),
            PageError::Password(PasswordError::Busy) => (
                "The server is busy",
                "Too many sign-ins are being checked right now. Try again in a moment.".to_owned(),
            ),
            PageError::Database(_)
            | PageError::Session(_)
            | PageError::Password(_)
            | PageError::Template(_) => (
                "Something went wrong",
                "An internal error occurred. Try again in a moment.".to_owned(),
            ),
        }
    }
}

/// What `render_error_pages` needs to draw an error page; rides on the response.
#[derive(Clone, Debug)]
struct ErrorPageText {
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, PageError::Password(PasswordError::Busy)) {
            tracing::warn!("turned a request away: every password hashing slot is taken");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "page failed");
        }
        let (heading, message) = self.public_text();
        let mut response = (status, [(header::CACHE_CONTROL, "no-store")]).into_response();
        let retry_after = match self {
            PageError::TooManyRequests { retry_after } => Some(retry_after),
            PageError::Password(PasswordError::Busy) => {
                Some(i64::from(password::RETRY_AFTER_SECONDS))
            }
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
            .extensions_mut()
            .insert(ErrorPageText { heading, message });
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    base: &'a str,
    home: String,
    heading: &'a str,
    message: &'a str,
}

/// Middleware: gives `PageError` responses their HTML body. Done here, not in
/// `into_response`, because the page needs the issuer's path for its links.
pub async fn render_error_pages(State(state): State<AppState>, mut response: Response) -> Response {
    let Some(text) = response.extensions_mut().remove::<ErrorPageText>() else {
        return response;
    };
    let page = ErrorPage {
        base: state.issuer.path(),
        home: home(state.issuer.path()),
        heading: text.heading,
        message: &text.message,
    };
    match page.render() {
        Ok(body) => {
            let (mut parts, _) = response.into_parts();
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Response::from_parts(parts, body.into())
        }
        Err(error) => {
            tracing::error!(%error, "error page failed to render");
            response
        }
    }
}

/// A urlencoded form; a wrong content type or an unparsable body is an error page.
pub struct HtmlForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for HtmlForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|rejection: FormRejection| PageError::BadRequest {
                status: if rejection.status().is_client_error() {
                    rejection.status()
                } else {
                    StatusCode::BAD_REQUEST
                },
                message: "The form could not be read. Go back and try again.".into(),
            })?;
        // Refused here, the same on both databases (PostgreSQL fails on a NUL at insert).
        if pairs
            .iter()
            .any(|(_, value)| crate::text::has_control_characters(value))
        {
            return Err(PageError::bad_request(
                "The form contains characters that cannot be stored. Go back and try again.",
            ));
        }
        let encoded = serde_urlencoded::to_string(&pairs).map_err(|_| {
            PageError::bad_request("The form could not be read. Go back and try again.")
        })?;
        serde_urlencoded::from_str(&encoded)
            .map(HtmlForm)
            .map_err(|_| {
                PageError::bad_request("The form could not be read. Go back and try again.")
            })
    }
}

/// A query string; one that does not parse is an error page.
pub struct HtmlQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for HtmlQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| HtmlQuery(value))
            .map_err(|_: QueryRejection| PageError::bad_request("The link is not valid."))
    }
}

/// The client's address as `client_ip::resolve` reads it: the peer, or behind a trusted
/// proxy the right-most untrusted `X-Forwarded-For` entry. Every rate limit, audit event and
/// `/v1` caller takes its address from here. The peer is unspecified when the server was not
/// started with connect info (some tests drive the router directly).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        // A header value that is not visible ASCII reads as a malformed entry.
        let forwarded_for = parts
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|value| value.to_str().unwrap_or("?"));
        Ok(ClientIp(client_ip::resolve(
            peer,
            forwarded_for,
            &state.config.trusted_proxies,
        )))
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Where to send the browser after login: a path on this server (below the issuer's path),
/// never another origin. Anything else, missing or not, yields the home page.
pub fn safe_return_to(base: &str, requested: Option<&str>) -> String {
    let Some(path) = requested else {
        return home(base);
    };
    // `//host` and `/\host` are network-path references in browsers; control and non-ASCII
    // characters could split or smuggle headers.
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && (base.is_empty()
            || path == base
            || path.starts_with(&format!("{base}/"))
            || path.starts_with(&format!("{base}?")));
    if local { path.to_owned() } else { home(base) }
}

/// The signed-in landing page: `/`, or the issuer's path when it has one.
pub fn home(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn only_local_paths_are_followed() {
        let long = "/oauth2/authorize?response_type=code&client_id=cli_1&redirect_uri=https%3A%2F%2Fa.example%2Fcb&scope=openid%20email&state=x%2By";
        assert_eq!(safe_return_to("", Some(long)), long);
        assert_eq!(safe_return_to("", Some("/")), "/");
        assert_eq!(safe_return_to("", None), "/");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/a b",
            "/a\r\nSet-Cookie: x=y",
            "/é",
        ] {
            assert_eq!(safe_return_to("", Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to("/id", Some("/id/login")), "/id/login");
        assert_eq!(safe_return_to("/id", Some("/other")), "/id");
        assert_eq!(safe_return_to("/id", Some("/idx")), "/id");
    }
}
