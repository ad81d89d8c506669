//! One kit for the integration tests (`tests/api/`) and the load benchmark (`benches/http.rs`),
//! each of which includes it with `#[path]`: a database of its own, a deployment's
//! configuration and keys, the real server in-process on 127.0.0.1:0, and the seeding both do
//! below HTTP. It takes the PostgreSQL server to use as a parameter (the tests pass
//! `TEST_DATABASE_URL`, the bench `BENCH_DATABASE_URL`) and needs no HTTP client.

mod database;
mod seed;
mod server;

pub use database::Database;
pub use seed::{ConfidentialClient, confidential_client, first_account, members, user_token};
pub use server::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, Server};
