//! Clients are held in memory on every instance (`store::client_cache`): each test first has
//! the client authenticate, so it is cached, then changes it and expects the change to hold
//! at once on the instance that made it, and within moments on another one.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::{confidential, create_client};
use crate::helpers::{Deployment, TestApp, TestUser};

async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> u16 {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn patch(app: &TestApp, by: &TestUser, path: &str, body: Value) {
    let response = app
        .api(Method::PATCH, path, &by.token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "PATCH {path}");
}

async fn delete(app: &TestApp, by: &TestUser, path: &str) {
    let response = app
        .api(Method::DELETE, path, &by.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "DELETE {path}");
}

#[tokio::test]
async fn every_change_to_a_cached_client_or_its_account_holds_at_once() {
    let app = TestApp::spawn().await;
    let team = app.team("cache").await;
    let created = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let path = format!("/v1/accounts/{}/clients/{id}", team.account);
    assert_eq!(client_credentials(&app, id, secret).await, 200);

    patch(
        &app,
        &team.admin,
        &path,
        json!({"grant_types": ["authorization_code"]}),
    )
    .await;
    assert_eq!(
        client_credentials(&app, id, secret).await,
        400,
        "the grant was removed"
    );
    patch(
        &app,
        &team.admin,
        &path,
        json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(client_credentials(&app, id, secret).await, 200);

    let account = format!("/v1/accounts/{}", team.account);
    patch(&app, &team.owner, &account, json!({"status": "suspended"})).await;
    assert_ne!(
        client_credentials(&app, id, secret).await,
        200,
        "the account is suspended"
    );
    patch(&app, &team.owner, &account, json!({"status": "active"})).await;
    assert_eq!(client_credentials(&app, id, secret).await, 200);

    delete(&app, &team.admin, &path).await;
    assert_eq!(client_credentials(&app, id, secret).await, 401, "deleted");

    let other = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let (id, secret) = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    assert_eq!(client_credentials(&app, id, secret).await, 200);
    delete(&app, &team.owner, &account).await;
    assert_eq!(
        client_credentials(&app, id, secret).await,
        401,
        "its account is deleted"
    );
}

#[tokio::test]
async fn another_instance_stops_taking_a_rotated_secret_within_moments() {
    let deployment = Deployment::new().await;
    let first = deployment.spawn().await;
    let second = deployment.spawn().await;
    let team = first.team("rotate").await;
    let created = create_client(&first, &team.admin, &team.account, &confidential()).await;
    let (id, old) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    assert_eq!(client_credentials(&second, id, old).await, 200);

    let rotated: Value = first
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/clients/{id}/secret", team.account),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(client_credentials(&first, id, old).await, 401);
    // PostgreSQL tells the other instance at commit; a second process on one SQLite file
    // (not a supported deployment, but possible) hears nothing and rereads after the TTL.
    let within = if deployment.database.is_postgres() {
        Duration::from_secs(2)
    } else {
        tessera::store::client_cache::TTL + Duration::from_secs(2)
    };
    let deadline = Instant::now() + within;
    while client_credentials(&second, id, old).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the old secret still works after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client_credentials(&second, id, new).await, 200);
}
