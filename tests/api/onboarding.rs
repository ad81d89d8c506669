//! `/v1/accounts/{acc}/onboarding`: the built-in steps follow what the account has, the
//! application sets its own by merge patch, and who may do which.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem};
use crate::roles::bearer;

fn path(account: &str) -> String {
    format!("/v1/accounts/{account}/onboarding")
}

async fn patch(app: &TestApp, token: &str, account: &str, body: &Value) -> reqwest::Response {
    app.api(Method::PATCH, &path(account), token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_builtin_steps_follow_what_the_account_has() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let account = app.create_account(&ada, json!({"name": "Acme"})).await;
    let a = account["id"].as_str().unwrap();
    let owner = bearer(&app, &ada.token);
    let fresh = owner.read(&path(a)).await;
    assert_eq!(
        fresh,
        json!({
            "steps": {"profile": false, "members": false, "client": false, "api_key": false},
            "completed": false,
            "completed_at": null
        })
    );
    let bob = app.user("bob@example.com").await;
    app.verify_email(&bob).await;
    app.add_member(&ada, a, &bob, "viewer").await;
    owner
        .expect(
            Method::POST,
            &format!("/v1/accounts/{a}/clients"),
            json!({
                "name": "App",
                "redirect_uris": ["https://app.example.com/cb"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic"
            }),
            201,
        )
        .await;
    let key = owner
        .expect(
            Method::POST,
            &format!("/v1/accounts/{a}/api-keys"),
            json!({"name": "ci", "role": "viewer"}),
            201,
        )
        .await;
    let steps = owner.read(&path(a)).await["steps"].clone();
    assert_eq!(
        steps,
        json!({"profile": false, "members": true, "client": true, "api_key": true})
    );
    // A revoked key is no live key.
    let key = key["id"].as_str().unwrap();
    owner
        .expect(
            Method::DELETE,
            &format!("/v1/accounts/{a}/api-keys/{key}"),
            Value::Null,
            204,
        )
        .await;
    let checklist = owner.read(&path(a)).await;
    assert_eq!(checklist["steps"]["api_key"], false);
    // Tessera keeps no account profile yet: `profile` cannot be true, nor `completed`.
    assert_eq!(checklist["completed"], false);
}

#[tokio::test]
async fn the_application_sets_its_own_steps_and_only_those() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let a = &team.account;
    let token = &team.admin.token;
    let response = patch(
        &app,
        token,
        a,
        &json!({"steps": {"first_run": true, "tour": false}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let checklist: Value = response.json().await.unwrap();
    assert_eq!(checklist["steps"]["first_run"], true);
    assert_eq!(checklist["steps"]["tour"], false);
    assert_eq!(checklist["steps"]["members"], true);
    assert_eq!(checklist["completed"], false);
    assert_eq!(
        bearer(&app, &team.viewer.token).read(&path(a)).await,
        checklist
    );

    let logs = format!("/v1/accounts/{a}/audit-logs?action=account.updated");
    let events = bearer(&app, &team.owner.token).read(&logs).await;
    assert_eq!(
        events["data"][0]["details"],
        json!({"onboarding": ["first_run", "tour"]})
    );
    assert_eq!(events["data"][0]["actor"]["id"], team.admin.id);
    // Unchanged: nothing recorded.
    let response = patch(&app, token, a, &json!({"steps": {"first_run": true}})).await;
    assert_eq!(response.status(), 200);
    let again = bearer(&app, &team.owner.token).read(&logs).await;
    assert_eq!(
        again["data"].as_array().unwrap().len(),
        events["data"].as_array().unwrap().len()
    );
    // `null` removes a step; as application/json too.
    let checklist = bearer(&app, token)
        .expect(
            Method::PATCH,
            &path(a),
            json!({"steps": {"tour": null}}),
            200,
        )
        .await;
    assert!(checklist["steps"].get("tour").is_none());
    let events = bearer(&app, &team.owner.token).read(&logs).await;
    assert_eq!(
        events["data"][0]["details"],
        json!({"onboarding": ["tour"]})
    );

    for (body, field) in [
        (json!({"steps": {"members": true}}), "steps.members"),
        (json!({"steps": {"api_key": null}}), "steps.api_key"),
        (json!({"steps": {"First_Run": true}}), "steps.First_Run"),
        (
            json!({"steps": {"x".repeat(33): true}}),
            &*format!("steps.{}", "x".repeat(33)),
        ),
        (json!({"steps": {"first_run": "yes"}}), "steps.first_run"),
        (json!({"steps": ["first_run"]}), "steps"),
        (json!({"completed": true}), "completed"),
    ] {
        let problem =
            expect_problem(patch(&app, token, a, &body).await, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let kept = bearer(&app, token).read(&path(a)).await;
    assert_eq!(kept["steps"]["first_run"], true);

    // Reading is for every member, patching for account:write.
    for user in [&team.member, &team.viewer] {
        bearer(&app, &user.token).read(&path(a)).await;
        let response = patch(
            &app,
            &user.token,
            a,
            &json!({"steps": {"first_run": false}}),
        )
        .await;
        expect_problem(response, 403, "forbidden").await;
    }
    let response = app
        .api(Method::GET, &path(a), &team.outsider.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = patch(
        &app,
        &team.outsider.token,
        a,
        &json!({"steps": {"x": true}}),
    )
    .await;
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn a_completion_date_is_kept_once_set() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let a = &team.account;
    // As if every step had been true once (Tessera has no profile to make `profile` true).
    sqlx::query("insert into onboarding (account_id, steps, completed_at, updated_at) values ($1, '{}', 1700000000, 1700000000)")
        .bind(a)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let response = patch(
        &app,
        &team.owner.token,
        a,
        &json!({"steps": {"first_run": false}}),
    )
    .await;
    let checklist: Value = response.json().await.unwrap();
    assert_eq!(checklist["completed"], false);
    assert_eq!(checklist["completed_at"], "2023-11-14T22:13:20Z");
    assert_eq!(checklist["steps"]["first_run"], false);
    let shown = bearer(&app, &team.viewer.token).read(&path(a)).await;
    assert_eq!(shown, checklist);
}

#[tokio::test]
async fn the_completion_date_is_written_once() {
    use tessera::ids::AccountId;
    use tessera::store::onboarding::{complete, find};
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let a = AccountId::parse(&team.account).unwrap();
    let pool = app.state.store.pool();
    assert_eq!(find(pool, &a).await.unwrap().completed_at, None);
    assert_eq!(complete(pool, &a, 1000).await.unwrap(), 1000);
    assert_eq!(complete(pool, &a, 2000).await.unwrap(), 1000);
    let response = patch(
        &app,
        &team.owner.token,
        &team.account,
        &json!({"steps": {"x": true}}),
    )
    .await;
    let checklist: Value = response.json().await.unwrap();
    assert_eq!(checklist["completed_at"], "1970-01-01T00:16:40Z");
    assert_eq!(complete(pool, &a, 3000).await.unwrap(), 1000);
    let kept = find(pool, &a).await.unwrap();
    assert_eq!((kept.completed_at, kept.steps.len()), (Some(1000), 1));
}
