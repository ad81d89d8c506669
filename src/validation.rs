//! How a request's broken rules are reported: `{field, message}` pairs that every layer
//! (protocol rules, accounts, the admin actions) returns and the HTTP layer renders.

use serde::Serialize;

/// One broken rule of a request, reported as `{field, message}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}
