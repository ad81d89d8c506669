//! The attacks of the security review (issue 9, SECURITY.md), one test each, through HTTP:
//! another tenant, a third-party client, the thief of one token. Each failed before its fix.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::superadmin;
use crate::authorization_code::query;
use crate::clients::create_client;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, TestUser, expect_problem};

const EVIL_CALLBACK: &str = "https://evil.example.com/callback";

/// A client a tenant admin registers through REST, asking for everything.
fn tenant_client() -> Value {
    json!({
        "name": "Totally legit app",
        "redirect_uris": [EVIL_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "email", "tessera:manage"],
    })
}

/// `/oauth2/authorize` for `client_id` with PKCE and `extra` parameters, as a path.
fn authorize_path(client_id: &str, extra: &str) -> String {
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let redirect: String = url::form_urlencoded::byte_serialize(EVIL_CALLBACK.as_bytes()).collect();
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect}\
         &scope=openid%20tessera%3Amanage&state=s1&code_challenge={}\
         &code_challenge_method=S256{extra}",
        challenge.as_str()
    )
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_tenants_client_gets_no_silent_code_for_a_user_outside_its_account() {
    let app = TestApp::spawn().await;
    let team = app.team("evil").await;
    let client = create_client(&app, &team.admin, &team.account, &tenant_client()).await;
    assert_eq!(client["first_party"], false);
    let client_id = client["client_id"].as_str().unwrap();
    // The victim is the superadmin, signed in to Tessera in this browser.
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let silent = app.get(&authorize_path(client_id, "&prompt=none")).await;
    assert_eq!(silent.status(), 303);
    let answer = query(&location(&silent));
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("consent_required")
    );
    assert!(!answer.contains_key("code"), "{answer:?}");

    let asked = app.get(&authorize_path(client_id, "")).await;
    assert_eq!(asked.status(), 200, "the consent page");
    let html = asked.text().await.unwrap();
    assert!(html.contains("Totally legit app") && html.contains(">Allow</button>"));
    assert!(html.contains("Manage your accounts"), "{html}");
}

#[tokio::test]
async fn a_client_of_the_users_own_account_needs_no_consent() {
    let app = TestApp::spawn().await;
    let owner = app
        .user_with("own@example.com", Some("a-good-long-password"))
        .await;
    let account = app.create_account(&owner, json!({"name": "Own"})).await;
    let account = account["id"].as_str().unwrap();
    let child = app
        .create_account(&owner, json!({"name": "Child", "parent_id": account}))
        .await;
    let child = child["id"].as_str().unwrap();
    // A client of a descendant account: the user belongs to it through the parent.
    let client = create_client(&app, &owner, child, &tenant_client()).await;
    app.log_in("own@example.com", "a-good-long-password").await;

    let silent = app
        .get(&authorize_path(
            client["client_id"].as_str().unwrap(),
            "&prompt=none",
        ))
        .await;
    assert_eq!(silent.status(), 303);
    assert!(query(&location(&silent)).contains_key("code"));
}

#[tokio::test]
async fn only_a_superadmin_makes_a_client_first_party() {
    let app = TestApp::spawn().await;
    let team = app.team("fp").await;
    let mut body = tenant_client();
    body["first_party"] = json!(true);
    let refused = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/clients", team.account),
            &team.owner.token,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403, "forbidden").await;

    let client = create_client(&app, &team.owner, &team.account, &tenant_client()).await;
    let path = format!(
        "/v1/accounts/{}/clients/{}",
        team.account,
        client["client_id"].as_str().unwrap()
    );
    let patch = |token: &str| {
        app.api(Method::PATCH, &path, token)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"first_party": true}"#)
            .send()
    };
    expect_problem(patch(&team.owner.token).await.unwrap(), 403, "forbidden").await;

    let admin = superadmin(&app).await;
    let made = patch(&admin.token).await.unwrap();
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["first_party"], true);
    // The operator's trust reaches the authorize endpoint: no consent page now.
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let silent = app
        .get(&authorize_path(
            client["client_id"].as_str().unwrap(),
            "&prompt=none",
        ))
        .await;
    assert!(query(&location(&silent)).contains_key("code"));
}

async fn token_with_scope(app: &TestApp, user: &TestUser, scope: &str) -> String {
    app.login_token(&user.id, scope).await
}

#[tokio::test]
async fn a_sign_in_token_without_tessera_manage_cannot_manage() {
    let app = TestApp::spawn().await;
    let team = app.team("scope").await;
    // What a third-party app gets for "Sign in with Tessera".
    let sign_in = token_with_scope(&app, &team.owner, "openid email").await;
    for (method, path, body) in [
        (Method::GET, "/v1/me".to_owned(), None),
        (Method::GET, format!("/v1/accounts/{}", team.account), None),
        (
            Method::POST,
            format!("/v1/accounts/{}/api-keys", team.account),
            Some(json!({"name": "stolen", "role": "owner"})),
        ),
    ] {
        let mut request = app.api(method, &path, &sign_in);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"insufficient_scope\"",
            "{path}"
        );
        expect_problem(response, 403, "insufficient_scope").await;
    }

    // The account-token endpoint is the one exception; what it issues keeps the scope, so
    // it cannot manage either.
    let traded = app
        .api(Method::POST, "/v1/auth/account-token", &sign_in)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap();
    assert_eq!(traded.status(), 200);
    let traded: Value = traded.json().await.unwrap();
    let account_token = traded["access_token"].as_str().unwrap();
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}", team.account),
            account_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "insufficient_scope").await;

    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("tessera:manage"))
    );
}
