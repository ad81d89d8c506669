//! Signing in through another provider in a real browser (API.md §12): "Continue with
//! Upstream" on the login page, the upstream Tessera's own login page, and back signed in.
//! With JavaScript off, keeping screenshots; with it on, checking the pages with axe.

use super::{Browser, JavaScript};
use crate::federation::{Federation, PASSWORD};

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
async fn a_person_continues_with_the_provider_by_its_label() {
    sign_in_through_the_provider(JavaScript::Off).await;
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
async fn the_provider_pages_have_no_serious_accessibility_violations() {
    sign_in_through_the_provider(JavaScript::On).await;
}

async fn sign_in_through_the_provider(javascript: JavaScript) {
    let federation = Federation::start(None, |_| {}).await;
    federation.upstream_user("grace@corp.example", true).await;
    let browser = Browser::start(javascript).await;

    browser
        .goto(&federation.downstream.url("/login"))
        .await
        .unwrap();
    browser.heading("Sign in").await;
    match javascript {
        JavaScript::Off => browser.screenshot("login-with-a-provider").await,
        JavaScript::On => browser.assert_accessible("login with a provider").await,
    }
    browser.press("Continue with Upstream").await;
    browser.lands_on(&federation.upstream.address).await;
    browser.heading("Sign in").await;
    browser.fill("Email", "grace@corp.example").await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    browser.lands_on(&federation.downstream.address).await;
    browser.heading("Welcome").await;
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("You are signed in as grace@corp.example."),
        "{page}"
    );
    if javascript == JavaScript::Off {
        browser.screenshot("signed-in-through-a-provider").await;
    }

    // A callback this browser did not start: a page that says so in a sentence.
    browser
        .goto(
            &federation
                .downstream
                .url("/login/idp/upstream/callback?code=x&state=y"),
        )
        .await
        .unwrap();
    browser.heading("Something is not right").await;
    match javascript {
        JavaScript::Off => browser.screenshot("provider-sign-in-refused").await,
        JavaScript::On => browser.assert_accessible("refused provider sign-in").await,
    }
    browser.close().await;
}
