//! The protocol core: OAuth 2 (RFC 6749 and friends) and OpenID Connect rules as plain
//! types and functions. Knows nothing of HTTP framing or storage; callers pass `now`.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod decision;
pub mod discovery;
pub mod error;
pub mod id_token;
pub mod params;
pub mod pkce;
pub mod scope;
pub mod signing_alg;
pub mod token;
