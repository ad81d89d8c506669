//! Second factors (API.md §10) end to end: TOTP enrolment over REST with codes computed here,
//! the login's second step on the hosted pages, recovery codes, replay refused, `amr`/`acr`
//! in the tokens, and the recent-login rule.

use oauth2::TokenResponse;
use reqwest::Method;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::authorization_code::{Rp, log_in_through_code_flow, query, verify};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp, expect_problem, hidden_input,
};

/// The code an authenticator app shows now for `secret` (base32), computed independently
/// of the server's TOTP code.
pub fn totp_now(secret: &str) -> String {
    authenticator_app(secret).generate_current().unwrap()
}

/// The code of the next 30-second step: one the server takes now (±1 step) even when this
/// step's code is spent, so a test signs in with a fresh code without waiting for it.
pub fn totp_next_step(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    authenticator_app(secret).generate(now + 30)
}

fn authenticator_app(secret: &str) -> TOTP {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into()).unwrap()
}

/// A browser of its own: cookies kept, redirects not followed.
pub(crate) fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Loads `path` in `browser`, posts its form to `action` with `fields` (plus its hidden ones).
pub(crate) async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "GET {path}");
    let html = page.text().await.unwrap();
    let mut form: Vec<(String, String)> = ["csrf_token", "return_to"]
        .iter()
        .filter_map(|name| hidden_input(&html, name).map(|value| ((*name).to_owned(), value)))
        .collect();
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn enrol(app: &TestApp, token: &str) -> (String, String, Vec<String>) {
    let enrolled = app
        .api(Method::POST, "/v1/me/factors/totp", token)
        .json(&json!({"name": "Phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
    let enrolled: Value = enrolled.json().await.unwrap();
    assert_eq!(enrolled["status"], "pending");
    assert_eq!(enrolled["type"], "totp");
    let id = enrolled["id"].as_str().unwrap().to_owned();
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let uri = enrolled["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&secret),
        "{uri}"
    );

    let wrong = app
        .api(Method::POST, &format!("/v1/me/factors/{id}/verify"), token)
        .json(&json!({"code": "12345x"}))
        .send()
        .await
        .unwrap();
    expect_problem(wrong, 400, "invalid_code").await;

    let code = totp_now(&secret);
    let verified = app
        .api(Method::POST, &format!("/v1/me/factors/{id}/verify"), token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["status"], "active");
    let codes: Vec<String> = serde_json::from_value(verified["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (id, code, codes)
}

#[tokio::test]
async fn a_totp_factor_adds_a_second_step_to_the_login_and_mfa_to_the_tokens() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let scopes = ["openid", "tessera:manage"];
    let tokens = log_in_through_code_flow(&app, &rp, &scopes, &[]).await;
    let token = tokens.access_token().secret().clone();
    let claims = verify(&app, &token, "at+jwt", &rp.registered.client_id).await;
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:tessera:acr:pwd");

    let (id, used_code, recovery_codes) = enrol(&app, &token).await;
    let listed: Value = app
        .api(Method::GET, "/v1/me/factors", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["data"][0]["status"], "active");
    assert!(listed["data"][0].get("secret").is_none(), "{listed}");

    // Step-up: the browser that signed in with a password only is asked for a second factor
    // when a client wants `acr=mfa` (and prompt=none cannot ask).
    let mfa = [("acr_values", "urn:tessera:acr:mfa")];
    let (silent, _, _) = rp.authorize_url(&scopes, &[mfa[0], ("prompt", "none")]);
    let refused = app.http.get(&silent).send().await.unwrap();
    assert_eq!(query(&location(&refused))["error"], "interaction_required");
    let (url, _, verifier) = rp.authorize_url(&scopes, &mfa);
    let step_up = app.http.get(&url).send().await.unwrap();
    let next = location(&step_up);
    assert!(next.starts_with("/login/mfa?return_to="), "{next}");
    // The enrolment spent this step's TOTP code: a recovery code stands in.
    let passed = submit(
        &app,
        &app.http,
        &next,
        "/login/mfa",
        &[("code", &recovery_codes[2])],
    )
    .await;
    assert_eq!(passed.status(), 303);
    let back = app.get(&location(&passed)).await;
    let code = query(&location(&back))["code"].clone();
    let stepped = rp.exchange(&code, verifier).await.unwrap();
    let claims = verify(
        &app,
        stepped.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["acr"], "urn:tessera:acr:mfa");

    // A password alone no longer signs in: the second step comes first.
    let browser = new_browser();
    let login = submit(
        &app,
        &browser,
        "/login?return_to=/account",
        "/login",
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(login.status(), 303);
    let next = location(&login);
    assert!(next.starts_with("/login/mfa?"), "{next}");
    let form = browser
        .get(app.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::login::assert_accessible("/login/mfa", &form);
    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(
        account.status(),
        303,
        "not signed in before the second step"
    );

    // The code accepted at enrolment does not work twice, nor does a wrong one.
    for code in [used_code.as_str(), "000000x"] {
        let refused = submit(&app, &browser, &next, "/login/mfa", &[("code", code)]).await;
        assert_eq!(refused.status(), 401, "{code}");
    }
    let passed = submit(
        &app,
        &browser,
        &next,
        "/login/mfa",
        &[("code", &recovery_codes[0].to_uppercase())],
    )
    .await;
    assert_eq!(passed.status(), 303);
    assert_eq!(location(&passed), "/account");
    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 200);

    // That browser's session now says two factors: its tokens say `mfa`.
    let (url, _, verifier) = rp.authorize_url(&scopes, &[]);
    let back = browser.get(&url).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let code = query(&location(&back))["code"].clone();
    let tokens = rp.exchange(&code, verifier).await.unwrap();
    let claims = verify(
        &app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:tessera:acr:mfa");
    let id_token = tokens.extra_fields().id_token.clone().unwrap();
    let id_claims = verify(&app, &id_token, "JWT", &rp.registered.client_id).await;
    assert_eq!(id_claims["acr"], "urn:tessera:acr:mfa");

    // A recovery code works once.
    let other = browser_signed_in_with_password(&app).await;
    let again = submit(
        &app,
        &other.0,
        &other.1,
        "/login/mfa",
        &[("code", &recovery_codes[0])],
    )
    .await;
    assert_eq!(again.status(), 401);

    // Enabling was recorded in the admin's account and mailed.
    let account_id = crate::kit::first_account(&app.state.store).await;
    let actions = app.audit_actions(account_id.as_str()).await;
    assert!(
        actions.iter().any(|action| action == "user.mfa_enabled"),
        "{actions:?}"
    );
    let mail = app.emails_to(ADMIN_EMAIL).await;
    assert!(
        mail.iter()
            .any(|body| body.contains("A second factor was added")),
        "{mail:?}"
    );

    // New recovery codes replace the old ones; removing the factor ends the second step.
    let renewed: Value = app
        .api(Method::POST, "/v1/me/recovery-codes", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renewed["recovery_codes"].as_array().unwrap().len(), 10);
    let (third, pending) = browser_signed_in_with_password(&app).await;
    let stale = submit(
        &app,
        &third,
        &pending,
        "/login/mfa",
        &[("code", &recovery_codes[1])],
    )
    .await;
    assert_eq!(stale.status(), 401, "the old codes stopped working");
    let removed = app
        .api(Method::DELETE, &format!("/v1/me/factors/{id}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let actions = app.audit_actions(account_id.as_str()).await;
    assert!(
        actions.iter().any(|action| action == "user.mfa_disabled"),
        "{actions:?}"
    );
    let plain = submit(
        &app,
        &new_browser(),
        "/login?return_to=/account",
        "/login",
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(
        location(&plain),
        "/account",
        "no second step without a factor"
    );
}

/// A fresh browser that gave the admin's password and waits at the second step.
async fn browser_signed_in_with_password(app: &TestApp) -> (reqwest::Client, String) {
    let browser = new_browser();
    let login = submit(
        app,
        &browser,
        "/login?return_to=/account",
        "/login",
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    let next = location(&login);
    assert!(next.starts_with("/login/mfa?"), "{next}");
    (browser, next)
}

#[tokio::test]
async fn changing_factors_needs_a_recent_login() {
    let app = TestApp::spawn().await;
    // A token that shows no login (no grant behind it): listing yes, changing no.
    let user = app.user("ada@example.com").await;
    let listed = app
        .api(Method::GET, "/v1/me/factors", &user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await.unwrap()["data"], json!([]));
    let enrol = app
        .api(Method::POST, "/v1/me/factors/totp", &user.token)
        .send()
        .await
        .unwrap();
    expect_problem(enrol, 403, "reauthentication_required").await;
    let codes = app
        .api(Method::POST, "/v1/me/recovery-codes", &user.token)
        .send()
        .await
        .unwrap();
    expect_problem(codes, 403, "reauthentication_required").await;
    let unknown = app
        .api(
            Method::POST,
            "/v1/me/factors/fac_01J00000000000000000000000/verify",
            &user.token,
        )
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    expect_problem(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn the_second_step_waits_for_a_password_first() {
    let app = TestApp::spawn().await;
    let browser = new_browser();
    let page = browser
        .get(app.url("/login/mfa?return_to=/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert!(
        location(&page).starts_with("/login?"),
        "{}",
        location(&page)
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_email_login_limit() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid", "tessera:manage"], &[]).await;
    enrol(&app, tokens.access_token().secret()).await;

    // The password is right; the guessed codes are not. The password step stays counted
    // until a second factor passes, so it and nine wrong codes use up the email's
    // allowance of ten failures: the tenth guess is not even checked.
    let (browser, next) = browser_signed_in_with_password(&app).await;
    for attempt in 1..=9 {
        let wrong = submit(&app, &browser, &next, "/login/mfa", &[("code", "000000x")]).await;
        assert_eq!(wrong.status(), 401, "guess {attempt}");
    }
    let limited = submit(&app, &browser, &next, "/login/mfa", &[("code", "000000x")]).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // The email is locked for passwords too, from another browser.
    let login = submit(
        &app,
        &new_browser(),
        "/login?return_to=/account",
        "/login",
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(login.status(), 429);
}

/// RFC 8693 exchange of `subject` for an account token, by the relying party.
async fn exchange(app: &TestApp, rp: &Rp, subject: &str, account: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("account_id", account),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_account_that_requires_mfa_gets_account_tokens_only_after_a_second_factor() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let scopes = ["openid", "tessera:manage"];
    let tokens = log_in_through_code_flow(&app, &rp, &scopes, &[]).await;
    let token = tokens.access_token().secret().clone();
    let account = crate::kit::first_account(&app.state.store)
        .await
        .to_string();

    // A refresh token bound to the account, from before the policy.
    let bound = log_in_through_code_flow(
        &app,
        &rp,
        &["openid", "offline_access"],
        &[("account_id", &account)],
    )
    .await;
    let bound_refresh = bound.refresh_token().unwrap().secret().clone();

    // The owner turns the policy on; a child inherits it.
    let patched = app
        .api(Method::PATCH, &format!("/v1/accounts/{account}"), &token)
        .json(&json!({"settings": {"require_mfa": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(
        patched.json::<Value>().await.unwrap()["settings"]["require_mfa"],
        true
    );
    let child = app
        .api(Method::POST, "/v1/accounts", &token)
        .json(&json!({"name": "Child", "parent_id": account}))
        .send()
        .await
        .unwrap();
    assert_eq!(child.status(), 201);
    let child = child.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A password-only login gets no account token, by either form.
    for target in [&account, &child] {
        let refused = exchange(&app, &rp, &token, target).await;
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_user_authentication", "{body}");
    }
    let rest = app
        .api(Method::POST, "/v1/auth/account-token", &token)
        .json(&json!({"account_id": child}))
        .send()
        .await
        .unwrap();
    expect_problem(rest, 403, "mfa_required").await;
    // Nor does a family bound to the account from a password-only login refresh any more.
    let refreshed = rp.refresh(&bound_refresh).await;
    assert!(
        refreshed
            .as_ref()
            .is_err_and(|error| error.contains("invalid_grant")),
        "{refreshed:?}"
    );

    // Members lists say who has a factor.
    assert_eq!(admin_mfa(&app, &token, &account).await, false);
    let (_, _, recovery_codes) = enrol(&app, &token).await;
    assert_eq!(admin_mfa(&app, &token, &account).await, true);

    // Authorize with the account asks for the second factor, then the tokens may be traded.
    let (url, _, verifier) = rp.authorize_url(&scopes, &[("account_id", &account)]);
    let step_up = app.http.get(&url).send().await.unwrap();
    let next = location(&step_up);
    assert!(next.starts_with("/login/mfa?return_to="), "{next}");
    let passed = submit(
        &app,
        &app.http,
        &next,
        "/login/mfa",
        &[("code", &recovery_codes[0])],
    )
    .await;
    let back = app.get(&location(&passed)).await;
    let code = query(&location(&back))["code"].clone();
    let strong = rp.exchange(&code, verifier).await.unwrap();
    let strong = strong.access_token().secret().clone();
    let claims = verify(&app, &strong, "at+jwt", &rp.registered.client_id).await;
    assert_eq!(claims["acc"], account.as_str());
    let traded = exchange(&app, &rp, &strong, &child).await;
    assert_eq!(traded.status(), 200, "{:?}", traded.text().await);
}

/// The `mfa` flag of the only member of `account` (the admin).
async fn admin_mfa(app: &TestApp, token: &str, account: &str) -> Value {
    let members: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{account}/members"),
            token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    members["data"][0]["mfa"].clone()
}

/// The text of the first `<code>` after `marker` in `html`.
fn code_after<'a>(html: &'a str, marker: &str) -> &'a str {
    let rest = &html[html.find(marker).unwrap()..];
    let start = rest.find("<code>").unwrap() + "<code>".len();
    let end = rest[start..].find("</code>").unwrap();
    &rest[start..start + end]
}

#[tokio::test]
async fn the_security_page_enrols_an_app_shows_recovery_codes_once_and_removes_it() {
    let app = TestApp::spawn().await;
    assert_eq!(app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 303);
    let page = app.get("/account/security").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Off: signing in needs only your password."),
        "{html}"
    );

    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let enrolment = app
        .post_form(
            "/account/security/totp",
            &[("csrf_token", &csrf), ("name", "Phone")],
        )
        .await;
    assert_eq!(enrolment.status(), 200);
    let html = enrolment.text().await.unwrap();
    assert!(html.contains("<svg"), "the QR code is inline SVG");
    crate::login::assert_accessible("/account/security (enrolment)", &html);
    let secret = code_after(&html, "Key:").to_owned();
    let factor_id = hidden_input(&html, "factor_id").unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();

    let verified = app
        .post_form(
            "/account/security/totp/verify",
            &[
                ("csrf_token", &csrf),
                ("factor_id", &factor_id),
                ("code", &totp_now(&secret)),
            ],
        )
        .await;
    assert_eq!(verified.status(), 200);
    let html = verified.text().await.unwrap();
    assert_eq!(
        html.matches("<li><code>").count(),
        10,
        "ten recovery codes, once"
    );
    crate::login::assert_accessible("/account/security (codes)", &html);
    let listed = app.get("/account/security").await.text().await.unwrap();
    assert!(listed.contains("Phone (on,"), "{listed}");
    assert!(
        !listed.contains("<li><code>"),
        "the codes are not shown again"
    );

    let csrf = hidden_input(&listed, "csrf_token").unwrap();
    let removed = app
        .post_form(
            &format!("/account/security/factors/{factor_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(removed.status(), 303);
    let after = app.get(&location(&removed)).await.text().await.unwrap();
    assert!(after.contains("The factor is removed."), "{after}");
    assert!(
        after.contains("Off: signing in needs only your password."),
        "{after}"
    );

    let forged = app
        .post_form(
            "/account/security/recovery-codes",
            &[("csrf_token", "wrong")],
        )
        .await;
    assert_eq!(forged.status(), 403, "CSRF");
}

#[tokio::test]
async fn a_step_up_without_a_factor_enrols_one_first_and_comes_back() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let scopes = ["openid"];
    log_in_through_code_flow(&app, &rp, &scopes, &[]).await;

    let (url, _, verifier) = rp.authorize_url(&scopes, &[("acr_values", "urn:tessera:acr:mfa")]);
    let asked = app.http.get(&url).send().await.unwrap();
    let next = location(&asked);
    assert!(next.starts_with("/account/security?return_to="), "{next}");
    let html = app.get(&next).await.text().await.unwrap();
    assert!(html.contains("asks for two-step verification"), "{html}");
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let back = hidden_input(&html, "return_to").unwrap();
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");

    let enrolment = app
        .post_form(
            "/account/security/totp",
            &[("csrf_token", &csrf), ("return_to", &back)],
        )
        .await
        .text()
        .await
        .unwrap();
    let secret = code_after(&enrolment, "Key:").to_owned();
    let factor_id = hidden_input(&enrolment, "factor_id").unwrap();
    let verified = app
        .post_form(
            "/account/security/totp/verify",
            &[
                ("csrf_token", &csrf),
                ("factor_id", &factor_id),
                ("code", &totp_now(&secret)),
                ("return_to", &back),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(verified.matches("<li><code>").count(), 10);
    assert!(verified.contains("continue</a>"), "{verified}");

    // Back to the authorization request: the session proved the factor, a code follows.
    let returned = app.get(&back.replace("&amp;", "&")).await;
    let code = query(&location(&returned))["code"].clone();
    let tokens = rp.exchange(&code, verifier).await.unwrap();
    let claims = verify(
        &app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["acr"], "urn:tessera:acr:mfa");
}

#[tokio::test]
async fn only_an_owner_sets_require_mfa_and_an_account_token_manages_no_factor() {
    let app = TestApp::spawn().await;
    let team = app.team("policy").await;
    // An account token from before the policy (after it, none would be issued).
    let scoped: Value = app
        .api(Method::POST, "/v1/auth/account-token", &team.member.token)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = scoped["access_token"].as_str().unwrap();
    let path = format!("/v1/accounts/{}", team.account);
    let on = json!({"settings": {"require_mfa": true}});
    let by_admin = app
        .api(Method::PATCH, &path, &team.admin.token)
        .json(&on)
        .send()
        .await
        .unwrap();
    expect_problem(by_admin, 403, "forbidden").await;
    let by_owner = app
        .api(Method::PATCH, &path, &team.owner.token)
        .json(&on)
        .send()
        .await
        .unwrap();
    assert_eq!(by_owner.status(), 200);
    let unknown = app
        .api(Method::PATCH, &path, &team.owner.token)
        .json(&json!({"settings": {"require_mfa": true, "other": 1}}))
        .send()
        .await
        .unwrap();
    expect_problem(unknown, 400, "validation_failed").await;

    // A token handed to an app for one account does not change how the person signs in.

    let enrol = app
        .api(Method::POST, "/v1/me/factors/totp", scoped)
        .send()
        .await
        .unwrap();
    expect_problem(enrol, 403, "forbidden").await;
}

/// The load benchmark seeds its login pools below HTTP (`kit::members`): its members must
/// sign in through the hosted pages as enrolled users do, or the bench measures refusals.
#[tokio::test]
async fn members_seeded_by_the_kit_sign_in_with_their_password_and_totp_code() {
    let app = TestApp::spawn().await;
    let (store, password) = (&app.state.store, "seeded-password-1");
    let account = crate::kit::first_account(store).await;
    let hash = app.state.hasher.hash(password.into()).await.unwrap();
    let kek = app.state.keys.key_encryption_key();
    let seed = |prefix, totp| crate::kit::members(store, &account, prefix, 1, &hash, totp);
    let plain = seed("seeded-plain-", None).await.remove(0);
    let with_totp = seed("seeded-totp-", Some(kek)).await.remove(0);
    assert!(plain.totp_secret.is_none());

    let app = &app;
    let log_in = |email: String| async move {
        let browser = new_browser();
        let fields = [("email", email.as_str()), ("password", password)];
        let login = submit(
            app,
            &browser,
            "/login?return_to=/account",
            "/login",
            &fields,
        )
        .await;
        assert_eq!(login.status(), 303);
        (browser, location(&login))
    };
    let (_, next) = log_in(plain.email).await;
    assert_eq!(next, "/account");
    let (browser, next) = log_in(with_totp.email).await;
    assert!(next.starts_with("/login/mfa?"), "{next}");
    let secret = Secret::Raw(with_totp.totp_secret.unwrap())
        .to_encoded()
        .to_string();
    let code = totp_now(&secret);
    let passed = submit(app, &browser, &next, "/login/mfa", &[("code", &code)]).await;
    assert_eq!(passed.status(), 303);
    assert_eq!(location(&passed), "/account");
}
