//! `/v1/accounts/{acc}/members`: who may list, add, change and remove whom; the last owner.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, expect_problem};

fn member_path(account: &str, user: &TestUser) -> String {
    format!("/v1/accounts/{account}/members/{}", user.id)
}

async fn set_role(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    user: &TestUser,
    role: &str,
) -> reqwest::Response {
    app.api(Method::PATCH, &member_path(account, user), &by.token)
        .json(&json!({"role": role}))
        .send()
        .await
        .unwrap()
}

async fn remove(app: &TestApp, by: &TestUser, account: &str, user: &TestUser) -> reqwest::Response {
    app.api(Method::DELETE, &member_path(account, user), &by.token)
        .send()
        .await
        .unwrap()
}

async fn owners(app: &TestApp, account: &str) -> i64 {
    sqlx::query_scalar("select count(*) from memberships where account_id = $1 and role = 'owner'")
        .bind(account)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn viewers_and_up_list_and_read_members() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    for (role, user) in team.everyone() {
        let response = app
            .api(
                Method::GET,
                &format!("/v1/accounts/{}/members", team.account),
                &user.token,
            )
            .send()
            .await
            .unwrap();
        if role == "none" {
            expect_problem(response, 404, "not_found").await;
            continue;
        }
        assert_eq!(response.status(), 200, "{role}");
        let page: Value = response.json().await.unwrap();
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 4);
        // Newest first: the viewer joined last, the owner first.
        assert_eq!(data[0]["user_id"], team.viewer.id.as_str());
        assert_eq!(data[3]["role"], "owner");
        for field in ["user_id", "email", "name", "role", "created_at"] {
            assert!(!data[0][field].is_null(), "{field}");
        }
        let response = app
            .api(
                Method::GET,
                &member_path(&team.account, &team.admin),
                &user.token,
            )
            .send()
            .await
            .unwrap();
        let one: Value = response.json().await.unwrap();
        assert_eq!(one["email"], team.admin.email.as_str());
        assert_eq!(one["role"], "admin");
    }
    let response = app
        .api(
            Method::GET,
            &member_path(&team.account, &team.outsider),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn admins_add_existing_users_by_id_or_email_and_only_owners_grant_owner() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let members = format!("/v1/accounts/{}/members", team.account);
    let newcomer = app.user("Newcomer@Example.com").await;
    for (role, user) in [("member", &team.member), ("viewer", &team.viewer)] {
        let response = app
            .api(Method::POST, &members, &user.token)
            .json(&json!({"user_id": newcomer.id, "role": "viewer"}))
            .send()
            .await
            .unwrap();
        expect_problem(response, 403, "forbidden").await;
        let _ = role;
    }
    let response = app
        .api(Method::POST, &members, &team.outsider.token)
        .json(&json!({"user_id": newcomer.id, "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = app
        .api(Method::POST, &members, &team.admin.token)
        .json(&json!({"user_id": newcomer.id, "role": "owner"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;

    let response = app
        .api(Method::POST, &members, &team.admin.token)
        .json(&json!({"email": "newcomer@EXAMPLE.com", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["user_id"], newcomer.id.as_str());
    assert_eq!(added["role"], "admin");

    let response = app
        .api(Method::POST, &members, &team.owner.token)
        .json(&json!({"user_id": newcomer.id, "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "conflict").await;
    for bad in [
        json!({"role": "viewer"}),
        json!({"user_id": newcomer.id, "email": newcomer.email, "role": "viewer"}),
        json!({"user_id": newcomer.id, "role": "superuser"}),
        json!({"user_id": newcomer.id}),
    ] {
        let response = app
            .api(Method::POST, &members, &team.owner.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }
    let response = app
        .api(Method::POST, &members, &team.owner.token)
        .json(&json!({"email": "nobody@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let third = app.user("third@example.com").await;
    let response = app
        .api(Method::POST, &members, &team.owner.token)
        .json(&json!({"user_id": third.id, "role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(owners(&app, &team.account).await, 2);
    let added = app
        .audit_actions(&team.account)
        .await
        .iter()
        .filter(|a| *a == "member.added")
        .count();
    assert_eq!(added, 6);
}

#[tokio::test]
async fn roles_change_by_the_rules_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let account = &team.account;
    expect_problem(
        set_role(&app, &team.member, account, &team.viewer, "member").await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        set_role(&app, &team.viewer, account, &team.viewer, "admin").await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        set_role(&app, &team.outsider, account, &team.viewer, "admin").await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        set_role(&app, &team.admin, account, &team.owner, "admin").await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        set_role(&app, &team.admin, account, &team.viewer, "owner").await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        set_role(&app, &team.owner, account, &team.outsider, "admin").await,
        404,
        "not_found",
    )
    .await;

    let response = set_role(&app, &team.admin, account, &team.viewer, "member").await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["role"], "member");

    expect_problem(
        set_role(&app, &team.owner, account, &team.owner, "admin").await,
        409,
        "last_owner",
    )
    .await;
    assert_eq!(
        set_role(&app, &team.owner, account, &team.admin, "owner")
            .await
            .status(),
        200
    );
    // With two owners, one may step down.
    assert_eq!(
        set_role(&app, &team.admin, account, &team.owner, "viewer")
            .await
            .status(),
        200
    );
    assert_eq!(owners(&app, account).await, 1);
    assert!(
        app.audit_actions(account)
            .await
            .iter()
            .filter(|a| *a == "member.role_changed")
            .count()
            == 3
    );
}

#[tokio::test]
async fn members_are_removed_by_admins_or_leave_and_the_last_owner_cannot_go() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let account = &team.account;
    expect_problem(
        remove(&app, &team.member, account, &team.viewer).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        remove(&app, &team.admin, account, &team.owner).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        remove(&app, &team.outsider, account, &team.viewer).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        remove(&app, &team.owner, account, &team.owner).await,
        409,
        "last_owner",
    )
    .await;

    assert_eq!(
        remove(&app, &team.viewer, account, &team.viewer)
            .await
            .status(),
        204,
        "leave"
    );
    assert_eq!(
        remove(&app, &team.admin, account, &team.member)
            .await
            .status(),
        204
    );
    expect_problem(
        remove(&app, &team.admin, account, &team.member).await,
        404,
        "not_found",
    )
    .await;
    // Gone members have no relation any more.
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{account}"),
            &team.viewer.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    assert_eq!(
        remove(&app, &team.owner, account, &team.admin)
            .await
            .status(),
        204
    );
    assert_eq!(owners(&app, account).await, 1);
    let (actor, target, ip, user_agent): (String, String, Option<String>, Option<String>) =
        sqlx::query_as(
            "select actor_id, target_id, ip, user_agent from audit_events \
             where account_id = $1 and action = 'member.removed' order by id desc limit 1",
        )
        .bind(account)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(actor, team.owner.id);
    assert_eq!(target, team.admin.id);
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(
        user_agent.is_none(),
        "reqwest sends no User-Agent unless told"
    );
    let removed = app
        .audit_actions(account)
        .await
        .iter()
        .filter(|a| *a == "member.removed")
        .count();
    assert_eq!(removed, 3);
}

#[tokio::test]
async fn two_owners_removing_each_other_at_once_leave_one_owner() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let team = app.team(&format!("race{round}")).await;
        let account = &team.account;
        app.add_member(&team.owner, account, &team.outsider, "owner")
            .await;
        let (a, b) = tokio::join!(
            remove(&app, &team.owner, account, &team.outsider),
            remove(&app, &team.outsider, account, &team.owner),
        );
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(statuses.contains(&204), "{statuses:?}");
        assert_eq!(
            owners(&app, account).await,
            1,
            "round {round}: {statuses:?}"
        );
        // Both leaving at once: same.
        let other = app.user(&format!("race{round}-second@example.com")).await;
        let remaining = if statuses[0] == 204 {
            &team.owner
        } else {
            &team.outsider
        };
        app.add_member(remaining, account, &other, "owner").await;
        let (a, b) = tokio::join!(
            remove(&app, remaining, account, remaining),
            remove(&app, &other, account, &other),
        );
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(
            statuses.contains(&204) && statuses.contains(&409),
            "{statuses:?}"
        );
        assert_eq!(owners(&app, account).await, 1, "round {round}");
    }
}
