//! `/v1/accounts/{acc}/audit-logs`: newest first, cursor pagination, `?action=` filter.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem};

#[tokio::test]
async fn admins_page_through_the_trail_newest_first_and_filter_by_action() {
    let app = TestApp::spawn().await;
    let team = app.team("audit").await;
    for n in 0..5 {
        let response = app
            .api(
                Method::POST,
                &format!("/v1/accounts/{}/api-keys", team.account),
                &team.admin.token,
            )
            .header("user-agent", "audit-test/1")
            .json(&json!({"name": format!("key {n}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let path = format!("/v1/accounts/{}/audit-logs", team.account);
    let get = |query: String| app.api(Method::GET, &format!("{path}{query}"), &team.owner.token);

    // account.created, member.added x4 (the owner's, then three who accepted an invitation:
    // invite.created and invite.accepted x3), api_key.created x5.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit=3&cursor={cursor}"),
            None => "?limit=3".to_owned(),
        };
        let page: Value = get(query).send().await.unwrap().json().await.unwrap();
        for event in page["data"].as_array().unwrap() {
            seen.push(event.clone());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 16);
    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(seen[15]["action"], "account.created");
    let newest = &seen[0];
    assert_eq!(newest["action"], "api_key.created");
    assert_eq!(
        newest["actor"],
        json!({"type": "user", "id": team.admin.id})
    );
    assert_eq!(newest["target"]["type"], "api_key");
    assert_eq!(newest["details"]["name"], "key 4");
    assert_eq!(newest["ip"], "127.0.0.1");
    assert_eq!(newest["user_agent"], "audit-test/1");
    assert!(newest["created_at"].as_str().unwrap().ends_with('Z'));

    let filtered: Value = get("?action=member.added&limit=3".into())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 3);
    assert!(
        filtered["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "member.added")
    );
    let cursor = filtered["next_cursor"].as_str().unwrap();
    let rest: Value = get(format!("?action=member.added&cursor={cursor}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    // A cursor of the filtered list is not a cursor of the whole trail.
    let response = get(format!("?cursor={cursor}")).send().await.unwrap();
    expect_problem(response, 400, "validation_failed").await;
    let response = get("?limit=0".into()).send().await.unwrap();
    expect_problem(response, 400, "validation_failed").await;
}

#[tokio::test]
async fn only_admins_read_the_trail() {
    let app = TestApp::spawn().await;
    let team = app.team("auditroles").await;
    let other = app.team("auditother").await;
    let path = format!("/v1/accounts/{}/audit-logs", team.account);
    for (role, user) in team.everyone() {
        let expected = match role {
            "owner" | "admin" => 200,
            "none" => 404,
            _ => 403,
        };
        let response = app
            .api(Method::GET, &path, &user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{role}");
    }
    let response = app
        .api(Method::GET, &path, &other.owner.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn a_childs_creation_and_deletion_are_in_the_parents_log_too() {
    let app = TestApp::spawn().await;
    let team = app.team("parent").await;
    let child = app
        .create_account(
            &team.owner,
            json!({"name": "Child", "parent_id": team.account}),
        )
        .await;
    let child = child["id"].as_str().unwrap();
    let deleted = app
        .api(
            Method::DELETE,
            &format!("/v1/accounts/{child}"),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let events: Vec<(String, String)> = sqlx::query_as(
        "select action, target_id from audit_events where account_id = $1 \
         and action like 'account.%' order by id",
    )
    .bind(&team.account)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    assert!(
        events.contains(&("account.created".to_owned(), child.to_owned())),
        "{events:?}"
    );
    assert!(
        events.contains(&("account.deleted".to_owned(), child.to_owned())),
        "{events:?}"
    );
}
