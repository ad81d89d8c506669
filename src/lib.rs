//! Tessera: an OAuth 2 / OpenID Connect server that issues account-scoped tokens.
//!
//! Read top-down: `app` wires configuration, storage and keys into the HTTP router
//! (`http`); `oauth` holds the protocol rules; `store` persists; `keys` signs.

pub mod access;
pub mod account;
pub mod account_profile;
pub mod api_key;
mod app;
pub mod audit;
pub mod authorization;
pub mod billing;
pub mod bootstrap;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod dns;
pub mod domain;
pub mod email_address;
pub mod file;
pub mod files;
pub mod http;
pub mod identity;
pub mod ids;
pub mod introspection;
pub mod invitation;
pub mod keys;
pub mod mailer;
pub mod maintenance;
pub mod manage;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod onboarding;
pub mod passkey;
pub mod password;
pub mod permission;
pub mod profile;
pub mod rate_limit;
pub mod revocation;
pub mod role;
pub mod search;
pub mod secret;
pub mod session;
pub mod sso_connection;
pub mod state;
pub mod store;
pub mod text;
pub mod tokens;
pub mod upstream;
pub mod user;
pub mod validation;
pub mod webhooks;

pub use app::App;
