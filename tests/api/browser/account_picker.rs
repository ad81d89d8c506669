//! The account picker in a real browser (API.md §11): a person signs in, picks an account by
//! its label and lands on the client's redirect URI with a code bound to it. With JavaScript
//! off, keeping a screenshot of the page; with it on, checking the page with axe.

use fantoccini::Locator;

use super::{Browser, JavaScript};
use crate::account_picker::accounts;
use crate::authorization_code::verify;
use crate::client_credentials::register;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment};

#[tokio::test]
#[cfg_attr(
    tessera_no_browser,
    ignore = "no /usr/bin/chromium or /usr/bin/chromedriver when built (apt-get install chromium chromium-driver); with CI=true it runs and fails instead"
)]
async fn a_person_picks_an_account_by_its_label() {
    pick_an_account(JavaScript::Off).await;
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
async fn the_account_picker_has_no_serious_accessibility_violations() {
    pick_an_account(JavaScript::On).await;
}

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn pick_an_account(javascript: JavaScript) {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let redirect_uri = format!("{}/callback", app.address);
    let client = register(
        &deployment,
        &app,
        &["--public", "--redirect-uri", &redirect_uri],
    )
    .await;
    let accounts = accounts(&deployment, &app).await;
    let browser = Browser::start(javascript).await;

    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid\
         &state=picker-state&prompt=select_account&account_hint={}\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.address,
        client.client_id,
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>(),
        accounts.acme,
    );
    browser.goto(&authorize).await.unwrap();
    browser.heading("Sign in").await;
    browser.fill("Email", ADMIN_EMAIL).await;
    browser.fill("Password", ADMIN_PASSWORD).await;
    browser.click("Sign in", "Choose an account").await;
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/oauth2/select-account"
    );
    assert!(
        radio(&browser, "Acme").await.is_selected().await.unwrap(),
        "account_hint"
    );
    match javascript {
        JavaScript::Off => browser.screenshot("account-picker").await,
        JavaScript::On => browser.assert_accessible("account picker").await,
    }

    radio(&browser, "EMEA").await.click().await.unwrap();
    browser.press("Continue").await;
    let landed = browser.lands_on(&redirect_uri).await;
    browser.close().await;
    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "picker-state");
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", client.client_id.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let access = verify(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "at+jwt",
        &client.client_id,
    )
    .await;
    assert_eq!(access["acc"], accounts.emea.as_str(), "the account picked");
}

/// The radio whose `<label for>` reads `label`.
async fn radio(browser: &Browser, label: &str) -> fantoccini::elements::Element {
    let label = browser
        .find(Locator::XPath(&format!(
            "//label[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|error| panic!("no label {label:?}: {error}"));
    let id = label.attr("for").await.unwrap().expect("label has for=");
    browser.find(Locator::Id(&id)).await.unwrap()
}
