//! Issue 9 hardening, attacked over HTTP: who the client is behind proxies (and that a
//! forged `X-Forwarded-For` buys nothing), the bound on concurrent password hashing,
//! `current_password` guesses on `PATCH /v1/me`, and list cursors sealed under their own key.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera::client_ip::TrustedProxies;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, LOGIN_SCOPE, TestApp, expect_problem, hidden_input,
};

/// A failed `POST /login` for `email`, sent with `X-Forwarded-For: forwarded_for`.
async fn log_in_via(
    app: &TestApp,
    csrf: &str,
    email: &str,
    password: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", csrf),
        ])
        .send()
        .await
        .unwrap()
}

async fn csrf(app: &TestApp) -> String {
    let html = app.get("/login").await.text().await.unwrap();
    hidden_input(&html, "csrf_token").unwrap()
}

#[tokio::test]
async fn a_forged_forwarded_for_does_not_escape_the_per_address_limit() {
    // No trusted proxy configured: the header is the client's word, and is ignored.
    let app = TestApp::spawn().await;
    let csrf = csrf(&app).await;
    for attempt in 1..=100 {
        let response = log_in_via(
            &app,
            &csrf,
            &format!("guess{attempt}@example.com"),
            "guess",
            &format!("198.51.100.{attempt}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    let response = log_in_via(&app, &csrf, ADMIN_EMAIL, ADMIN_PASSWORD, "203.0.113.250").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(RETRY_AFTER));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    let app = TestApp::start(config).await;
    let csrf = csrf(&app).await;

    // One email from rotating addresses: the per-email limit still holds.
    for attempt in 1..=10 {
        let forwarded = format!("192.0.2.{attempt}");
        let response = log_in_via(&app, &csrf, ADMIN_EMAIL, "wrong", &forwarded).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    let response = log_in_via(&app, &csrf, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.99").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // One forwarded client, many emails: its hundred failures are its own.
    for attempt in 1..=100 {
        let email = format!("guess{attempt}@example.com");
        let response = log_in_via(&app, &csrf, &email, "guess", "198.51.100.1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    let response = log_in_via(&app, &csrf, "x@example.com", "guess", "198.51.100.1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Prepending another address is the client's own writing; the proxy's entry still counts.
    let forged = "203.0.113.5, 198.51.100.1";
    let response = log_in_via(&app, &csrf, "y@example.com", "guess", forged).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not locked out.
    let response = log_in_via(&app, &csrf, "z@example.com", "guess", "198.51.100.2").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The audit trail names the forwarded client, not the proxy.
    let response = log_in_via(&app, &csrf, "audited@example.com", "guess", "198.51.100.3").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let owner = app
        .user_with("audited@example.com", Some("audited password 1"))
        .await;
    let account = app.create_account(&owner, json!({"name": "Audited"})).await;
    let response = log_in_via(
        &app,
        &csrf,
        "audited@example.com",
        "audited password 1",
        "2001:db8::7",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let ip: Option<String> = sqlx::query_scalar(
        "select ip from audit_events where action = 'user.login' and account_id = $1",
    )
    .bind(account["id"].as_str().unwrap())
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("2001:db8::7"));
}

/// A server whose password hashing runs one at a time and never waits for a slot.
async fn one_hash_at_a_time() -> (Deployment, TestApp) {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.password_hash_concurrency = 1;
    config.password_hash_wait = Duration::ZERO;
    let app = TestApp::start(config).await;
    (deployment, app)
}

#[tokio::test]
async fn password_checks_beyond_the_bound_are_answered_503_with_retry_after() {
    let (_deployment, app) = one_hash_at_a_time().await;
    let ada = app
        .user_with("ada@example.com", Some("ada password 1"))
        .await;
    let csrf = csrf(&app).await;

    // The test holds the only slot, as a flood of logins would.
    let slot = app.state.hasher.slot().await.unwrap();
    let login = || log_in_via(&app, &csrf, ADMIN_EMAIL, ADMIN_PASSWORD, "-");
    let (a, b, c) = tokio::join!(login(), login(), login());
    for response in [a, b, c] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(response.text().await.unwrap().contains("busy"));
    }
    let response = app
        .api(Method::PATCH, "/v1/me", &ada.token)
        .json(&json!({"password": "ada password 2", "current_password": "ada password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    expect_problem(response, 503, "overloaded").await;

    drop(slot);
    let response = log_in_via(&app, &csrf, ADMIN_EMAIL, ADMIN_PASSWORD, "-").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a free slot is used"
    );
}

#[tokio::test]
async fn wrong_current_passwords_on_patch_me_count_as_failed_logins() {
    let app = TestApp::spawn().await;
    let ada = app
        .user_with("ada@example.com", Some("ada password 1"))
        .await;
    let change = |token: String, current: &str, new: &str| {
        app.api(Method::PATCH, "/v1/me", &token)
            .json(&json!({"password": new, "current_password": current}))
            .send()
    };
    for attempt in 1..=9 {
        let response = change(ada.token.clone(), "a wrong guess", "ada password 2")
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{attempt}");
    }
    // The right one is not a failure, as with a login.
    let response = change(ada.token.clone(), "ada password 1", "ada password 2")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The new password revoked every earlier token: go on with one issued after it.
    let token = app.login_token(&ada.id, LOGIN_SCOPE).await;
    let response = change(token.clone(), "a wrong guess", "ada password 3")
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "tenth failure");
    let response = change(token, "ada password 2", "ada password 3")
        .await
        .unwrap();
    assert!(response.headers().contains_key(RETRY_AFTER));
    expect_problem(response, 429, "rate_limited").await;
    // The same counter as the login page.
    let response = app.log_in("ada@example.com", "ada password 2").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_cursor_sealed_under_the_key_encryption_key_itself_is_refused() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    for name in ["A", "B", "C"] {
        app.create_account(&ada, json!({ "name": name })).await;
    }
    let list = |query: String| {
        app.api(Method::GET, &format!("/v1/me/accounts?{query}"), &ada.token)
            .send()
    };
    let first: serde_json::Value = list("limit=1".into()).await.unwrap().json().await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let response = list(format!("limit=1&cursor={cursor}")).await.unwrap();
    assert_eq!(response.status(), 200);

    let kek = app.state.keys.key_encryption_key();
    // (Either key opens it: a server that sealed cursors under the KEK fails below, not here.)
    let position = kek
        .cursor_key()
        .open(cursor, "cursor:me/accounts")
        .or_else(|_| kek.open(cursor, "cursor:me/accounts"))
        .unwrap();
    let under_kek = kek.seal(&position, "cursor:me/accounts");
    let response = list(format!("limit=1&cursor={under_kek}")).await.unwrap();
    expect_problem(response, 400, "validation_failed").await;
}
