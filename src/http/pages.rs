//! Hosted HTML pages shared by several endpoint families.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// An error the user must read (never a redirect to an unverified client).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let message = escape(message);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body><main><h1>Something is wrong with this request</h1><p>{message}</p></main></body></html>"
    );
    (status, Html(body)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
