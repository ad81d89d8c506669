//! The hosted pages in a real browser: headless Chromium with JavaScript off, driven through
//! chromedriver, finds fields by their labels and buttons by their text. A person signs in
//! and lands on the client's redirect URI with a code, then signs out, follows an
//! invitation, signs up through it, accepts and reaches the account page; screenshots of
//! each page go to `target/tmp/screenshots/`.
//!
//! Never "ok" without a browser: `build.rs` marks the test ignored, with the reason, when
//! Chromium or chromedriver is missing at build time, except with `CI=true`, where the test
//! runs and a missing browser fails it (`.ci/run` installs Debian's chromium and
//! chromium-driver first).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::client_credentials::register;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, LOGIN_SCOPE, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Kills chromedriver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types `value` into the input that the label reading `label` names.
async fn fill(browser: &Client, label: &str, value: &str) {
    let label = browser
        .find(Locator::XPath(&format!(
            "//label[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|error| panic!("no label {label:?}: {error}"));
    let input_id = label.attr("for").await.unwrap().expect("label has for=");
    browser
        .find(Locator::Id(&input_id))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
}

/// Clicks the button or link reading `text`, and waits for the page whose heading is `then`.
async fn click(browser: &Client, text: &str, then: &str) {
    browser
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|error| panic!("nothing to click reading {text:?}: {error}"))
        .click()
        .await
        .unwrap();
    heading(browser, then).await;
}

/// Waits until the page's heading reads `text`.
async fn heading(browser: &Client, text: &str) {
    browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&format!(
            "//h1[normalize-space()=\"{text}\"]"
        )))
        .await
        .unwrap_or_else(|error| panic!("no heading {text:?}: {error}"));
}

/// Saves a screenshot of the page as `target/tmp/screenshots/<name>.png`.
async fn screenshot(browser: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
async fn a_person_signs_in_with_a_real_browser_and_lands_on_the_redirect_uri() {
    // Built with a browser (or under CI) but none here: a failure, never a silent pass.
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: apt-get install chromium chromium-driver"
        );
    }
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let redirect_uri = format!("{}/callback", app.address);
    let client = register(
        &deployment,
        &app,
        &["--public", "--redirect-uri", &redirect_uri],
    )
    .await;

    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port).await;
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
            // The hosted pages must work with JavaScript off.
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
        }
    });
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    // Tall enough that a screenshot shows a whole page.
    browser.set_window_size(800, 1700).await.unwrap();

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
    fill(&browser, "Email", ADMIN_EMAIL).await;
    fill(&browser, "Password", ADMIN_PASSWORD).await;
    screenshot(&browser, "login").await;
    browser
        .find(Locator::XPath("//button[normalize-space()='Sign in']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    let landed = loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(&redirect_uri) {
            break url;
        }
        assert!(Instant::now() < deadline, "stuck at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    pages_a_person_walks_through(&app, &browser).await;
    browser.close().await.unwrap();

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
async fn pages_a_person_walks_through(app: &TestApp, browser: &Client) {
    browser.goto(&app.url("/account")).await.unwrap();
    heading(browser, "Your account").await;
    screenshot(browser, "account").await;
    fill(browser, "Name", " Admin").await;
    click(browser, "Save name", "Your account").await;
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("Your name is saved.")
    );

    browser.goto(&app.url("/logout")).await.unwrap();
    heading(browser, "Sign out").await;
    click(browser, "Sign out", "Sign in").await;
    browser.goto(&app.url("/logout")).await.unwrap();
    heading(browser, "Sign out").await;
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("You are not signed in.")
    );
    screenshot(browser, "logout-signed-out").await;

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
    screenshot(browser, "invite-anonymous").await;
    click(browser, "Create an account", "Create an account").await;
    fill(browser, "Name", "Newcomer").await;
    fill(browser, "Password", "a sturdy passphrase").await;
    screenshot(browser, "signup-invited").await;
    let email = browser.find(Locator::Id("email")).await.unwrap();
    assert_eq!(
        email.prop("readOnly").await.unwrap().as_deref(),
        Some("true")
    );
    click(browser, "Create account", "Join Default").await;
    screenshot(browser, "invite-answer").await;
    click(browser, "Accept invitation", "Invitation accepted").await;
    click(browser, "Go to your account", "Your account").await;
    assert!(browser.source().await.unwrap().contains("member"));
    screenshot(browser, "account-newcomer").await;

    browser.goto(&app.url("/no-such-page")).await.unwrap();
    heading(browser, "Page not found").await;
    screenshot(browser, "not-found").await;
}
