//! `/v1/accounts` and children: create, read, merge-patch, delete, nesting, per role.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem};

fn merge_patch(app: &TestApp, account: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
    app.api(Method::PATCH, &format!("/v1/accounts/{account}"), token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
}

#[tokio::test]
async fn the_creator_owns_a_new_account() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let account = app
        .create_account(
            &ada,
            json!({"name": "Acme", "labels": {"tier": "gold"}, "external_id": "crm-1"}),
        )
        .await;
    let id = account["id"].as_str().unwrap();
    assert!(id.starts_with("acc_"));
    assert_eq!(account["name"], "Acme");
    assert_eq!(account["status"], "active");
    assert_eq!(account["parent_id"], Value::Null);
    assert_eq!(account["labels"], json!({"tier": "gold"}));
    assert_eq!(account["external_id"], "crm-1");
    for field in ["avatar_url", "billing_email"] {
        assert_eq!(account[field], Value::Null, "{field}");
    }
    assert!(account["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(account["created_at"], account["updated_at"]);

    let shown: Value = app
        .api(Method::GET, &format!("/v1/accounts/{id}"), &ada.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown, account);
    let member: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/members/{}", ada.id),
            &ada.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["role"], "owner");
    // One transaction, one millisecond: the two events' order is not defined.
    let mut actions = app.audit_actions(id).await;
    actions.sort();
    assert_eq!(actions, ["account.created", "member.added"]);

    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "A", "billing_email": "nope"}),
    ] {
        let response = app
            .api(Method::POST, "/v1/accounts", &ada.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }
}

#[tokio::test]
async fn every_role_reads_but_only_admins_patch_and_only_owners_delete() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let path = format!("/v1/accounts/{}", team.account);
    for (role, user) in team.everyone() {
        let response = app
            .api(Method::GET, &path, &user.token)
            .send()
            .await
            .unwrap();
        match role {
            "none" => {
                expect_problem(response, 404, "not_found").await;
            }
            _ => assert_eq!(response.status(), 200, "{role} reads"),
        }
        let response = merge_patch(
            &app,
            &team.account,
            &user.token,
            &json!({"name": format!("By {role}")}),
        )
        .send()
        .await
        .unwrap();
        match role {
            "owner" | "admin" => {
                assert_eq!(response.status(), 200, "{role} patches");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["name"], format!("By {role}"));
            }
            "member" | "viewer" => {
                expect_problem(response, 403, "forbidden").await;
            }
            _ => {
                expect_problem(response, 404, "not_found").await;
            }
        }
    }
    for (role, user) in team.everyone() {
        if role == "owner" {
            continue;
        }
        let response = app
            .api(Method::DELETE, &path, &user.token)
            .send()
            .await
            .unwrap();
        let (status, code) = if role == "none" {
            (404, "not_found")
        } else {
            (403, "forbidden")
        };
        expect_problem(response, status, code).await;
    }
    let response = app
        .api(Method::DELETE, &path, &team.owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let gone = app
        .api(Method::GET, &path, &team.owner.token)
        .send()
        .await
        .unwrap();
    expect_problem(gone, 404, "not_found").await;
    assert_eq!(app.audit_actions(&team.account).await[0], "account.deleted");
}

#[tokio::test]
async fn a_merge_patch_sets_removes_and_refuses_read_only_fields() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let account = &team.account;
    let response = merge_patch(
        &app,
        account,
        &team.admin.token,
        &json!({
            "billing_email": "billing@acme.test",
            "avatar_url": "https://acme.test/logo.png",
            "labels": {"tier": "gold", "region": "eu"},
            "external_id": "crm-9"
        }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["billing_email"], "billing@acme.test");
    assert_eq!(patched["labels"], json!({"tier": "gold", "region": "eu"}));

    let patched: Value = merge_patch(
        &app,
        account,
        &team.admin.token,
        &json!({"billing_email": null, "labels": {"tier": null}, "external_id": null}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(patched["billing_email"], Value::Null);
    assert_eq!(patched["external_id"], Value::Null);
    assert_eq!(patched["labels"], json!({"region": "eu"}));
    assert_eq!(patched["avatar_url"], "https://acme.test/logo.png");
    assert_eq!(patched["name"], "acme Inc");

    for read_only in ["id", "parent_id", "created_at", "updated_at"] {
        let response = merge_patch(
            &app,
            account,
            &team.owner.token,
            &json!({ read_only: null }),
        )
        .send()
        .await
        .unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], read_only);
    }
    for bad in [
        json!({"name": null}),
        json!({"name": 7}),
        json!({"status": "closed"}),
        json!({"labels": {"a": 1}}),
        json!({"nickname": "x"}),
        json!({"avatar_url": "ftp://x"}),
    ] {
        let response = merge_patch(&app, account, &team.owner.token, &bad)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }
    // Plain JSON means the same merge patch (API.md §2); another media type is refused.
    let response = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            &team.owner.token,
        )
        .json(&json!({"name": "Plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            &team.owner.token,
        )
        .header("content-type", "text/plain")
        .body(r#"{"name": "Text"}"#)
        .send()
        .await
        .unwrap();
    expect_problem(response, 415, "unsupported_media_type").await;

    let actions = app.audit_actions(account).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "account.updated").count(),
        3
    );
}

#[tokio::test]
async fn only_an_owner_changes_the_status_and_a_suspended_account_issues_no_tokens() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let response = merge_patch(
        &app,
        &team.account,
        &team.admin.token,
        &json!({"status": "suspended"}),
    )
    .send()
    .await
    .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let response = merge_patch(
        &app,
        &team.account,
        &team.owner.token,
        &json!({"status": "suspended"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::POST, "/v1/auth/account-token", &team.member.token)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = merge_patch(
        &app,
        &team.account,
        &team.owner.token,
        &json!({"status": "active"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::POST, "/v1/auth/account-token", &team.member.token)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn children_need_admin_on_the_parent_whose_admins_administer_them() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let children = format!("/v1/accounts/{}/children", team.account);
    for (role, user) in team.everyone() {
        let response = app
            .api(Method::POST, &children, &user.token)
            .json(&json!({"name": format!("Child of {role}")}))
            .send()
            .await
            .unwrap();
        match role {
            "owner" | "admin" => assert_eq!(response.status(), 201, "{role}"),
            "none" => {
                expect_problem(response, 404, "not_found").await;
            }
            _ => {
                expect_problem(response, 403, "forbidden").await;
            }
        }
        let response = app
            .api(Method::POST, "/v1/accounts", &user.token)
            .json(&json!({"name": "Nested", "parent_id": team.account}))
            .send()
            .await
            .unwrap();
        match role {
            "owner" | "admin" => assert_eq!(response.status(), 201, "{role}"),
            "none" => {
                expect_problem(response, 404, "not_found").await;
            }
            _ => {
                expect_problem(response, 403, "forbidden").await;
            }
        }
    }
    // The admin created a child and owns it; the parent's owner administers it.
    let listed: Value = app
        .api(Method::GET, &children, &team.viewer.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .all(|c| c["parent_id"] == team.account.as_str())
    );
    let admins_child = listed
        .iter()
        .find(|c| c["name"] == "Child of admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = merge_patch(
        &app,
        &admins_child,
        &team.owner.token,
        &json!({"name": "Renamed"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a parent owner is admin of the child"
    );
    // …but not its owner: status and deletion stay with the child's owners.
    let response = merge_patch(
        &app,
        &admins_child,
        &team.owner.token,
        &json!({"status": "suspended"}),
    )
    .send()
    .await
    .unwrap();
    expect_problem(response, 403, "forbidden").await;
    // A parent's member or viewer is nothing in the child.
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{admins_child}"),
            &team.member.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    // Grandchildren inherit too.
    let grandchild = app
        .create_account(
            &team.admin,
            json!({"name": "Grandchild", "parent_id": admins_child}),
        )
        .await;
    let response = app
        .api(
            Method::GET,
            &format!(
                "/v1/accounts/{}/members",
                grandchild["id"].as_str().unwrap()
            ),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn deleting_a_parent_needs_cascade_and_takes_everything_with_it() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let child = app
        .create_account(
            &team.owner,
            json!({"name": "Child", "parent_id": team.account}),
        )
        .await;
    let child = child["id"].as_str().unwrap().to_owned();
    let grandchild = app
        .create_account(
            &team.owner,
            json!({"name": "Grandchild", "parent_id": child}),
        )
        .await;
    let grandchild = grandchild["id"].as_str().unwrap().to_owned();
    // An account token of the member, to see it die with the account.
    let token: Value = app
        .api(Method::POST, "/v1/auth/account-token", &team.member.token)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_token = token["access_token"].as_str().unwrap().to_owned();
    let invite = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.owner.token,
        )
        .json(&json!({"email": "new@example.com", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invite.status(), 201);

    let path = format!("/v1/accounts/{}", team.account);
    let response = app
        .api(Method::DELETE, &path, &team.owner.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "has_children").await;
    let response = app
        .api(
            Method::DELETE,
            &format!("{path}?cascade=maybe"),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
    let response = app
        .api(
            Method::DELETE,
            &format!("{path}?cascade=true"),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    for id in [&team.account, &child, &grandchild] {
        let response = app
            .api(
                Method::GET,
                &format!("/v1/accounts/{id}"),
                &team.owner.token,
            )
            .send()
            .await
            .unwrap();
        expect_problem(response, 404, "not_found").await;
        assert_eq!(app.audit_actions(id).await[0], "account.deleted");
    }
    let pool = app.state.store.pool();
    for table in ["memberships", "invitations"] {
        let left: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where account_id in ($1, $2, $3)"
        ))
        .bind(&team.account)
        .bind(&child)
        .bind(&grandchild)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    let response = app
        .api(Method::GET, "/v1/me", &account_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "invalid_token").await;
    let mine: Value = app
        .api(Method::GET, "/v1/me/accounts", &team.member.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"], json!([]));
}

#[tokio::test]
async fn an_account_scoped_token_cannot_create_top_level_accounts() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let token: Value = app
        .api(Method::POST, "/v1/auth/account-token", &team.owner.token)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = token["access_token"].as_str().unwrap();
    let response = app
        .api(Method::POST, "/v1/accounts", scoped)
        .json(&json!({"name": "Elsewhere"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let response = app
        .api(Method::POST, "/v1/accounts", scoped)
        .json(&json!({"name": "Below", "parent_id": team.account}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}
