//! The hosted pages a person walks through, with JavaScript off: signs in and lands on the
//! client's redirect URI with a code, then signs out, follows an invitation, signs up through
//! it, accepts and reaches the account page; a screenshot of each page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::Locator;
use serde_json::{Value, json};

use super::{Browser, JavaScript};
use crate::client_credentials::register;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, LOGIN_SCOPE, TestApp};

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
async fn a_person_signs_in_with_a_real_browser_and_lands_on_the_redirect_uri() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let redirect_uri = format!("{}/callback", app.address);
    let client = register(
        &deployment,
        &app,
        &["--public", "--redirect-uri", &redirect_uri],
    )
    .await;

    let browser = Browser::start(JavaScript::Off).await;

    let verifier = tessera::secret::generate();
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=browser-state\
         &code_challenge={challenge}&code_challenge_method=S256",
        app.address,
        client.client_id,
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>(),
    );
    browser.goto(&authorize).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );
    browser.fill("Email", ADMIN_EMAIL).await;
    browser.fill("Password", ADMIN_PASSWORD).await;
    browser.screenshot("login").await;
    browser.press("Sign in").await;

    let landed = browser.lands_on(&redirect_uri).await;
    pages_a_person_walks_through(&app, &browser).await;
    browser.close().await;

    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "browser-state");
    assert_eq!(params["iss"], app.address);
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", client.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// After the code flow (the admin is signed in): the account page, sign-out, an invitation
/// answered by a newcomer who signs up through it, and a missing page.
async fn pages_a_person_walks_through(app: &TestApp, browser: &Browser) {
    browser.goto(&app.url("/account")).await.unwrap();
    browser.heading("Your account").await;
    browser.screenshot("account").await;
    browser.fill("Name", " Admin").await;
    browser.click("Save name", "Your account").await;
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("Your name is saved.")
    );

    browser.goto(&app.url("/logout")).await.unwrap();
    browser.heading("Sign out").await;
    browser.click("Sign out", "Sign in").await;
    browser.goto(&app.url("/logout")).await.unwrap();
    browser.heading("Sign out").await;
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("You are not signed in.")
    );
    browser.screenshot("logout-signed-out").await;

    let admin_id: String = sqlx::query_scalar("select id from users where email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let token = app.login_token(&admin_id, LOGIN_SCOPE).await;
    let account: String = sqlx::query_scalar("select id from accounts order by created_at limit 1")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let invitation: Value = app
        .api(
            reqwest::Method::POST,
            &format!("/v1/accounts/{account}/invites"),
            &token,
        )
        .json(&json!({"email": "newcomer@example.com", "role": "member"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    browser
        .goto(invitation["accept_url"].as_str().unwrap())
        .await
        .unwrap();
    let source = browser.source().await.unwrap();
    assert!(source.contains("invited you") && source.contains("expires on"));
    browser.screenshot("invite-anonymous").await;
    browser
        .click("Create an account", "Create an account")
        .await;
    browser.fill("Name", "Newcomer").await;
    browser.fill("Password", "a sturdy passphrase").await;
    browser.screenshot("signup-invited").await;
    let email = browser.find(Locator::Id("email")).await.unwrap();
    assert_eq!(
        email.prop("readOnly").await.unwrap().as_deref(),
        Some("true")
    );
    browser.click("Create account", "Join Default").await;
    browser.screenshot("invite-answer").await;
    browser
        .click("Accept invitation", "Invitation accepted")
        .await;
    browser.click("Go to your account", "Your account").await;
    assert!(browser.source().await.unwrap().contains("member"));
    browser.screenshot("account-newcomer").await;

    browser.goto(&app.url("/no-such-page")).await.unwrap();
    browser.heading("Page not found").await;
    browser.screenshot("not-found").await;
}
