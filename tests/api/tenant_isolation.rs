//! Another tenant's caller learns nothing: every account endpoint answers 404, exactly as
//! for an account that does not exist, and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_account_endpoint_is_not_found_for_another_tenant() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let globex = app.team("globex").await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", acme.account),
            &acme.owner.token,
        )
        .json(&json!({"email": "guest@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invitation: String = sqlx::query_scalar(
        "select id from invitations where account_id = $1 and status = 'pending'",
    )
    .bind(&acme.account)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let a = &acme.account;
    let member = &acme.member.id;
    let patch = json!({"name": "Pwned"});
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/accounts/{a}"), None),
        (Method::PATCH, format!("/v1/accounts/{a}"), Some(patch)),
        (Method::DELETE, format!("/v1/accounts/{a}"), None),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}?cascade=true"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/children"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/children"),
            Some(json!({"name": "Child"})),
        ),
        (Method::GET, format!("/v1/accounts/{a}/members"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/members"),
            Some(json!({"user_id": globex.owner.id, "role": "owner"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/members/{member}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/members/{member}"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/members/{member}"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/invites"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invites"),
            Some(json!({"email": "spy@example.com", "role": "owner"})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/invites/{invitation}"),
            None,
        ),
    ];
    let globex_token: Value = app
        .api(Method::POST, "/v1/auth/account-token", &globex.owner.token)
        .json(&json!({"account_id": globex.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let globex_scoped = globex_token["access_token"].as_str().unwrap().to_owned();
    let missing = tessera::ids::AccountId::generate().to_string();
    for token in [&globex.owner.token, &globex_scoped, &acme.outsider.token] {
        for (method, path, body) in &endpoints {
            let mut request = app.api(method.clone(), path, token);
            if let Some(body) = body {
                request = if *method == Method::PATCH && !path.contains("/members/") {
                    request
                        .header("content-type", "application/merge-patch+json")
                        .body(body.to_string())
                } else {
                    request.json(body)
                };
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "not_found", "{method} {path}");
            // Indistinguishable from an account that does not exist.
            let nowhere = path.replace(a.as_str(), &missing);
            let mut request = app.api(method.clone(), &nowhere, token);
            if let Some(body) = body {
                request = if *method == Method::PATCH && !path.contains("/members/") {
                    request
                        .header("content-type", "application/merge-patch+json")
                        .body(body.to_string())
                } else {
                    request.json(body)
                };
            }
            let absent: Value = request.send().await.unwrap().json().await.unwrap();
            assert_eq!(absent, problem, "{method} {path}");
        }
        let response = app
            .api(Method::POST, "/v1/auth/account-token", token)
            .json(&json!({"account_id": a}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = app
            .api(Method::POST, "/v1/accounts", token)
            .json(&json!({"name": "Inside", "parent_id": a}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    // Nothing changed.
    let shown: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{a}"),
            &acme.viewer.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "acme Inc");
    let members: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{a}/members"),
            &acme.viewer.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The four members and the pending invitation of the guest.
    assert_eq!(members["data"].as_array().unwrap().len(), 5);
    assert_eq!(
        app.audit_actions(a)
            .await
            .iter()
            .filter(|x| x.starts_with("account."))
            .count(),
        1
    );
}
