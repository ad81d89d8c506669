//! RFC 7591 dynamic client registration with an admin API key as the initial access token,
//! and RFC 7592 management with the registration access token.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_keys::create_key;
use crate::authorization_code::query;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, LOGIN_SCOPE, TestApp, TestUser, expect_problem};

const REDIRECT_URI: &str = "http://127.0.0.1:9999/callback";

fn metadata() -> Value {
    json!({
        "client_name": "MCP tool",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid email",
        "software_id": "ignored-extension",
    })
}

async fn register(app: &TestApp, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.http.post(app.url("/oauth2/register")).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// The bootstrap superadmin, owner of the first account, with a login token.
async fn first_owner(app: &TestApp) -> (TestUser, String) {
    let (id, account): (String, String) = sqlx::query_as(
        "select u.id, m.account_id from users u join memberships m on m.user_id = u.id \
         where u.email = $1",
    )
    .bind(ADMIN_EMAIL)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let token = app.login_token(&id, LOGIN_SCOPE).await;
    let user = TestUser {
        id,
        email: ADMIN_EMAIL.into(),
        token,
    };
    (user, account)
}

#[tokio::test]
async fn an_admin_key_registers_a_client_into_its_account() {
    let app = TestApp::spawn().await;
    let team = app.team("dcr").await;
    let admin_key = create_key(&app, &team.owner, &team.account, "admin").await;
    let admin_key = admin_key["token"].as_str().unwrap();

    let response = register(&app, Some(admin_key), &metadata()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let client: Value = response.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("cli_"));
    assert!(client["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(client["client_secret"].as_str().unwrap().len() >= 43);
    assert_eq!(client["client_secret_expires_at"], 0);
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(client["response_types"], json!(["code"]));
    assert_eq!(client["scope"], "openid email");
    assert!(client["registration_access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(
        client["registration_client_uri"],
        app.url(&format!("/oauth2/register/{client_id}"))
    );
    // It belongs to the key's account, as a self-registered client.
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
    assert_eq!(shown["self_registered"], true);
    let events: Value = app
        .api(
            Method::GET,
            &format!(
                "/v1/accounts/{}/audit-logs?action=client.created",
                team.account
            ),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"][0]["actor"]["type"], "api_key");

    // RFC 7591 defaults: a bare registration is a confidential code client.
    let minimal = register(
        &app,
        Some(admin_key),
        &json!({"redirect_uris": [REDIRECT_URI]}),
    )
    .await;
    assert_eq!(minimal.status(), 201);
    let minimal: Value = minimal.json().await.unwrap();
    assert_eq!(minimal["grant_types"], json!(["authorization_code"]));
    assert_eq!(minimal["token_endpoint_auth_method"], "client_secret_basic");

    let public = register(
        &app,
        Some(admin_key),
        &json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let public: Value = public.json().await.unwrap();
    assert!(public.get("client_secret").is_none());
    assert!(public.get("client_secret_expires_at").is_none());
}

#[tokio::test]
async fn registration_needs_an_admin_key_and_valid_metadata() {
    let app = TestApp::spawn().await;
    let team = app.team("dcrno").await;
    let member_key = create_key(&app, &team.owner, &team.account, "member").await;
    let admin_key = create_key(&app, &team.owner, &team.account, "admin").await;
    let admin_key = admin_key["token"].as_str().unwrap();

    let none = register(&app, None, &metadata()).await;
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let member = register(&app, member_key["token"].as_str(), &metadata()).await;
    assert_eq!(member.status(), 403);
    let bogus = register(&app, Some("tsk_not-a-key"), &metadata()).await;
    assert_eq!(bogus.status(), 401);
    let user_token = register(&app, Some(&team.owner.token), &metadata()).await;
    assert_eq!(user_token.status(), 401);

    for (body, error) in [
        (
            json!({"redirect_uris": ["http://evil.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/cb#f"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({"client_name": "No URIs"}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT_URI], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
                   "grant_types": ["client_credentials"], "response_types": []}),
            "invalid_client_metadata",
        ),
    ] {
        let response = register(&app, Some(admin_key), &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from clients where self_registered = 1")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_registration_token_reads_updates_and_deletes_the_client() {
    let app = TestApp::spawn().await;
    let team = app.team("dcrm").await;
    let key = create_key(&app, &team.owner, &team.account, "owner").await;
    let client: Value = register(&app, key["token"].as_str(), &metadata())
        .await
        .json()
        .await
        .unwrap();
    let uri = client["registration_client_uri"].as_str().unwrap();
    let token = client["registration_access_token"].as_str().unwrap();
    let other: Value = register(&app, key["token"].as_str(), &metadata())
        .await
        .json()
        .await
        .unwrap();
    let other_token = other["registration_access_token"].as_str().unwrap();

    let read: Value = app
        .http
        .get(uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_id"], client["client_id"]);
    assert_eq!(read["client_name"], "MCP tool");
    for wrong in [other_token, key["token"].as_str().unwrap()] {
        let response = app.http.get(uri).bearer_auth(wrong).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    assert_eq!(app.http.get(uri).send().await.unwrap().status(), 401);

    let mut replacement = metadata();
    replacement["client_id"] = client["client_id"].clone();
    replacement["client_name"] = json!("MCP tool v2");
    replacement["redirect_uris"] = json!([REDIRECT_URI, "http://localhost:7777/cb"]);
    let response = app
        .http
        .put(uri)
        .bearer_auth(token)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["client_name"], "MCP tool v2");
    assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
    // RFC 7591 §2: a redirect-based client keeps its redirect URIs registered.
    for uris in [json!(["http://evil.example.com/cb"]), json!([])] {
        replacement["redirect_uris"] = uris;
        let response = app
            .http
            .put(uri)
            .bearer_auth(token)
            .json(&replacement)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_redirect_uri"
        );
    }
    replacement["redirect_uris"] = json!([REDIRECT_URI]);
    replacement["client_id"] = other["client_id"].clone();
    let response = app
        .http
        .put(uri)
        .bearer_auth(token)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let response = app
        .http
        .delete(uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.http
            .get(uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let actions = app.audit_actions(&team.account).await;
    assert_eq!(actions[0], "client.deleted");
    assert!(actions.contains(&"client.updated".to_owned()));
    let gone = app
        .api(
            Method::GET,
            &format!(
                "/v1/accounts/{}/clients/{}",
                team.account,
                client["client_id"].as_str().unwrap()
            ),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(gone, 404, "not_found").await;
}

#[tokio::test]
async fn a_registered_client_asks_for_consent_then_completes_a_code_flow() {
    let app = TestApp::spawn().await;
    let (owner, account) = first_owner(&app).await;
    let key = create_key(&app, &owner, &account, "admin").await;
    let client: Value = register(&app, key["token"].as_str(), &metadata())
        .await
        .json()
        .await
        .unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid%20email&state=st4te&code_challenge={}&code_challenge_method=S256",
        urlencode(REDIRECT_URI),
        challenge.as_str()
    );
    let page = app.get(&authorize).await;
    assert_eq!(page.status(), 200, "a consent page");
    let html = page.text().await.unwrap();
    assert!(html.contains(">Allow</button>"), "{html}");
    let allowed = app
        .submit_form(&authorize, "/oauth2/consent", &[("decision", "allow")])
        .await;
    assert_eq!(allowed.status(), 303);
    let resumed = app
        .get(location(&allowed).trim_start_matches(&app.address))
        .await;
    let callback = location(&resumed);
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], "st4te");

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_registration_turned_public_loses_its_secret_and_turned_confidential_gets_a_new_one() {
    let app = TestApp::spawn().await;
    let team = app.team("dcrs").await;
    let key = create_key(&app, &team.owner, &team.account, "admin").await;
    let client: Value = register(&app, key["token"].as_str(), &metadata())
        .await
        .json()
        .await
        .unwrap();
    let uri = client["registration_client_uri"].as_str().unwrap();
    let token = client["registration_access_token"].as_str().unwrap();
    let first = client["client_secret"].as_str().unwrap().to_owned();
    let put = |body: Value| app.http.put(uri).bearer_auth(token).json(&body).send();

    let mut public = metadata();
    public["token_endpoint_auth_method"] = json!("none");
    public["client_secret"] = json!("not-the-secret");
    let response = put(public.clone()).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    public["client_secret"] = json!(first);
    let response = put(public).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["token_endpoint_auth_method"], "none");
    assert!(answer.get("client_secret").is_none(), "{answer}");

    let confidential = metadata();
    let response = put(confidential.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let second = answer["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(answer["client_secret_expires_at"], 0);

    // The secret the client lost is not its secret any more; the new one is, and stays.
    let mut with_secret = confidential;
    with_secret["client_secret"] = json!(first);
    assert_eq!(put(with_secret.clone()).await.unwrap().status(), 400);
    with_secret["client_secret"] = json!(second);
    let response = put(with_secret).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert!(answer.get("client_secret").is_none(), "{answer}");
    let shown = app
        .api(
            Method::GET,
            &format!(
                "/v1/accounts/{}/clients/{}",
                team.account,
                client["client_id"].as_str().unwrap()
            ),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(shown["token_endpoint_auth_method"], "client_secret_basic");
    assert!(shown.get("client_secret").is_none(), "{shown}");
    assert!(shown.get("secret_hash").is_none(), "{shown}");
}
