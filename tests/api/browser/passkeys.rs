//! Passkeys in a real browser (API.md §10): Chromium with JavaScript on, and chromedriver's
//! virtual authenticator standing in for the device (CTAP2, internal, resident keys, user
//! verification). A person adds a passkey at `/account/security` by the page's label and
//! button, signs out, signs in with "Sign in with a passkey" alone, and then with the
//! password and the passkey as the second step. Each page with a passkey button is checked
//! with axe and kept as a screenshot.

use serde_json::json;

use super::{Browser, JavaScript};
use crate::helpers::Deployment;
use crate::passkeys::spawn_on_localhost;

const EMAIL: &str = "grace@example.com";
const PASSWORD: &str = "a sturdy passphrase";

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
#[cfg_attr(
    all(tessera_no_axe, not(tessera_no_browser)),
    ignore = "no tests/browser/node_modules/axe-core/axe.min.js when built (npm ci --prefix tests/browser); with CI=true it runs and fails instead"
)]
async fn a_person_adds_a_passkey_and_signs_in_with_it() {
    let deployment = Deployment::new().await;
    // WebAuthn wants a domain name: the page is http://localhost:<port>.
    let app = spawn_on_localhost(&deployment).await;
    app.user_with(EMAIL, Some(PASSWORD)).await;
    let browser = Browser::start(JavaScript::On).await;
    browser
        .extension(
            "webauthn/authenticator",
            json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
            }),
        )
        .await;

    browser.goto(&app.url("/account/security")).await.unwrap();
    browser.heading("Sign in").await;
    browser.fill("Email", EMAIL).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in", "Security").await;
    browser.assert_accessible("security-passkey").await;
    browser.screenshot("passkey-security").await;

    browser.fill("Name of the passkey", "This laptop").await;
    browser.click("Add a passkey", "Your recovery codes").await;
    let page = browser.source().await.unwrap();
    assert!(page.contains("This laptop (on,"), "{page}");
    browser.screenshot("passkey-added").await;

    // Signed out, the passkey alone signs in.
    sign_out(&browser, &app).await;
    browser.goto(&app.url("/account")).await.unwrap();
    browser.heading("Sign in").await;
    browser.assert_accessible("login-passkey").await;
    browser.screenshot("passkey-login").await;
    browser
        .click("Sign in with a passkey", "Your account")
        .await;
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        app.url("/account")
    );

    // After the password, the passkey is the second step.
    sign_out(&browser, &app).await;
    browser.goto(&app.url("/account")).await.unwrap();
    browser.heading("Sign in").await;
    browser.fill("Email", EMAIL).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in", "Two-step verification").await;
    browser.assert_accessible("login-mfa-passkey").await;
    browser.screenshot("passkey-login-mfa").await;
    browser.click("Use a passkey", "Your account").await;
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        app.url("/account")
    );
    browser.close().await;
}

async fn sign_out(browser: &Browser, app: &crate::helpers::TestApp) {
    browser.goto(&app.url("/logout")).await.unwrap();
    browser.heading("Sign out").await;
    browser.click("Sign out", "Sign in").await;
}
