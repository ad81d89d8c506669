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

async fn add(app: &TestApp, by: &TestUser, account: &str, body: Value) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/v1/accounts/{account}/members"),
        &by.token,
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn accept(app: &TestApp, user: &TestUser, token: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/v1/invites/{token}/accept"),
        &user.token,
    )
    .send()
    .await
    .unwrap()
}

/// The ids of the accounts `user` is a member of, per `GET /v1/me/accounts`.
async fn my_accounts(app: &TestApp, user: &TestUser) -> Vec<String> {
    let response = app
        .api(Method::GET, "/v1/me/accounts?limit=100", &user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["account"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn account_token(app: &TestApp, user: &TestUser, account: &str) -> reqwest::Response {
    app.api(Method::POST, "/v1/auth/account-token", &user.token)
        .json(&json!({"account_id": account}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admins_add_users_by_id_or_email_and_only_owners_grant_owner() {
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

    // An invitation to the address as typed; the user becomes a member by accepting it.
    let response = app
        .api(Method::POST, &members, &team.admin.token)
        .json(&json!({"email": "newcomer@EXAMPLE.com", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["status"], "invited");
    assert_eq!(added["user_id"], Value::Null);
    assert_eq!(added["email"], "newcomer@EXAMPLE.com");
    assert_eq!(added["role"], "admin");
    let token = app.invitation_token("newcomer@EXAMPLE.com").await;
    assert_eq!(accept(&app, &newcomer, &token).await.status(), 200);
    let response = app
        .api(
            Method::GET,
            &member_path(&team.account, &newcomer),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["role"], "admin");
    assert_eq!(member["status"], "member");

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
        json!({"email": "not an address", "role": "viewer"}),
    ] {
        let response = app
            .api(Method::POST, &members, &team.owner.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }
    let unknown_id = "usr_01J0000000000000000000000";
    let response = app
        .api(Method::POST, &members, &team.owner.token)
        .json(&json!({"user_id": unknown_id, "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let third = app.user("third@example.com").await;
    app.add_member(&team.owner, &team.account, &third, "owner")
        .await;
    assert_eq!(owners(&app, &team.account).await, 2);
    let actions = app.audit_actions(&team.account).await;
    let count = |action: &str| actions.iter().filter(|a| *a == action).count();
    // The owner at creation; the team's three, the newcomer and the third, each through an
    // accepted invitation.
    assert_eq!(count("member.added"), 6);
    assert_eq!(count("invite.created"), 5);
    assert_eq!(count("invite.accepted"), 5);
}

#[tokio::test]
async fn adding_by_email_answers_the_same_whether_or_not_a_user_has_the_address() {
    let app = TestApp::spawn().await;
    let team = app.team("enum").await;
    app.user("known@example.com").await;
    let mut answers = Vec::new();
    for email in ["known@example.com", "ghost@example.com"] {
        let before = app.emails_to(email).await.len();
        let response = add(
            &app,
            &team.admin,
            &team.account,
            json!({"email": email, "role": "member"}),
        )
        .await;
        let status = response.status();
        let mut headers: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                !["date", "content-length", "x-request-id"].contains(&name.as_str())
            })
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect();
        headers.sort();
        let mut body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], email);
        assert_eq!(
            app.emails_to(email).await.len(),
            before + 1,
            "{email} is mailed"
        );
        // Ids, times and the address itself aside, the answers are identical.
        for field in ["invitation_id", "created_at", "expires_at", "email"] {
            assert!(body[field].is_string(), "{field}: {body}");
            body[field] = json!("…");
        }
        answers.push((status, headers, body.to_string()));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 201);
    assert!(
        answers[0].2.contains("\"status\":\"invited\""),
        "{}",
        answers[0].2
    );
    assert!(
        answers[0].2.contains("\"user_id\":null"),
        "{}",
        answers[0].2
    );
}

#[tokio::test]
async fn an_outsider_added_by_an_admin_is_no_member_until_they_accept() {
    let app = TestApp::spawn().await;
    let team = app.team("force").await;
    let outsider = &team.outsider;
    for body in [
        json!({"user_id": outsider.id, "role": "member"}),
        json!({"email": outsider.email, "role": "member"}),
    ] {
        let response = add(&app, &team.admin, &team.account, body).await;
        assert_eq!(response.status(), 201);
        let added: Value = response.json().await.unwrap();
        assert_eq!(added["status"], "invited");
        assert_eq!(added["user_id"], Value::Null);
        assert_eq!(added["name"], Value::Null);
    }
    assert!(!my_accounts(&app, outsider).await.contains(&team.account));
    expect_problem(
        account_token(&app, outsider, &team.account).await,
        404,
        "not_found",
    )
    .await;
    let response = app
        .api(
            Method::GET,
            &member_path(&team.account, outsider),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    // The list shows one invited row: the second invitation replaced the first.
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/members", team.account),
            &team.viewer.token,
        )
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    let invited: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["status"] == "invited")
        .collect();
    assert_eq!(invited.len(), 1, "{page}");
    assert_eq!(invited[0]["email"], outsider.email.as_str());
    let links: Vec<String> = app
        .emails_to(&outsider.email)
        .await
        .into_iter()
        .filter(|mail| mail.contains("/invites/"))
        .collect();
    assert_eq!(links.len(), 2);

    // Only the latest link works; accepting it makes the outsider a member.
    let latest = app.invitation_token(&outsider.email).await;
    let first = {
        let mail = &links[0];
        let start = mail.find("/invites/").unwrap() + "/invites/".len();
        mail[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    };
    assert_ne!(first, latest);
    expect_problem(accept(&app, outsider, &first).await, 409, "conflict").await;
    assert_eq!(accept(&app, outsider, &latest).await.status(), 200);
    assert!(my_accounts(&app, outsider).await.contains(&team.account));
    assert_eq!(
        account_token(&app, outsider, &team.account).await.status(),
        200
    );
}

#[tokio::test]
async fn a_member_of_an_ancestor_account_is_added_at_once() {
    let app = TestApp::spawn().await;
    let team = app.team("tree").await;
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
    for account in [&child, &grandchild] {
        let response = add(
            &app,
            &team.admin,
            account,
            json!({"email": team.viewer.email, "role": "member"}),
        )
        .await;
        assert_eq!(response.status(), 201);
        let added: Value = response.json().await.unwrap();
        assert_eq!(added["status"], "member");
        assert_eq!(added["user_id"], team.viewer.id.as_str());
        assert!(my_accounts(&app, &team.viewer).await.contains(account));
        // Someone from outside the tree is still only invited.
        let response = add(
            &app,
            &team.admin,
            account,
            json!({"user_id": team.outsider.id, "role": "member"}),
        )
        .await;
        let added: Value = response.json().await.unwrap();
        assert_eq!(added["status"], "invited");
    }
    assert!(!my_accounts(&app, &team.outsider).await.contains(&child));
    assert!(
        app.audit_actions(&child)
            .await
            .contains(&"member.added".to_owned())
    );
}

#[tokio::test]
async fn a_superadmin_adds_members_at_once() {
    let app = TestApp::spawn().await;
    let admin =
        tessera::store::users::find_by_email(app.state.store.pool(), crate::helpers::ADMIN_EMAIL)
            .await
            .unwrap()
            .unwrap();
    let admin = TestUser {
        id: admin.id.to_string(),
        token: app
            .login_token(admin.id.as_str(), crate::helpers::LOGIN_SCOPE)
            .await,
        email: admin.email,
    };
    let account = app
        .create_account(&admin, json!({"name": "Operated"}))
        .await;
    let account = account["id"].as_str().unwrap().to_owned();
    let user = app.user("adopted@example.com").await;
    let response = add(
        &app,
        &admin,
        &account,
        json!({"user_id": user.id, "role": "viewer"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["status"], "member");
    assert!(my_accounts(&app, &user).await.contains(&account));
    // An account owner who is no superadmin only invites.
    let owner = app.user("plain-owner@example.com").await;
    let other = app.create_account(&owner, json!({"name": "Plain"})).await;
    let response = add(
        &app,
        &owner,
        other["id"].as_str().unwrap(),
        json!({"user_id": user.id, "role": "viewer"}),
    )
    .await;
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["status"], "invited");
}

#[tokio::test]
async fn the_members_list_pages_through_members_and_invitations_together() {
    let app = TestApp::spawn().await;
    let team = app.team("pages").await;
    for n in 0..3 {
        let response = add(
            &app,
            &team.admin,
            &team.account,
            json!({"email": format!("guest{n}@example.com"), "role": "viewer"}),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let mut seen = Vec::new();
    let mut path = format!("/v1/accounts/{}/members?limit=2", team.account);
    loop {
        let response = app
            .api(Method::GET, &path, &team.viewer.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        for row in page["data"].as_array().unwrap() {
            seen.push((
                row["status"].as_str().unwrap().to_owned(),
                row["email"].clone(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/v1/accounts/{}/members?limit=2&cursor={cursor}",
                    team.account
                );
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let invited = seen
        .iter()
        .filter(|(status, _)| status == "invited")
        .count();
    assert_eq!(invited, 3, "{seen:?}");
    let mut emails: Vec<String> = seen.iter().map(|(_, email)| email.to_string()).collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 7, "no row twice");
}

#[tokio::test]
async fn invitations_are_rate_limited_per_account() {
    let app = TestApp::spawn().await;
    let team = app.team("spam").await;
    // The team's three members came by invitation this hour too.
    for n in 3..tessera::rate_limit::INVITATIONS_PER_ACCOUNT {
        let response = if n % 2 == 0 {
            add(
                &app,
                &team.admin,
                &team.account,
                json!({"email": format!("spam{n}@example.com"), "role": "viewer"}),
            )
            .await
        } else {
            app.api(
                Method::POST,
                &format!("/v1/accounts/{}/invites", team.account),
                &team.admin.token,
            )
            .json(&json!({"email": format!("spam{n}@example.com"), "role": "viewer"}))
            .send()
            .await
            .unwrap()
        };
        assert_eq!(response.status(), 201, "invitation {n}");
    }
    for path in ["members", "invites"] {
        let response = app
            .api(
                Method::POST,
                &format!("/v1/accounts/{}/{path}", team.account),
                &team.owner.token,
            )
            .json(&json!({"email": "one-too-many@example.com", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        let retry_after: i64 = response
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        expect_problem(response, 429, "rate_limited").await;
    }
    assert!(app.emails_to("one-too-many@example.com").await.is_empty());
    // Another account has its own allowance.
    let other = app.team("quiet").await;
    let response = add(
        &app,
        &other.owner,
        &other.account,
        json!({"email": "welcome@example.com", "role": "viewer"}),
    )
    .await;
    assert_eq!(response.status(), 201);
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
