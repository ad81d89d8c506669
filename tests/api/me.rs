//! `/v1/me`: the caller's profile and its changes, and the accounts the caller belongs to.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::ids::UserId;
use tessera::store::users;

use crate::helpers::{TestApp, expect_problem};

#[tokio::test]
async fn the_profile_shows_the_caller_and_changes_by_patch() {
    let app = TestApp::spawn().await;
    let ada = app.user("Ada@Example.com").await;
    let me: Value = app
        .api(Method::GET, "/v1/me", &ada.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "name"]
    );
    assert_eq!(me["id"], ada.id.as_str());
    assert_eq!(me["email"], "Ada@Example.com");
    assert_eq!(me["email_verified"], false);

    let patch = |body: Value| {
        app.api(Method::PATCH, "/v1/me", &ada.token)
            .json(&body)
            .send()
    };
    let response = patch(json!({"name": "  Ada Lovelace "})).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["name"],
        "Ada Lovelace"
    );
    let response = patch(json!({"name": null})).await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["name"], Value::Null);
    for bad in [
        json!({"name": 1}),
        json!({"email": "other@example.com"}),
        json!({"name": "x".repeat(201)}),
    ] {
        expect_problem(patch(bad).await.unwrap(), 400, "validation_failed").await;
    }
}

#[tokio::test]
async fn a_new_password_needs_the_current_one() {
    let app = TestApp::spawn().await;
    let ada = app
        .user_with("ada@example.com", Some("old password 1"))
        .await;
    let patch = |body: Value| {
        app.api(Method::PATCH, "/v1/me", &ada.token)
            .json(&body)
            .send()
    };
    let problem = expect_problem(
        patch(json!({"password": "new password 2"})).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let problem = expect_problem(
        patch(json!({"password": "new password 2", "current_password": "wrong password"}))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let problem = expect_problem(
        patch(json!({"password": "short", "current_password": "old password 1"}))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "password");
    // The signup and reset policy: long enough is not enough.
    let problem = expect_problem(
        patch(json!({"password": "password", "current_password": "old password 1"}))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "password");

    let response =
        patch(json!({"password": "new password 2", "current_password": "old password 1"}))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let user = users::find(app.state.store.pool(), &UserId::parse(&ada.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.state
            .hasher
            .verify("new password 2".into(), user.password_hash.clone())
            .await
            .unwrap()
    );
    assert!(
        !app.state
            .hasher
            .verify("old password 1".into(), user.password_hash)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn my_accounts_list_each_membership_with_its_role() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let other = app
        .create_account(&team.viewer, json!({"name": "Viewer's own"}))
        .await;
    let mine: Value = app
        .api(Method::GET, "/v1/me/accounts", &team.viewer.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = mine["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["account"]["id"], other["id"]);
    assert_eq!(data[0]["role"], "owner");
    assert_eq!(data[1]["account"]["id"], team.account.as_str());
    assert_eq!(data[1]["account"]["name"], "acme Inc");
    assert_eq!(data[1]["role"], "viewer");
    let page: Value = app
        .api(Method::GET, "/v1/me/accounts?limit=1", &team.viewer.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .api(
            Method::GET,
            &format!("/v1/me/accounts?limit=1&cursor={cursor}"),
            &team.viewer.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"][0]["account"]["id"], team.account.as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let none: Value = app
        .api(Method::GET, "/v1/me/accounts", &team.outsider.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn an_account_scoped_token_sees_only_its_part_of_my_accounts() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let a = app.create_account(&ada, json!({"name": "A"})).await;
    let b = app.create_account(&ada, json!({"name": "B"})).await;
    let child = app
        .create_account(&ada, json!({"name": "A child", "parent_id": a["id"]}))
        .await;
    let body: Value = app
        .api(Method::POST, "/v1/auth/account-token", &ada.token)
        .json(&json!({"account_id": a["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = body["access_token"].as_str().unwrap();
    let ids = |page: &Value| -> Vec<Value> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["account"]["id"].clone())
            .collect()
    };
    let all: Value = app
        .api(Method::GET, "/v1/me/accounts", &ada.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&all),
        [child["id"].clone(), b["id"].clone(), a["id"].clone()]
    );
    let within: Value = app
        .api(Method::GET, "/v1/me/accounts", scoped)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&within), [child["id"].clone(), a["id"].clone()]);
    let response = app
        .api(Method::GET, "/v1/me/invites", scoped)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let me = app.api(Method::GET, "/v1/me", scoped).send().await.unwrap();
    assert_eq!(me.status(), 200);
}
