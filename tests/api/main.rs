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
mod bootstrap;
mod cli;
mod client_credentials;
mod discovery;
mod helpers;
mod keys;
mod members;
mod store;
mod v1_conventions;
