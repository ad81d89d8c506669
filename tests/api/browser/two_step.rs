//! Two-step verification in a real browser (API.md §10): a person turns on an authenticator
//! app at `/account/security` by the page's labels and buttons, with the code computed here
//! from the key the page shows, sees the recovery codes once, signs out, and signs in again
//! with the password and then a code at `/login/mfa`; a spent code shows the form again with
//! its error. The same walk runs twice: with JavaScript off, keeping a screenshot of each
//! page, and with it on, checking each page with axe.

use fantoccini::Locator;

use super::{Browser, JavaScript};
use crate::helpers::TestApp;
use crate::mfa::{totp_next_step, totp_now};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "a sturdy passphrase";

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
async fn a_person_turns_on_an_authenticator_app_and_signs_in_with_its_code() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(JavaScript::Off).await;
    turn_on_and_sign_in_again(&app, &browser, Look::Screenshot).await;
    browser.close().await;
}

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
#[cfg_attr(
    all(tessera_no_axe, not(tessera_no_browser)),
    ignore = "no tests/browser/node_modules/axe-core/axe.min.js when built (npm ci --prefix tests/browser); with CI=true it runs and fails instead"
)]
async fn the_two_step_pages_have_no_serious_accessibility_violations() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(JavaScript::On).await;
    turn_on_and_sign_in_again(&app, &browser, Look::Axe).await;
    browser.close().await;
}

/// What the walk does on each page it reaches.
#[derive(Clone, Copy)]
enum Look {
    Screenshot,
    Axe,
}

impl Look {
    async fn at(self, browser: &Browser, page: &str) {
        match self {
            Look::Screenshot => browser.screenshot(&format!("two-step-{page}")).await,
            Look::Axe => browser.assert_accessible(page).await,
        }
    }
}

async fn turn_on_and_sign_in_again(app: &TestApp, browser: &Browser, look: Look) {
    app.user_with(EMAIL, Some(PASSWORD)).await;
    browser.goto(&app.url("/account/security")).await.unwrap();
    browser.heading("Sign in").await;
    look.at(browser, "login").await;
    browser.fill("Email", EMAIL).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in", "Security").await;
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("Off: signing in needs only your password."),
        "{page}"
    );
    look.at(browser, "security-off").await;

    browser.fill("Name of the app or device", "Phone").await;
    browser
        .click("Add an authenticator app", "Add an authenticator app")
        .await;
    look.at(browser, "security-enrolment").await;
    let key = browser
        .find(Locator::XPath(
            "//p[starts-with(normalize-space(), 'Key:')]/code",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let enrolment_code = totp_now(&key);
    browser.fill("Code from the app", &enrolment_code).await;
    browser.click("Turn on", "Your recovery codes").await;
    let codes = browser
        .find_all(Locator::XPath(
            "//section[h2='Your recovery codes']//li/code",
        ))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    look.at(browser, "security-recovery-codes").await;

    browser.goto(&app.url("/account/security")).await.unwrap();
    browser.heading("Security").await;
    let page = browser.source().await.unwrap();
    assert!(page.contains("Phone (on,"), "{page}");
    assert!(!page.contains("Your recovery codes"), "shown once: {page}");
    look.at(browser, "security-on").await;

    browser.goto(&app.url("/logout")).await.unwrap();
    browser.heading("Sign out").await;
    browser.click("Sign out", "Sign in").await;

    // Signing in again: the password leads to the second step, not yet to the account.
    browser.goto(&app.url("/account")).await.unwrap();
    browser.heading("Sign in").await;
    browser.fill("Email", EMAIL).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in", "Two-step verification").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/login/mfa");
    look.at(browser, "login-mfa").await;
    // The code that turned the app on is spent.
    browser.fill("Code", &enrolment_code).await;
    browser.press("Verify").await;
    let error = browser.alert().await;
    assert!(error.starts_with("That code is not valid."), "{error}");
    look.at(browser, "login-mfa-wrong-code").await;
    // The next step's code is fresh: no waiting for this step to end.
    browser.fill("Code", &totp_next_step(&key)).await;
    browser.click("Verify", "Your account").await;
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        app.url("/account"),
        "back where return_to said"
    );
}
