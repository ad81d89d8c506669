//! The protocol core: OAuth 2 (RFC 6749 and friends) and OpenID Connect rules as plain
//! types and functions. Knows nothing of HTTP framing or storage; callers pass `now`.

pub mod claims;
pub mod client;
pub mod discovery;
pub mod scope;
