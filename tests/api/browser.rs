//! One flow in a real browser: headless Chromium with JavaScript off, driven through
//! chromedriver, fills in the hosted login form by its labels and lands on the client's
//! redirect URI with a code. Skipped, saying why, only when no browser is installed
//! (`.ci/run` installs Debian's chromium and chromium-driver).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::client_credentials::register;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment};

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

#[tokio::test]
async fn a_person_signs_in_with_a_real_browser_and_lands_on_the_redirect_uri() {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        eprintln!(
            "skipped: no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        return;
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
    for (label, value) in [("Email", ADMIN_EMAIL), ("Password", ADMIN_PASSWORD)] {
        let label = browser
            .find(Locator::XPath(&format!(
                "//label[normalize-space()='{label}']"
            )))
            .await
            .unwrap();
        let input_id = label.attr("for").await.unwrap().expect("label has for=");
        browser
            .find(Locator::Id(&input_id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    let screenshot = browser.screenshot().await.unwrap();
    let _ = std::fs::write(std::env::temp_dir().join("tessera-login.png"), screenshot);
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
