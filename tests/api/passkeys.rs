//! Passkeys (API.md §10) end to end with a software authenticator: enrolment over REST and on
//! the security page, the password-less sign-in and the second step on the hosted pages,
//! `amr`/`acr` in the tokens, and the attacks a relying party must refuse: a replayed
//! answer, another session's challenge, a phishing origin, a forged user handle, a cloned
//! key, one credential for two users, a stale login, a missing CSRF token.

use oauth2::TokenResponse;
use reqwest::Method;
use serde_json::{Value, json};
use tessera::config::Issuer;

use crate::authorization_code::{Rp, log_in_through_code_flow, query, verify};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp, expect_problem, hidden_input,
};
use crate::mfa::{location, new_browser, submit};
use crate::soft_authenticator::SoftAuthenticator;

const SCOPES: [&str; 2] = ["openid", "tessera:manage"];

/// A server whose issuer is `http://localhost:<port>`: browsers (and the relying party) only
/// do WebAuthn on a domain name, never on an IP address.
pub(crate) async fn spawn_on_localhost(deployment: &Deployment) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = deployment.config();
    config.listen = ([127, 0, 0, 1], port).into();
    let issuer = format!("http://localhost:{port}");
    config.issuer = Some(Issuer::parse(&issuer).unwrap());
    let mut app = TestApp::start(config).await;
    // Requests go where a browser would send them (and tokens name this issuer).
    app.address = issuer;
    app
}

/// Enrols a passkey over REST with `token` (a fresh login); returns the new factor.
async fn enrol(app: &TestApp, token: &str, authenticator: &mut SoftAuthenticator) -> Value {
    let options = app
        .api(Method::POST, "/v1/me/factors/passkey/options", token)
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 200);
    let options: Value = options.json().await.unwrap();
    let mut body = authenticator.create(&options);
    body["name"] = json!("Laptop");
    let created = app
        .api(Method::POST, "/v1/me/factors/passkey", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    created.json().await.unwrap()
}

/// Loads `page` in `browser` and posts its CSRF token to `options_path`: the options.
async fn page_options(app: &TestApp, browser: &reqwest::Client, page: &str, path: &str) -> Value {
    let html = browser
        .get(app.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let answer = browser
        .post(app.url(path))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.json().await.unwrap()
}

/// Posts `credential` in the form of `page` to `action`, the way the page's script does.
async fn answer(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    credential: &Value,
) -> reqwest::Response {
    let credential = credential.to_string();
    submit(app, browser, page, action, &[("credential", &credential)]).await
}

/// A password-less sign-in in `browser`: options, the authenticator's answer, the post.
async fn sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    authenticator: &mut SoftAuthenticator,
) -> reqwest::Response {
    let page = "/login?return_to=/account";
    let options = page_options(app, browser, page, "/login/passkey/options").await;
    let assertion = authenticator.get(&options);
    answer(app, browser, page, "/login/passkey", &assertion).await
}

/// The `amr` of the tokens a code flow in `browser` gets.
async fn amr_of_browser(app: &TestApp, rp: &Rp, browser: &reqwest::Client) -> Value {
    let (url, _, verifier) = rp.authorize_url(&SCOPES, &[]);
    let back = browser.get(&url).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let code = query(&location(&back))["code"].clone();
    let tokens = rp.exchange(&code, verifier).await.unwrap();
    let claims = verify(
        app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["acr"], "urn:tessera:acr:mfa");
    claims["amr"].clone()
}

#[tokio::test]
async fn a_passkey_signs_in_alone_or_as_the_second_step() {
    let deployment = Deployment::new().await;
    let app = spawn_on_localhost(&deployment).await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &SCOPES, &[]).await;
    let token = tokens.access_token().secret().clone();
    let mut authenticator = SoftAuthenticator::new(&app.address);

    // The options ask for a discoverable, user-verified credential of this host.
    let options: Value = app
        .api(Method::POST, "/v1/me/factors/passkey/options", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &options["publicKey"];
    assert_eq!(key["rp"]["id"], "localhost");
    assert_eq!(key["user"]["name"], ADMIN_EMAIL);
    assert_eq!(key["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        key["authenticatorSelection"]["userVerification"],
        "required"
    );
    let created = authenticator.create(&options);
    let enrolled = app
        .api(Method::POST, "/v1/me/factors/passkey", &token)
        .json(&created)
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201, "{:?}", enrolled.text().await);
    let enrolled: Value = enrolled.json().await.unwrap();
    assert_eq!(enrolled["type"], "passkey");
    assert_eq!(enrolled["status"], "active");
    assert_eq!(enrolled["name"], "Passkey");
    assert_eq!(enrolled["recovery_codes"].as_array().unwrap().len(), 10);
    // The same answer again: its challenge is used up.
    let again = app
        .api(Method::POST, "/v1/me/factors/passkey", &token)
        .json(&created)
        .send()
        .await
        .unwrap();
    expect_problem(again, 400, "invalid_passkey").await;
    // A second passkey, on another device, and no recovery codes with it. The options
    // exclude the passkeys the user has, so a device holding one would refuse.
    let mut laptop = SoftAuthenticator::new(&app.address);
    let second = enrol(&app, &token, &mut laptop).await;
    assert_eq!(second["name"], "Laptop");
    assert!(second.get("recovery_codes").is_none(), "{second}");
    let options: Value = app
        .api(Method::POST, "/v1/me/factors/passkey/options", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let excluded = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 2, "{options}");
    let listed: Value = app
        .api(Method::GET, "/v1/me/factors", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|factor| factor["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["passkey", "passkey"]);

    // Password-less: the login page offers it, and the passkey alone signs in (two factors:
    // the key, and the PIN or biometric that unlocked it).
    let browser = new_browser();
    let page = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with a passkey"), "{page}");
    assert!(page.contains("/assets/passkeys.js"), "{page}");
    let script = app.get("/assets/passkeys.js").await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let options = page_options(&app, &browser, "/login", "/login/passkey/options").await;
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a discoverable sign-in names no credential: {options}"
    );
    let assertion = authenticator.get(&options);
    let signed = answer(
        &app,
        &browser,
        "/login?return_to=/account",
        "/login/passkey",
        &assertion,
    )
    .await;
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/account");
    assert_eq!(
        amr_of_browser(&app, &rp, &browser).await,
        json!(["hwk", "mfa"])
    );

    // After a password, the passkey is the second step.
    let browser = new_browser();
    let login = submit(
        &app,
        &browser,
        "/login?return_to=/account",
        "/login",
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    let next = location(&login);
    assert!(next.starts_with("/login/mfa?"), "{next}");
    let page = browser
        .get(app.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Use a passkey"), "{page}");
    let options = page_options(&app, &browser, &next, "/login/mfa/passkey/options").await;
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 2, "the user's passkeys: {options}");
    let assertion = authenticator.get(&options);
    let passed = answer(&app, &browser, &next, "/login/mfa/passkey", &assertion).await;
    assert_eq!(passed.status(), 303);
    assert_eq!(location(&passed), "/account");
    assert_eq!(
        amr_of_browser(&app, &rp, &browser).await,
        json!(["pwd", "hwk", "mfa"])
    );

    // Removed, a passkey signs in no more.
    for factor in [&enrolled, &second] {
        let path = format!("/v1/me/factors/{}", factor["id"].as_str().unwrap());
        let removed = app.api(Method::DELETE, &path, &token).send().await.unwrap();
        assert_eq!(removed.status(), 204);
    }
    let refused = sign_in(&app, &new_browser(), &mut authenticator).await;
    assert_eq!(refused.status(), 401);
    let mail = app.emails_to(ADMIN_EMAIL).await;
    assert!(
        mail.iter()
            .any(|body| body.contains("A second factor was removed")),
        "{mail:?}"
    );
}

#[tokio::test]
async fn replayed_phished_forged_and_cloned_passkey_answers_are_refused() {
    let deployment = Deployment::new().await;
    let app = spawn_on_localhost(&deployment).await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &SCOPES, &[]).await;
    let token = tokens.access_token().secret().clone();
    let mut admin_key = SoftAuthenticator::new(&app.address);
    enrol(&app, &token, &mut admin_key).await;

    // Another user enrols on the security page (signed in with a password a moment ago).
    let password = "grace-password-1";
    let grace = app.user_with("grace@example.com", Some(password)).await;
    // (A token of hers now: once she has a passkey, a password alone no longer signs in.)
    let grace_token = log_in_as(&app, &rp, &grace.email, password).await;
    let browser = new_browser();
    let login = submit(
        &app,
        &browser,
        "/login?return_to=/account/security",
        "/login",
        &[("email", &grace.email), ("password", password)],
    )
    .await;
    assert_eq!(location(&login), "/account/security");
    let page = browser
        .get(app.url("/account/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Add a passkey"), "{page}");
    let mut grace_key = SoftAuthenticator::new(&app.address);
    let options = page_options(
        &app,
        &browser,
        "/account/security",
        "/account/security/passkey/options",
    )
    .await;
    let created = grace_key.create(&options);
    let added = answer(
        &app,
        &browser,
        "/account/security",
        "/account/security/passkey",
        &created,
    )
    .await;
    assert_eq!(added.status(), 200);
    let added = added.text().await.unwrap();
    assert!(added.contains("Your recovery codes"), "{added}");

    // One credential belongs to one user: Grace cannot register the admin's key id.
    let options: Value = app
        .api(Method::POST, "/v1/me/factors/passkey/options", &grace_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut copycat = SoftAuthenticator::new(&app.address);
    copycat.next_id = Some(admin_key.credentials[0].id.clone());
    let claimed = app
        .api(Method::POST, "/v1/me/factors/passkey", &grace_token)
        .json(&copycat.create(&options))
        .send()
        .await
        .unwrap();
    expect_problem(claimed, 409, "conflict").await;

    // A phishing page's origin: the signature is right, the origin is not this server.
    let mut phished = SoftAuthenticator::new("http://localhost.evil.example");
    std::mem::swap(&mut phished.credentials, &mut admin_key.credentials);
    let refused = sign_in(&app, &new_browser(), &mut phished).await;
    assert_eq!(refused.status(), 401);
    std::mem::swap(&mut phished.credentials, &mut admin_key.credentials);

    // Another session's challenge: an answer made for browser A, posted in browser B.
    let (a, b) = (new_browser(), new_browser());
    let for_a = page_options(&app, &a, "/login", "/login/passkey/options").await;
    page_options(&app, &b, "/login", "/login/passkey/options").await;
    let assertion = admin_key.get(&for_a);
    let refused = answer(&app, &b, "/login", "/login/passkey", &assertion).await;
    assert_eq!(refused.status(), 401);

    // A replay: an answer that signed in once does not sign in again, in this browser or
    // another.
    let browser = new_browser();
    let options_now = page_options(&app, &browser, "/login", "/login/passkey/options").await;
    let assertion = admin_key.get(&options_now);
    let signed = answer(&app, &browser, "/login", "/login/passkey", &assertion).await;
    assert_eq!(signed.status(), 303);
    for browser in [&browser, &new_browser()] {
        page_options(&app, browser, "/login", "/login/passkey/options").await;
        let replayed = answer(&app, browser, "/login", "/login/passkey", &assertion).await;
        assert_eq!(replayed.status(), 401);
    }

    // A forged user handle: the admin's key claiming to be Grace's.
    admin_key.credentials[0].user_handle = grace_key.credentials[0].user_handle.clone();
    let refused = sign_in(&app, &new_browser(), &mut admin_key).await;
    assert_eq!(refused.status(), 401);

    // A cloned key: its signature counter goes back.
    let browser = new_browser();
    let fine = sign_in(&app, &browser, &mut grace_key).await;
    assert_eq!(fine.status(), 303);
    grace_key.credentials[0].counter = 0;
    let refused = sign_in(&app, &new_browser(), &mut grace_key).await;
    assert_eq!(refused.status(), 401);

    // The forms carry the session's CSRF token.
    let missing = new_browser()
        .post(app.url("/login/passkey/options"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);

    // Adding a passkey needs a recent login: a token that shows none is refused.
    let stale = app.user("stale@example.com").await;
    let refused = app
        .api(Method::POST, "/v1/me/factors/passkey/options", &stale.token)
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403, "reauthentication_required").await;
}

#[tokio::test]
async fn an_issuer_on_an_ip_address_offers_no_passkeys() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &SCOPES, &[]).await;
    let token = tokens.access_token().secret();
    let refused = app
        .api(Method::POST, "/v1/me/factors/passkey/options", token)
        .send()
        .await
        .unwrap();
    expect_problem(refused, 400, "passkeys_unavailable").await;
    let page = app.get("/login").await.text().await.unwrap();
    assert!(!page.contains("passkey"), "{page}");
}

/// A login token of `email` through a code flow in a browser of its own.
async fn log_in_as(app: &TestApp, rp: &Rp, email: &str, password: &str) -> String {
    let browser = new_browser();
    let (url, _, verifier) = rp.authorize_url(&SCOPES, &[]);
    let to_login = browser.get(&url).send().await.unwrap();
    let login_page = location(&to_login);
    let login = submit(
        app,
        &browser,
        &login_page,
        "/login",
        &[("email", email), ("password", password)],
    )
    .await;
    let back = browser
        .get(app.url(&location(&login)))
        .send()
        .await
        .unwrap();
    let code = query(&location(&back))["code"].clone();
    let tokens = rp.exchange(&code, verifier).await.unwrap();
    tokens.access_token().secret().clone()
}
