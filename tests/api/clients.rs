//! `/v1/accounts/{acc}/clients`: registration by an account's admins, merge-patch updates,
//! secret rotation that takes effect at once, and tenant isolation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, expect_problem};

pub fn confidential() -> Value {
    json!({
        "name": "Billing service",
        "redirect_uris": ["https://billing.example.com/callback"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "read:invoices"],
    })
}

pub async fn create_client(app: &TestApp, by: &TestUser, account: &str, body: &Value) -> Value {
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{account}/clients"),
            &by.token,
        )
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create client");
    response.json().await.unwrap()
}

pub async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> u16 {
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

#[tokio::test]
async fn admins_register_a_client_whose_secret_is_shown_once_and_works() {
    let app = TestApp::spawn().await;
    let team = app.team("reg").await;
    let created = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(client_id.starts_with("cli_"));
    assert!(secret.len() >= 43);
    assert_eq!(created["account_id"], team.account.as_str());
    assert_eq!(created["grant_types"][2], "client_credentials");
    assert_eq!(created["access_token_ttl_seconds"], 900);
    assert_eq!(client_credentials(&app, client_id, secret).await, 200);

    let shown: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/clients/{client_id}", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "Billing service");
    assert!(shown.get("client_secret").is_none());
    let list: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/clients", team.account),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());
    assert!(list["data"][0].get("client_secret").is_none());

    let mut public = confidential();
    public["token_endpoint_auth_method"] = json!("none");
    public["grant_types"] = json!(["authorization_code"]);
    let public = create_client(&app, &team.admin, &team.account, &public).await;
    assert!(public.get("client_secret").is_none());
    let mut later = confidential();
    later["redirect_uris"] = json!([]);
    let later = create_client(&app, &team.admin, &team.account, &later).await;
    assert_eq!(
        later["redirect_uris"],
        json!([]),
        "redirect URIs may come later, as with the CLI"
    );
    assert!(
        app.audit_actions(&team.account).await[..2]
            .iter()
            .all(|a| a == "client.created")
    );
}

#[tokio::test]
async fn registrations_are_validated_like_every_other() {
    let app = TestApp::spawn().await;
    let team = app.team("val").await;
    let path = format!("/v1/accounts/{}/clients", team.account);
    for (change, field) in [
        (
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/cb#x"]}),
            "redirect_uris",
        ),
        (json!({"redirect_uris": ["/cb"]}), "redirect_uris"),
        (json!({"token_endpoint_auth_method": "none"}), "grant_types"),
        (
            json!({"allowed_origins": ["https://x.example.com/path"]}),
            "allowed_origins",
        ),
        (
            json!({"access_token_ttl_seconds": 5}),
            "access_token_ttl_seconds",
        ),
        (json!({"grant_types": ["implicit"]}), "grant_types"),
        (json!({"colour": "blue"}), "colour"),
    ] {
        let mut body = confidential();
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = app
            .api(Method::POST, &path, &team.admin.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert!(
            problem["errors"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{change}: {problem}"
        );
    }
    let response = app
        .api(Method::POST, &path, &team.admin.token)
        .body(confidential().to_string())
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn only_admins_and_owners_manage_clients() {
    let app = TestApp::spawn().await;
    let team = app.team("roles").await;
    let created = create_client(&app, &team.owner, &team.account, &confidential()).await;
    let one = format!(
        "/v1/accounts/{}/clients/{}",
        team.account,
        created["client_id"].as_str().unwrap()
    );
    let all = format!("/v1/accounts/{}/clients", team.account);
    for (role, user) in team.everyone() {
        let expected = match role {
            "owner" | "admin" => 200,
            "none" => 404,
            _ => 403,
        };
        for (method, path) in [
            (Method::GET, &all),
            (Method::GET, &one),
            (Method::POST, &format!("{one}/secret")),
        ] {
            let response = app
                .api(method.clone(), path, &user.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{role} {method} {path}");
        }
        let response = app
            .api(Method::PATCH, &one, &user.token)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"name": format!("by {role}")}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{role} PATCH");
        if expected != 200 {
            let response = app
                .api(Method::DELETE, &one, &user.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{role} DELETE");
            let response = app
                .api(Method::POST, &all, &user.token)
                .json(&confidential())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{role} POST");
        }
    }
    let response = app
        .api(Method::DELETE, &one, &team.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .api(Method::GET, &one, &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    assert_eq!(app.audit_actions(&team.account).await[0], "client.deleted");
}

#[tokio::test]
async fn another_tenants_client_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.team("ta").await;
    let b = app.team("tb").await;
    let created = create_client(&app, &b.owner, &b.account, &confidential()).await;
    let client_id = created["client_id"].as_str().unwrap();
    // A's owner names B's client under A's account.
    let path = format!("/v1/accounts/{}/clients/{client_id}", a.account);
    for method in [Method::GET, Method::DELETE] {
        let response = app.api(method, &path, &a.owner.token).send().await.unwrap();
        expect_problem(response, 404, "not_found").await;
    }
    let response = app
        .api(Method::POST, &format!("{path}/secret"), &a.owner.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/clients", b.account),
            &a.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn a_rotated_secret_replaces_the_old_one_at_once() {
    let app = TestApp::spawn().await;
    let team = app.team("rot").await;
    let created = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let client_id = created["client_id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();
    assert_eq!(client_credentials(&app, client_id, old).await, 200);
    let rotated: Value = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/clients/{client_id}/secret", team.account),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(old, new);
    assert_eq!(client_credentials(&app, client_id, old).await, 401);
    assert_eq!(client_credentials(&app, client_id, new).await, 200);
    assert_eq!(
        app.audit_actions(&team.account).await[0],
        "client.secret_rotated"
    );
}

#[tokio::test]
async fn patches_merge_revalidate_and_refuse_read_only_fields() {
    let app = TestApp::spawn().await;
    let team = app.team("patch").await;
    let created = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let path = format!(
        "/v1/accounts/{}/clients/{}",
        team.account,
        created["client_id"].as_str().unwrap()
    );
    let patch = |body: Value| {
        app.api(Method::PATCH, &path, &team.admin.token)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
    };
    let updated: Value = patch(json!({
        "name": "Renamed",
        "allowed_origins": ["https://billing.example.com"],
        "scopes": null,
    }))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["allowed_origins"][0], "https://billing.example.com");
    assert_eq!(updated["scopes"][0], "openid", "null restores the default");
    assert_eq!(updated["redirect_uris"], created["redirect_uris"]);
    assert!(updated.get("client_secret").is_none());

    for field in ["client_id", "account_id", "created_at", "client_secret"] {
        let response = patch(json!({ field: "x" })).send().await.unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let response = patch(json!({"redirect_uris": ["http://evil.example.com/cb"]}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
    let response = patch(json!({"name": null})).send().await.unwrap();
    expect_problem(response, 400, "validation_failed").await;
    let response = app
        .api(Method::PATCH, &path, &team.admin.token)
        .header("content-type", "text/plain")
        .body(json!({"name": "x"}).to_string())
        .send()
        .await
        .unwrap();
    expect_problem(response, 415, "unsupported_media_type").await;
    let actions = app.audit_actions(&team.account).await;
    assert_eq!(actions[0], "client.updated");
    assert_eq!(actions.iter().filter(|a| *a == "client.updated").count(), 1);
}

#[tokio::test]
async fn a_client_patch_may_be_sent_as_plain_json_with_the_same_merge() {
    let app = TestApp::spawn().await;
    let team = app.team("json").await;
    let created = create_client(&app, &team.admin, &team.account, &confidential()).await;
    let path = format!(
        "/v1/accounts/{}/clients/{}",
        team.account,
        created["client_id"].as_str().unwrap()
    );
    let patch = |content_type: &'static str, body: Value| {
        app.api(Method::PATCH, &path, &team.admin.token)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };

    let response = patch(
        "application/json",
        json!({"name": "Plain", "allowed_origins": ["https://billing.example.com"], "scopes": null}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "Plain");
    assert_eq!(updated["allowed_origins"][0], "https://billing.example.com");
    assert_eq!(updated["scopes"][0], "openid", "null restores the default");
    assert_eq!(updated["redirect_uris"], created["redirect_uris"]);
    assert_eq!(updated["grant_types"], created["grant_types"]);

    let response = patch(
        "application/json; charset=utf-8",
        json!({"allowed_origins": null}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["allowed_origins"], json!([]));
    assert_eq!(updated["name"], "Plain");

    let response = patch("application/merge-patch+json", json!({"name": "Merged"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Merged");

    let response = patch("application/json", json!({"client_id": "cli_x"}))
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "client_id");
    let response = patch("application/json", json!({"colour": "blue"}))
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
    let response = app
        .api(Method::PATCH, &path, &team.admin.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = patch(content_type, json!({"name": "x"})).await.unwrap();
        expect_problem(response, 415, "unsupported_media_type").await;
    }
    let response = app
        .api(Method::PATCH, &path, &team.admin.token)
        .body(json!({"name": "x"}).to_string())
        .send()
        .await
        .unwrap();
    expect_problem(response, 415, "unsupported_media_type").await;

    let shown: Value = app
        .api(Method::GET, &path, &team.admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "Merged");

    // The token endpoint sees a plain-JSON change at once, like any other.
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(client_credentials(&app, client_id, secret).await, 200);
    let response = patch(
        "application/json",
        json!({"grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(client_credentials(&app, client_id, secret).await, 400);
    let actions = app.audit_actions(&team.account).await;
    assert_eq!(actions.iter().filter(|a| *a == "client.updated").count(), 4);
}
