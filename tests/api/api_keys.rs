//! API keys: created by admins with a role no higher than their own, shown once, usable as
//! bearer credentials on `/v1` for their account with their role, until revoked, rolled or
//! expired; reported by introspection to clients of the same account.

use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::{confidential, create_client};
use crate::helpers::{TestApp, TestUser, expect_problem};

pub async fn create_key(app: &TestApp, by: &TestUser, account: &str, role: &str) -> Value {
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{account}/api-keys"),
            &by.token,
        )
        .json(&json!({"name": format!("{role} key"), "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create {role} key");
    response.json().await.unwrap()
}

async fn status(app: &TestApp, method: Method, path: &str, token: &str) -> u16 {
    app.api(method, path, token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_key_is_shown_once_and_verifies_itself() {
    let app = TestApp::spawn().await;
    let team = app.team("keys").await;
    let created = create_key(&app, &team.admin, &team.account, "member").await;
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("tsk_") && token.len() >= 47, "{token}");
    assert!(created["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(created["status"], "active");
    assert_eq!(created["created_by"], team.admin.id.as_str());

    let verified: Value = app
        .api(Method::GET, "/v1/api-keys/verify", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["id"], created["id"]);
    assert_eq!(verified["account_id"], team.account.as_str());
    assert_eq!(verified["role"], "member");
    assert_eq!(verified["status"], "active");
    assert!(verified["expires_at"].is_null());

    let list: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/api-keys", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("token").is_none());
    // The use is recorded in the background, not on the request's path.
    let mut used = false;
    for _ in 0..40 {
        let last: Option<i64> =
            sqlx::query_scalar("select last_used_at from api_keys where id = $1")
                .bind(created["id"].as_str().unwrap())
                .fetch_one(app.state.store.pool())
                .await
                .unwrap();
        if last.is_some() {
            used = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(used, "last_used_at is recorded");
    assert_eq!(app.audit_actions(&team.account).await[0], "api_key.created");

    let user_token = app
        .api(Method::GET, "/v1/api-keys/verify", &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(user_token, 403, "forbidden").await;
    let unknown = app
        .api(Method::GET, "/v1/api-keys/verify", "tsk_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert!(
        unknown.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn only_admins_manage_keys_and_never_above_their_role() {
    let app = TestApp::spawn().await;
    let team = app.team("krole").await;
    let owner_key = create_key(&app, &team.owner, &team.account, "owner").await;
    let path = format!("/v1/accounts/{}/api-keys", team.account);
    let one = format!("{path}/{}", owner_key["id"].as_str().unwrap());
    for (role, user) in team.everyone() {
        let expected = match role {
            "owner" | "admin" => 200,
            "none" => 404,
            _ => 403,
        };
        assert_eq!(
            status(&app, Method::GET, &path, &user.token).await,
            expected,
            "{role}"
        );
        let response = app
            .api(Method::POST, &path, &user.token)
            .json(&json!({"name": "k", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        let created = if expected == 200 { 201 } else { expected };
        assert_eq!(response.status(), created, "{role} create");
        if expected != 200 {
            assert_eq!(
                status(&app, Method::DELETE, &one, &user.token).await,
                expected
            );
            assert_eq!(
                status(&app, Method::POST, &format!("{one}/roll"), &user.token).await,
                expected
            );
        }
    }
    // An admin grants at most admin, and cannot roll (and so obtain) an owner key.
    let response = app
        .api(Method::POST, &path, &team.admin.token)
        .json(&json!({"name": "k", "role": "owner"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    assert_eq!(
        status(
            &app,
            Method::POST,
            &format!("{one}/roll"),
            &team.admin.token
        )
        .await,
        403
    );
    // So does an admin key.
    let admin_key = create_key(&app, &team.owner, &team.account, "admin").await;
    let admin_key = admin_key["token"].as_str().unwrap();
    let response = app
        .api(Method::POST, &path, admin_key)
        .json(&json!({"name": "k", "role": "owner"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let response = app
        .api(Method::POST, &path, admin_key)
        .json(&json!({"name": "by a key", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created["created_by"].is_null());
    let events: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/audit-logs?limit=1", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"][0]["action"], "api_key.created");
    assert_eq!(events["data"][0]["actor"]["type"], "api_key");
    let response = app
        .api(Method::POST, &path, &team.owner.token)
        .json(&json!({"name": "k", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
}

#[tokio::test]
async fn a_key_acts_on_its_account_with_its_role_only() {
    let app = TestApp::spawn().await;
    let team = app.team("kact").await;
    let other = app.team("kother").await;
    let member = create_key(&app, &team.owner, &team.account, "member").await;
    let member = member["token"].as_str().unwrap();
    let admin = create_key(&app, &team.owner, &team.account, "admin").await;
    let admin = admin["token"].as_str().unwrap();
    let account = format!("/v1/accounts/{}", team.account);
    let clients = format!("{account}/clients");
    assert_eq!(status(&app, Method::GET, &account, member).await, 200);
    assert_eq!(
        status(&app, Method::GET, &format!("{account}/members"), member).await,
        200
    );
    assert_eq!(status(&app, Method::GET, &clients, member).await, 403);
    assert_eq!(status(&app, Method::GET, &clients, admin).await, 200);
    let response = app
        .api(Method::POST, &clients, admin)
        .json(&confidential())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Another tenant does not exist for it; user-only endpoints refuse it.
    let elsewhere = format!("/v1/accounts/{}", other.account);
    assert_eq!(status(&app, Method::GET, &elsewhere, admin).await, 404);
    assert_eq!(status(&app, Method::GET, "/v1/me", admin).await, 403);
    let response = app
        .api(Method::POST, "/v1/accounts", admin)
        .json(&json!({"name": "Escape"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Another tenant's key id is not found under this account.
    let foreign = create_key(&app, &other.owner, &other.account, "viewer").await;
    let foreign_path = format!(
        "/v1/accounts/{}/api-keys/{}",
        team.account,
        foreign["id"].as_str().unwrap()
    );
    let response = app
        .api(Method::DELETE, &foreign_path, &team.owner.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    assert_eq!(
        status(
            &app,
            Method::GET,
            "/v1/api-keys/verify",
            foreign["token"].as_str().unwrap()
        )
        .await,
        200
    );
}

#[tokio::test]
async fn revoked_rolled_and_expired_keys_stop_at_once() {
    let app = TestApp::spawn().await;
    let team = app.team("kstop").await;
    let path = format!("/v1/accounts/{}/api-keys", team.account);

    let rolled = create_key(&app, &team.admin, &team.account, "viewer").await;
    let old = rolled["token"].as_str().unwrap();
    let answer: Value = app
        .api(
            Method::POST,
            &format!("{path}/{}/roll", rolled["id"].as_str().unwrap()),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = answer["token"].as_str().unwrap();
    assert_ne!(old, new);
    assert_eq!(
        status(&app, Method::GET, "/v1/api-keys/verify", old).await,
        401
    );
    assert_eq!(
        status(&app, Method::GET, "/v1/api-keys/verify", new).await,
        200
    );

    let one = format!("{path}/{}", rolled["id"].as_str().unwrap());
    assert_eq!(
        status(&app, Method::DELETE, &one, &team.admin.token).await,
        204
    );
    assert_eq!(
        status(&app, Method::GET, "/v1/api-keys/verify", new).await,
        401
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            &format!("{one}/roll"),
            &team.admin.token
        )
        .await,
        409
    );

    // A key that expires in two seconds, used (so cached) before and refused after.
    let expires_at = tessera::clock::Timestamp(tessera::clock::now() + 2).rfc3339();
    let expiring: Value = app
        .api(Method::POST, &path, &team.admin.token)
        .json(&json!({"name": "brief", "role": "viewer", "expires_at": expires_at}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = expiring["token"].as_str().unwrap();
    let account_path = format!("/v1/accounts/{}", team.account);
    assert_eq!(status(&app, Method::GET, &account_path, token).await, 200);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let response = app
        .api(Method::GET, &account_path, token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "invalid_token").await;
    let actions = app.audit_actions(&team.account).await;
    assert!(actions.contains(&"api_key.rolled".to_owned()));
    assert!(actions.contains(&"api_key.revoked".to_owned()));
}

#[tokio::test]
async fn introspection_reports_keys_to_clients_of_the_same_account_only() {
    let app = TestApp::spawn().await;
    let team = app.team("kint").await;
    let other = app.team("kintother").await;
    let key = create_key(&app, &team.owner, &team.account, "admin").await;
    let token = key["token"].as_str().unwrap();
    let mine = create_client(&app, &team.owner, &team.account, &confidential()).await;
    let theirs = create_client(&app, &other.owner, &other.account, &confidential()).await;
    let introspect = |client: &Value| {
        app.http
            .post(app.url("/oauth2/introspect"))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[("token", token)])
            .send()
    };
    let seen: Value = introspect(&mine).await.unwrap().json().await.unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["token_type"], "api_key");
    assert_eq!(seen["acc"], team.account.as_str());
    assert_eq!(seen["sub"], team.account.as_str());
    assert_eq!(seen["role"], "admin");
    assert!(seen.get("client_id").is_none());
    let hidden: Value = introspect(&theirs).await.unwrap().json().await.unwrap();
    assert_eq!(hidden, json!({"active": false}));
    app.api(
        Method::DELETE,
        &format!(
            "/v1/accounts/{}/api-keys/{}",
            team.account,
            key["id"].as_str().unwrap()
        ),
        &team.owner.token,
    )
    .send()
    .await
    .unwrap();
    let revoked: Value = introspect(&mine).await.unwrap().json().await.unwrap();
    assert_eq!(revoked, json!({"active": false}));
}

#[tokio::test]
async fn a_key_reaches_descendants_as_an_admin_of_the_parent_would() {
    let app = TestApp::spawn().await;
    let team = app.team("ktree").await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/children", team.account),
            &team.owner.token,
        )
        .json(&json!({"name": "Child"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let child: Value = response.json().await.unwrap();
    let child = format!("/v1/accounts/{}", child["id"].as_str().unwrap());
    let owner_key = create_key(&app, &team.owner, &team.account, "owner").await;
    let member_key = create_key(&app, &team.owner, &team.account, "member").await;
    let owner_key = owner_key["token"].as_str().unwrap();
    let member_key = member_key["token"].as_str().unwrap();
    assert_eq!(status(&app, Method::GET, &child, owner_key).await, 200);
    assert_eq!(
        status(&app, Method::GET, &format!("{child}/clients"), owner_key).await,
        200
    );
    // Inherited as admin, not owner.
    assert_eq!(status(&app, Method::DELETE, &child, owner_key).await, 403);
    assert_eq!(status(&app, Method::GET, &child, member_key).await, 404);
}
