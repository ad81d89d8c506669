//! Integration tests: the real server over HTTP, the real binary, the real database
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]
mod access_changes;
mod account_moves;
mod account_picker;
mod account_surface;
mod account_switch;
mod account_tokens;
mod accounts;
mod admin;
mod api_keys;
mod attacks;
mod audit_logs;
mod authorization_code;
mod billing;
mod bootstrap;
mod browser;
mod cli;
mod client_credentials;
mod clients;
mod consent_and_logout;
mod cors;
mod discovery;
mod domains;
mod email;
mod federation;
mod files;
mod grants;
mod hardening;
mod helpers;
mod identity_providers;
mod invite_page;
mod invites;
mod keys;
#[path = "../kit/mod.rs"]
mod kit;
mod live_credentials;
mod login;
mod me;
mod members;
mod mfa;
mod onboarding;
mod operations;
mod operator;
mod outbox;
mod passkeys;
mod registration;
mod role_races;
mod roles;
mod self_service;
mod sessions;
mod signing_algorithms;
mod soft_authenticator;
mod sso_connections;
mod sso_sign_in;
mod store;
mod structure;
mod tenant_isolation;
mod v1_conventions;
mod webhooks;
