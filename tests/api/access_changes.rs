//! Clients and the liveness of tokens are held in memory on every instance (`store::cache`):
//! each test first uses a client or token, so it is cached, then changes what it depends on
//! and expects the change to hold at once on the instance that made it, and within moments
//! on another one.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::account_tokens;
use crate::api_keys::create_key;
use crate::clients::{client_credentials, confidential, create_client};
use crate::helpers::{Deployment, DnsServer, TestApp, TestUser};

/// `POST /v1/auth/account-token` for `user`: the status and the body (`Null` if not JSON).
async fn account_token(app: &TestApp, user: &TestUser, account: &str) -> (u16, Value) {
    let response = account_tokens::account_token(app, user, json!({ "account_id": account })).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Within how long another instance must see a change: PostgreSQL tells it at commit; a
/// second process on one SQLite file (possible, not a supported deployment) hears nothing
/// and reads again after the cache's TTL.
fn propagation(deployment: &Deployment) -> Duration {
    if deployment.database.is_postgres() {
        // Well under the TTL, so only the notification can explain passing; with room for a
        // loaded CI machine.
        Duration::from_secs(5)
    } else {
        tessera::store::cache::TTL + Duration::from_secs(2)
    }
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
    let within = propagation(&deployment);
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

#[tokio::test]
async fn membership_changes_and_revocations_hold_at_once_for_cached_tokens() {
    let app = TestApp::spawn().await;
    let team = app.team("live").await;
    let (member, account) = (&team.member, team.account.as_str());
    let member_path = format!("/v1/accounts/{account}/members/{}", member.id);
    let role_now = || async {
        let (status, body) = account_token(&app, member, account).await;
        (status, body["role"].as_str().map(str::to_owned))
    };
    let role = |role: &str| (200, Some(role.to_owned()));
    assert_eq!(role_now().await, role("member"));

    let promoted = app
        .api(Method::PATCH, &member_path, &team.owner.token)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), 200);
    assert_eq!(role_now().await, role("admin"));

    delete(&app, &team.owner, &member_path).await;
    assert_eq!(role_now().await.0, 404);
    app.add_member(&team.owner, account, member, "viewer").await;
    assert_eq!(role_now().await, role("viewer"));

    // An account token stands while its membership does.
    let (_, body) = account_token(&app, member, account).await;
    let scoped = body["access_token"].as_str().unwrap();
    let me = |token: &str| {
        let request = app.api(Method::GET, "/v1/me", token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(scoped).await, 200);
    delete(&app, &team.owner, &member_path).await;
    assert_eq!(me(scoped).await, 401, "its membership is gone");

    // RFC 7009 revocation of the login token itself.
    app.add_member(&team.owner, account, member, "member").await;
    assert_eq!(me(&member.token).await, 200);
    let client = app.login_client().await;
    let revoked = app
        .http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[("token", member.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(me(&member.token).await, 401);
    assert_eq!(account_token(&app, member, account).await.0, 401);
}

#[tokio::test]
async fn another_instance_stops_exchanging_for_a_removed_member_within_moments() {
    let deployment = Deployment::new().await;
    let first = deployment.spawn().await;
    // Instances behind one load balancer share the issuer its tokens name.
    let mut config = deployment.config();
    config.issuer = Some((*first.state.issuer).clone());
    let second = TestApp::start(config).await;
    let team = first.team("gone").await;
    let (member, account) = (&team.member, team.account.as_str());
    assert_eq!(account_token(&second, member, account).await.0, 200);

    let path = format!("/v1/accounts/{account}/members/{}", member.id);
    delete(&first, &team.owner, &path).await;
    assert_eq!(account_token(&first, member, account).await.0, 404);
    let within = propagation(&deployment);
    let deadline = Instant::now() + within;
    while account_token(&second, member, account).await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "the removed member still gets account tokens after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `/v1` caller's standing and the account it reads are cached too: a change to the
/// membership, the role's permissions, the account or its verified domains holds at once.
#[tokio::test]
async fn standings_and_accounts_read_by_v1_follow_every_change_at_once() {
    let dns = DnsServer::start().await;
    let app = TestApp::spawn_with(|config| config.dns_servers = vec![dns.addr]).await;
    let team = app.team("standing").await;
    let account = team.account.as_str();
    let account_path = format!("/v1/accounts/{account}");
    let member_path = format!("{account_path}/members/{}", team.member.id);
    let rename = |name: &'static str| {
        let request = app
            .api(Method::PATCH, &account_path, &team.member.token)
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "name": name }).to_string());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let shown = || async { read(&app, &team.member, &account_path).await };

    // Read (so cached), then promoted: the new standing holds for the next call.
    assert_eq!(shown().await["name"], "standing Inc");
    assert_eq!(rename("Renamed").await, 403);
    patch(&app, &team.owner, &member_path, json!({"role": "admin"})).await;
    assert_eq!(rename("Renamed").await, 200);
    assert_eq!(
        shown().await["name"],
        "Renamed",
        "the cached account is forgotten"
    );

    // A custom role whose permissions shrink.
    let created = app
        .api(Method::POST, &format!("{account_path}/roles"), &team.owner.token)
        .json(&json!({"id": "editor", "name": "Editor", "permissions": ["account:read", "account:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    patch(&app, &team.owner, &member_path, json!({"role": "editor"})).await;
    assert_eq!(rename("Edited").await, 200);
    let role_path = format!("{account_path}/roles/editor");
    patch(
        &app,
        &team.owner,
        &role_path,
        json!({"permissions": ["account:read"]}),
    )
    .await;
    assert_eq!(rename("Refused").await, 403);

    // A domain verified, then deleted, shows on the account at once.
    assert_eq!(shown().await["email_domains"], json!([]));
    let domain_path =
        verified_domain(&app, &team.owner, &account_path, &dns, "standing.example").await;
    assert_eq!(shown().await["email_domains"], json!(["standing.example"]));
    delete(&app, &team.owner, &domain_path).await;
    assert_eq!(shown().await["email_domains"], json!([]));

    // Removed: no relation, so 404 at once.
    delete(&app, &team.owner, &member_path).await;
    let gone = app
        .api(Method::GET, &account_path, &team.member.token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

/// Another instance's cached standing and account follow a change within moments.
#[tokio::test]
async fn another_instance_sees_a_changed_standing_and_account_within_moments() {
    let dns = DnsServer::start().await;
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.dns_servers = vec![dns.addr];
    let first = TestApp::start(config.clone()).await;
    config.issuer = Some((*first.state.issuer).clone());
    let second = TestApp::start(config).await;
    let team = first.team("elsewhere").await;
    let account_path = format!("/v1/accounts/{}", team.account);
    let within = propagation(&deployment);
    let eventually = |what: &'static str, holds: bool, deadline: Instant| {
        assert!(
            Instant::now() < deadline || holds,
            "{what} after {within:?}"
        );
        holds
    };

    // Cached on the second instance, then a domain verified on the first.
    assert_eq!(
        read(&second, &team.member, &account_path).await["email_domains"],
        json!([])
    );
    verified_domain(
        &first,
        &team.owner,
        &account_path,
        &dns,
        "elsewhere.example",
    )
    .await;
    let deadline = Instant::now() + within;
    loop {
        let shown = read(&second, &team.member, &account_path).await;
        if eventually(
            "the second instance still shows no verified domain",
            shown["email_domains"] == json!(["elsewhere.example"]),
            deadline,
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A key used on the second instance, then revoked on the first.
    let key = create_key(&first, &team.owner, &team.account, "viewer").await;
    let key_token = key["token"].as_str().unwrap();
    let key_status = || async {
        second
            .api(Method::GET, "/v1/api-keys/verify", key_token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(key_status().await, 200);
    let key_path = format!("{account_path}/api-keys/{}", key["id"].as_str().unwrap());
    delete(&first, &team.owner, &key_path).await;
    let deadline = Instant::now() + within;
    while !eventually(
        "the second instance still takes a revoked key",
        key_status().await == 401,
        deadline,
    ) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A member removed on the first instance loses the account on the second.
    let member_path = format!("{account_path}/members/{}", team.member.id);
    delete(&first, &team.owner, &member_path).await;
    let deadline = Instant::now() + within;
    loop {
        let status = second
            .api(Method::GET, &account_path, &team.member.token)
            .send()
            .await
            .unwrap()
            .status();
        if eventually(
            "the removed member still reads the account",
            status == 404,
            deadline,
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GET answered 200, as JSON.
async fn read(app: &TestApp, by: &TestUser, path: &str) -> Value {
    let response = app.api(Method::GET, path, &by.token).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Claims `domain` for the account at `account_path`, publishes its challenge on `dns` and
/// verifies it: the domain's path.
async fn verified_domain(
    app: &TestApp,
    by: &TestUser,
    account_path: &str,
    dns: &DnsServer,
    domain: &str,
) -> String {
    let claimed: Value = app
        .api(Method::POST, &format!("{account_path}/domains"), &by.token)
        .json(&json!({ "domain": domain }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    dns.publish(
        &format!("_tessera-challenge.{domain}"),
        &[claimed["verification"]["value"].as_str().unwrap()],
    );
    let path = format!("{account_path}/domains/{}", claimed["id"].as_str().unwrap());
    let verified = app
        .api(Method::POST, &format!("{path}/verify"), &by.token)
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200, "verify {domain}");
    path
}
