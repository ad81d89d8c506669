//! Browser sessions (API.md §10): every login on the hosted pages is one, listed by
//! `GET /v1/me/sessions` with `current` for the one the caller's token came through, and
//! ended by `DELETE /v1/me/sessions/{id}`, which signs that browser out and revokes the
//! refresh tokens issued through it, and no other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_keys::create_key;
use crate::helpers::{TestApp, expect_problem, hidden_inputs};

const PASSWORD: &str = "a sturdy passphrase";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-long";
const SCOPE: &str = "openid offline_access tessera:manage";

/// A browser of its own: its own cookies, redirects not followed.
fn browser(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap()
}

async fn log_in(app: &TestApp, browser: &reqwest::Client, email: &str) {
    let page = browser.get(app.url("/login")).send().await.unwrap();
    let mut form = hidden_inputs(&page.text().await.unwrap());
    form.push(("email".into(), email.into()));
    form.push(("password".into(), PASSWORD.into()));
    let response = browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "the login is accepted");
}

/// `/oauth2/authorize` for the login client in `browser`: where it sends the browser.
async fn authorize(app: &TestApp, browser: &reqwest::Client) -> String {
    let client = app.login_client().await;
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let response = browser
        .get(app.url("/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", SCOPE),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The tokens of an authorization-code flow run in `browser`.
async fn tokens(app: &TestApp, browser: &reqwest::Client) -> (String, String) {
    let location = authorize(app, browser).await;
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let client = app.login_client().await;
    let body: Value = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned(),
    )
}

/// `POST /oauth2/token` with a refresh token: the status and the body.
async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    let client = app.login_client().await;
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .api(Method::GET, "/v1/me/sessions", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn each_browser_is_a_session_and_ending_one_signs_only_it_out() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    // Refresh tokens go to verified addresses only.
    app.verify_email(&ada).await;
    let laptop = browser("Laptop/1.0");
    let phone = browser("Phone/2.0");
    log_in(&app, &laptop, &ada.email).await;
    log_in(&app, &phone, &ada.email).await;
    let (laptop_access, laptop_refresh) = tokens(&app, &laptop).await;
    let (phone_access, phone_refresh) = tokens(&app, &phone).await;

    // Newest first, `current` for the browser the token came through.
    let seen_from_laptop = list(&app, &laptop_access).await;
    assert_eq!(seen_from_laptop.len(), 2, "{seen_from_laptop:#?}");
    let [phone_session, laptop_session] = [&seen_from_laptop[0], &seen_from_laptop[1]];
    assert_eq!(phone_session["user_agent"], "Phone/2.0");
    assert_eq!(laptop_session["user_agent"], "Laptop/1.0");
    assert_eq!(laptop_session["current"], true);
    assert_eq!(phone_session["current"], false);
    assert_eq!(laptop_session["amr"], json!(["pwd"]));
    assert_eq!(laptop_session["ip"], "127.0.0.1");
    assert!(laptop_session["id"].as_str().unwrap().starts_with("ses_"));
    assert!(laptop_session["created_at"].is_string());
    assert!(laptop_session["last_seen_at"].is_string());
    let seen_from_phone = list(&app, &phone_access).await;
    assert_eq!(seen_from_phone[0]["current"], true);
    assert_eq!(seen_from_phone[1]["current"], false);
    // A token from no browser session (issued below HTTP) sees them all, none current.
    let elsewhere = list(&app, &ada.token).await;
    assert!(elsewhere.iter().all(|session| session["current"] == false));

    // The laptop ends the phone's session.
    let phone_id = phone_session["id"].as_str().unwrap();
    let ended = app
        .api(
            Method::DELETE,
            &format!("/v1/me/sessions/{phone_id}"),
            &laptop_access,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);

    // The phone is signed out: its next authorization request goes to the login page.
    let location = authorize(&app, &phone).await;
    assert!(location.contains("/login?"), "{location}");
    // Its refresh token (and its access token) stopped working; the laptop's did not.
    let (status, body) = refresh(&app, &phone_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let rejected = app
        .api(Method::GET, "/v1/me/sessions", &phone_access)
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 401);
    let (status, _) = refresh(&app, &laptop_refresh).await;
    assert_eq!(status, 200);
    let location = authorize(&app, &laptop).await;
    assert!(location.starts_with(REDIRECT_URI), "{location}");

    let remaining = list(&app, &laptop_access).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], laptop_session["id"]);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    let laptop = browser("Laptop/1.0");
    log_in(&app, &laptop, &ada.email).await;
    log_in(&app, &browser("Phone/2.0"), &ada.email).await;
    // A second login in the same browser replaces its session.
    log_in(&app, &laptop, &ada.email).await;
    assert_eq!(list(&app, &ada.token).await.len(), 2);

    let page = laptop.get(app.url("/logout")).send().await.unwrap();
    let form = hidden_inputs(&page.text().await.unwrap());
    let out = laptop
        .post(app.url("/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let left = list(&app, &ada.token).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["user_agent"], "Phone/2.0");
}

#[tokio::test]
async fn only_the_user_may_end_its_sessions() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    let bob = app.user_with("bob@example.com", Some(PASSWORD)).await;
    log_in(&app, &browser("Laptop/1.0"), &ada.email).await;
    let ada_session = list(&app, &ada.token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/me/sessions/{ada_session}");

    // Another user's session, and ids that are no session, are not found.
    for path in [
        path.as_str(),
        "/v1/me/sessions/ses_01J00000000000000000000000",
        "/v1/me/sessions/not-an-id",
    ] {
        let response = app
            .api(Method::DELETE, path, &bob.token)
            .send()
            .await
            .unwrap();
        expect_problem(response, 404, "not_found").await;
    }
    assert!(list(&app, &bob.token).await.is_empty());

    // An API key speaks for an account, not a person.
    let account = app.create_account(&ada, json!({"name": "Ada Inc"})).await;
    let key = create_key(&app, &ada, account["id"].as_str().unwrap(), "admin").await;
    let key = key["token"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "/v1/me/sessions"),
        (Method::DELETE, path.as_str()),
    ] {
        let response = app.api(method, path, key).send().await.unwrap();
        expect_problem(response, 403, "forbidden").await;
    }
    assert_eq!(list(&app, &ada.token).await.len(), 1, "still signed in");
}

#[tokio::test]
async fn a_browser_in_use_is_seen() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    let laptop = browser("Laptop/1.0");
    log_in(&app, &laptop, &ada.email).await;
    let hour_ago = tessera::clock::now() - 3600;
    sqlx::query("update browser_sessions set created_at = $1, last_seen_at = $1")
        .bind(hour_ago)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let stale = list(&app, &ada.token).await[0]["last_seen_at"].clone();
    assert_eq!(stale, tessera::clock::Timestamp(hour_ago).rfc3339());

    assert_eq!(laptop.get(app.url("/")).send().await.unwrap().status(), 200);
    // Written down off the request's path: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while list(&app, &ada.token).await[0]["last_seen_at"] == stale {
        assert!(
            std::time::Instant::now() < deadline,
            "the use was not recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
