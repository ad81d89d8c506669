//! Integration tests: the real server over HTTP, the real binary, the real database
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]
mod account_tokens;
mod accounts;
mod authorization_code;
mod bootstrap;
mod browser;
mod cli;
mod client_credentials;
mod consent_and_logout;
mod discovery;
mod email;
mod helpers;
mod invites;
mod keys;
mod login;
mod me;
mod members;
mod outbox;
mod store;
mod tenant_isolation;
mod v1_conventions;
mod webhooks;
