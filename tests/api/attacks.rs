//! The attacks of the security review (issue 9, SECURITY.md), one test each, through HTTP:
//! another tenant, a third-party client, the thief of one token. Each failed before its fix.

use oauth2::TokenResponse;
use reqwest::Method;
use serde_json::{Value, json};

use crate::account_switch::refresh_as;
use crate::admin::superadmin;
use crate::authorization_code::{Rp, browse_to_callback, log_in_through_code_flow, query};
use crate::clients::create_client;
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp, TestUser, expect_problem, set_refresh_grace,
};
use crate::login::{link_in_last_email, signed_in_as};
use crate::roles::{bearer, define_role, holder, roles_path};
use tessera::ids::ClientId;

const EVIL_CALLBACK: &str = "https://evil.example.com/callback";

/// A client a tenant admin registers through REST, asking for everything.
fn tenant_client() -> Value {
    json!({
        "name": "Totally legit app",
        "redirect_uris": [EVIL_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "email", "tessera:manage"],
    })
}

/// `/oauth2/authorize` for `client_id` with PKCE and `extra` parameters, as a path.
fn authorize_path(client_id: &str, extra: &str) -> String {
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let redirect: String = url::form_urlencoded::byte_serialize(EVIL_CALLBACK.as_bytes()).collect();
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect}\
         &scope=openid%20tessera%3Amanage&state=s1&code_challenge={}\
         &code_challenge_method=S256{extra}",
        challenge.as_str()
    )
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_tenants_client_gets_no_silent_code_for_a_user_outside_its_account() {
    let app = TestApp::spawn().await;
    let team = app.team("evil").await;
    let client = create_client(&app, &team.admin, &team.account, &tenant_client()).await;
    assert_eq!(client["first_party"], false);
    let client_id = client["client_id"].as_str().unwrap();
    // The victim is the superadmin, signed in to Tessera in this browser.
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let silent = app.get(&authorize_path(client_id, "&prompt=none")).await;
    assert_eq!(silent.status(), 303);
    let answer = query(&location(&silent));
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("consent_required")
    );
    assert!(!answer.contains_key("code"), "{answer:?}");

    let asked = app.get(&authorize_path(client_id, "")).await;
    assert_eq!(asked.status(), 200, "the consent page");
    let html = asked.text().await.unwrap();
    assert!(html.contains("Totally legit app") && html.contains(">Allow</button>"));
    assert!(html.contains("Manage your accounts"), "{html}");
}

#[tokio::test]
async fn a_client_of_the_users_own_account_needs_no_consent() {
    let app = TestApp::spawn().await;
    let owner = app
        .user_with("own@example.com", Some("a-good-long-password"))
        .await;
    let account = app.create_account(&owner, json!({"name": "Own"})).await;
    let account = account["id"].as_str().unwrap();
    let child = app
        .create_account(&owner, json!({"name": "Child", "parent_id": account}))
        .await;
    let child = child["id"].as_str().unwrap();
    // A client of a descendant account: the user belongs to it through the parent.
    let client = create_client(&app, &owner, child, &tenant_client()).await;
    app.log_in("own@example.com", "a-good-long-password").await;

    let silent = app
        .get(&authorize_path(
            client["client_id"].as_str().unwrap(),
            "&prompt=none",
        ))
        .await;
    assert_eq!(silent.status(), 303);
    assert!(query(&location(&silent)).contains_key("code"));
}

#[tokio::test]
async fn only_a_superadmin_makes_a_client_first_party() {
    let app = TestApp::spawn().await;
    let team = app.team("fp").await;
    let mut body = tenant_client();
    body["first_party"] = json!(true);
    let refused = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/clients", team.account),
            &team.owner.token,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403, "forbidden").await;

    let client = create_client(&app, &team.owner, &team.account, &tenant_client()).await;
    let path = format!(
        "/v1/accounts/{}/clients/{}",
        team.account,
        client["client_id"].as_str().unwrap()
    );
    let patch = |token: &str| {
        app.api(Method::PATCH, &path, token)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"first_party": true}"#)
            .send()
    };
    expect_problem(patch(&team.owner.token).await.unwrap(), 403, "forbidden").await;

    let admin = superadmin(&app).await;
    let made = patch(&admin.token).await.unwrap();
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["first_party"], true);
    // The operator's trust reaches the authorize endpoint: no consent page now.
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let silent = app
        .get(&authorize_path(
            client["client_id"].as_str().unwrap(),
            "&prompt=none",
        ))
        .await;
    assert!(query(&location(&silent)).contains_key("code"));
}

async fn token_with_scope(app: &TestApp, user: &TestUser, scope: &str) -> String {
    app.login_token(&user.id, scope).await
}

#[tokio::test]
async fn a_sign_in_token_without_tessera_manage_cannot_manage() {
    let app = TestApp::spawn().await;
    let team = app.team("scope").await;
    // What a third-party app gets for "Sign in with Tessera".
    let sign_in = token_with_scope(&app, &team.owner, "openid email").await;
    for (method, path, body) in [
        (Method::GET, "/v1/me".to_owned(), None),
        (Method::GET, format!("/v1/accounts/{}", team.account), None),
        (
            Method::POST,
            format!("/v1/accounts/{}/api-keys", team.account),
            Some(json!({"name": "stolen", "role": "owner"})),
        ),
    ] {
        let mut request = app.api(method, &path, &sign_in);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"insufficient_scope\"",
            "{path}"
        );
        expect_problem(response, 403, "insufficient_scope").await;
    }

    // The account-token endpoint is the one exception; what it issues keeps the scope, so
    // it cannot manage either.
    let traded = app
        .api(Method::POST, "/v1/auth/account-token", &sign_in)
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap();
    assert_eq!(traded.status(), 200);
    let traded: Value = traded.json().await.unwrap();
    let account_token = traded["access_token"].as_str().unwrap();
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}", team.account),
            account_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "insufficient_scope").await;

    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("tessera:manage"))
    );
}

/// The RFC 8693 grant at the token endpoint, as the login client.
pub async fn exchange(
    app: &TestApp,
    subject: &str,
    account: &str,
    extra: &[(&str, &str)],
) -> Value {
    let client = app.login_client().await;
    let mut form = vec![
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
    ];
    form.extend_from_slice(extra);
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body["status"] = json!(status);
    body
}

/// The claims of a JWT, unverified (the tests that verify signatures are elsewhere).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_account_token_cannot_be_exchanged_for_another_account_or_a_higher_role() {
    let app = TestApp::spawn().await;
    let team = app.team("bound").await;
    // The admin of A also owns a child of A and an unrelated account B.
    let child = app
        .create_account(
            &team.admin,
            json!({"name": "Child", "parent_id": team.account}),
        )
        .await;
    let child = child["id"].as_str().unwrap();
    let unrelated = app
        .create_account(&team.admin, json!({"name": "Unrelated"}))
        .await;
    let unrelated = unrelated["id"].as_str().unwrap();
    let for_a = crate::account_tokens::account_token(
        &app,
        &team.admin,
        json!({"account_id": team.account}),
    )
    .await;
    let for_a: Value = for_a.json().await.unwrap();
    let for_a = for_a["access_token"].as_str().unwrap().to_owned();

    let sideways = exchange(&app, &for_a, unrelated, &[]).await;
    assert_eq!(sideways["status"], 400, "{sideways}");
    assert_eq!(sideways["error"], "invalid_target");
    let holder = TestUser {
        token: for_a.clone(),
        ..team.admin.clone()
    };
    let rest =
        crate::account_tokens::account_token(&app, &holder, json!({"account_id": unrelated})).await;
    expect_problem(rest, 404, "not_found").await;

    // Down into the child: allowed, but as admin (the subject's role), not owner.
    let down = exchange(&app, &for_a, child, &[]).await;
    assert_eq!(down["status"], 200, "{down}");
    let down_claims = claims(down["access_token"].as_str().unwrap());
    assert_eq!(down_claims["acc"], child);
    assert_eq!(down_claims["role"], "admin");
    let rest =
        crate::account_tokens::account_token(&app, &holder, json!({"account_id": child})).await;
    let rest: Value = rest.json().await.unwrap();
    assert_eq!(rest["role"], "admin");
}

#[tokio::test]
async fn an_exchange_cannot_address_another_clients_audience() {
    let app = TestApp::spawn().await;
    let team = app.team("aud").await;
    let other = create_client(&app, &team.admin, &team.account, &tenant_client()).await;
    let other_id = other["client_id"].as_str().unwrap();
    let login_client = app.login_client().await;

    let foreign = exchange(
        &app,
        &team.member.token,
        &team.account,
        &[("audience", other_id)],
    )
    .await;
    assert_eq!(foreign["status"], 400, "{foreign}");
    assert_eq!(foreign["error"], "invalid_target");
    let rest = crate::account_tokens::account_token(
        &app,
        &team.member,
        json!({"account_id": team.account, "audience": other_id}),
    )
    .await;
    let problem = expect_problem(rest, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "audience");

    let own = exchange(
        &app,
        &team.member.token,
        &team.account,
        &[("audience", login_client.client_id.as_str())],
    )
    .await;
    assert_eq!(own["status"], 200, "{own}");
    let own_claims = claims(own["access_token"].as_str().unwrap());
    assert_eq!(own_claims["aud"], login_client.client_id.as_str());
    assert_eq!(own_claims["azp"], login_client.client_id.as_str());

    crate::account_tokens::allow_audience(&app, other_id).await;
    let listed = exchange(
        &app,
        &team.member.token,
        &team.account,
        &[("audience", other_id)],
    )
    .await;
    assert_eq!(listed["status"], 200, "a registered audience: {listed}");
    assert_eq!(
        claims(listed["access_token"].as_str().unwrap())["aud"],
        other_id
    );
}

/// What a thief holds after one code flow of the admin's: an access token, a refresh token,
/// and (in `app`'s cookie jar) the browser session.
async fn stolen_credentials(deployment: &Deployment, app: &TestApp) -> (Rp, String, String) {
    let rp = Rp::register(deployment, app, &[]).await;
    let tokens = log_in_through_code_flow(
        app,
        &rp,
        &["openid", "offline_access", "tessera:manage"],
        &[],
    )
    .await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    (rp, access, refresh)
}

async fn assert_all_revoked(app: &TestApp, rp: &Rp, access: &str, refresh: &str) {
    let me = app.api(Method::GET, "/v1/me", access).send().await.unwrap();
    expect_problem(me, 401, "invalid_token").await;
    assert!(
        rp.refresh(refresh).await.is_err(),
        "the refresh token is dead"
    );
    assert_eq!(signed_in_as(app).await, None, "the session ended");
}

#[tokio::test]
async fn a_password_change_revokes_every_earlier_token_and_session() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let (rp, access, refresh) = stolen_credentials(&deployment, &app).await;
    // The owner, elsewhere, changes the password with a fresh token of theirs.
    let owner_token = superadmin(&app).await.token;
    let changed = app
        .api(Method::PATCH, "/v1/me", &owner_token)
        .json(&json!({"password": "a brand new passphrase", "current_password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_all_revoked(&app, &rp, &access, &refresh).await;
    expect_problem(
        app.api(Method::GET, "/v1/me", &owner_token)
            .send()
            .await
            .unwrap(),
        401,
        "invalid_token",
    )
    .await;
    // What is issued after the change stands.
    let fresh = superadmin(&app).await.token;
    let me = app.api(Method::GET, "/v1/me", &fresh).send().await.unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn a_password_reset_revokes_every_earlier_token_and_session() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let (rp, access, refresh) = stolen_credentials(&deployment, &app).await;
    let owner = TestApp::start(app.state.config.as_ref().clone()).await;
    owner
        .submit_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", ADMIN_EMAIL)],
        )
        .await;
    let link = link_in_last_email(&owner, ADMIN_EMAIL).await;
    let reset = owner
        .submit_form(
            &link,
            "/reset-password",
            &[("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_all_revoked(&app, &rp, &access, &refresh).await;
}

#[tokio::test]
async fn an_account_token_cannot_change_the_users_password_or_profile() {
    let app = TestApp::spawn().await;
    let team = app.team("me").await;
    let scoped = crate::account_tokens::account_token(
        &app,
        &team.owner,
        json!({"account_id": team.account}),
    )
    .await;
    let scoped: Value = scoped.json().await.unwrap();
    let response = app
        .api(
            Method::PATCH,
            "/v1/me",
            scoped["access_token"].as_str().unwrap(),
        )
        .json(&json!({"name": "Taken over"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn an_unverified_user_gets_no_refresh_token_and_founds_no_account() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let signup = app
        .submit_form(
            "/signup",
            "/signup",
            &[
                ("email", "squatter@example.com"),
                ("password", "a-long-enough-passphrase"),
                ("name", "Squatter"),
            ],
        )
        .await;
    assert_eq!(signup.status(), 303);
    let (url, _, verifier) = rp.authorize_url(&["openid", "offline_access", "tessera:manage"], &[]);
    let location = crate::authorization_code::browse_to_callback(
        &app,
        &url,
        "squatter@example.com",
        "a-long-enough-passphrase",
    )
    .await;
    let tokens = rp
        .exchange(&query(&location)["code"], verifier)
        .await
        .unwrap();
    assert!(tokens.refresh_token().is_none());
    let response = app
        .api(Method::POST, "/v1/accounts", tokens.access_token().secret())
        .json(&json!({"name": "Example Corp"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "email_unverified").await;
}

#[tokio::test]
async fn logout_without_the_clients_id_token_redirects_nowhere() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(
        &deployment,
        &app,
        &["--post-logout-redirect-uri", "https://app.example.com/bye"],
    )
    .await;
    // An anonymous page links a victim here; no session, no hint: an open redirect before.
    let path = format!(
        "/oauth2/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye",
        rp.registered.client_id
    );
    let response = app.get(&path).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(
        html.contains("href=\"https://app.example.com/bye\""),
        "{html}"
    );

    // A hint of another client's does not vouch for this one.
    let other = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &other, &["openid"], &[]).await;
    let hint = tokens.extra_fields().id_token.clone().unwrap();
    let mixed = app.get(&format!("{path}&id_token_hint={hint}")).await;
    assert_eq!(mixed.status(), 400, "client_id and the hint's aud disagree");
}

async fn set_grace(app: &TestApp, rp: &Rp, seconds: i64) {
    let client_id = ClientId::parse(&rp.registered.client_id).unwrap();
    set_refresh_grace(app, &client_id, seconds).await;
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> u16 {
    app.http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_refresh_retry_replaces_the_pair_it_produced_instead_of_forking_the_family() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    set_grace(&app, &rp, 30).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let t0 = tokens.refresh_token().unwrap().secret().clone();
    let first = rp.refresh(&t0).await.unwrap();
    assert_eq!(
        userinfo_status(&app, first.access_token().secret()).await,
        200
    );

    let retry = rp
        .refresh(&t0)
        .await
        .expect("a retry within the grace period");
    assert_eq!(
        userinfo_status(&app, first.access_token().secret()).await,
        401,
        "the pair the retried token produced is revoked"
    );
    assert_eq!(
        userinfo_status(&app, retry.access_token().secret()).await,
        200
    );
    let next = rp
        .refresh(retry.refresh_token().unwrap().secret())
        .await
        .expect("the one live chain goes on");
    assert!(
        rp.refresh(first.refresh_token().unwrap().secret())
            .await
            .is_err(),
        "the replaced refresh token is dead"
    );
    // Presenting a replaced token is reuse: the family is gone.
    assert!(
        rp.refresh(next.refresh_token().unwrap().secret())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_older_spent_refresh_token_within_the_grace_period_is_reuse() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    set_grace(&app, &rp, 30).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let t0 = tokens.refresh_token().unwrap().secret().clone();
    let first = rp.refresh(&t0).await.unwrap();
    let second = rp
        .refresh(first.refresh_token().unwrap().secret())
        .await
        .unwrap();
    // t0 is no longer the latest spent token: a thief replaying it gets nothing, and the
    // family dies with it.
    assert!(rp.refresh(&t0).await.is_err());
    assert!(
        rp.refresh(second.refresh_token().unwrap().secret())
            .await
            .is_err()
    );
    assert_eq!(
        userinfo_status(&app, second.access_token().secret()).await,
        401
    );
}

#[tokio::test]
async fn twenty_parallel_refreshes_of_one_token_give_one_pair_and_revoke_the_family() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let t0 = tokens.refresh_token().unwrap().secret().clone();
    let attempts = (0..20).map(|_| rp.refresh(&t0));
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    // The other 19 were reuse: the family, the winner's pair included, is revoked.
    let winner = winners[0];
    assert!(
        rp.refresh(winner.refresh_token().unwrap().secret())
            .await
            .is_err()
    );
    assert_eq!(
        userinfo_status(&app, winner.access_token().secret()).await,
        401
    );
}

#[tokio::test]
async fn a_refresh_cannot_switch_into_an_account_the_user_is_not_a_member_of() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let victim = rp.registered.account_id.clone();
    // Mallory signs in to an account of her own through the victim's first-party client.
    let mallory = app
        .user_with("mallory@example.com", Some("mallory-password-1"))
        .await;
    let hers = app
        .create_account(&mallory, json!({"name": "Mallory's"}))
        .await;
    let hers = hers["id"].as_str().unwrap();
    let (url, _, verifier) = rp.authorize_url(&["openid"], &[("account_id", hers)]);
    let location = browse_to_callback(&app, &url, &mallory.email, "mallory-password-1").await;
    let tokens = rp
        .exchange(&query(&location)["code"], verifier)
        .await
        .unwrap();
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    let (status, body) = refresh_as(&app, &rp, &refresh, Some(&victim)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_target");
    assert!(body.get("access_token").is_none());
    // Nor was her family moved: it still refreshes into her own account only.
    let (status, body) = refresh_as(&app, &rp, &refresh, None).await;
    assert_eq!(status, 200, "{body}");
    let claims = crate::authorization_code::verify(
        &app,
        body["access_token"].as_str().unwrap(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["acc"], hers);
}

#[tokio::test]
async fn prompt_login_keeps_the_session_until_a_new_login_and_demands_one() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "login")]);
    let sent = app.http.get(&url).send().await.unwrap();
    assert_eq!(sent.status(), 303);
    let login = location(&sent);
    assert!(login.starts_with("/login?return_to="), "{login}");
    // A page that merely sends the user here no longer signs them out.
    assert!(signed_in_as(&app).await.is_some());

    // Going back without signing in again gets no code.
    let return_to = url::Url::parse(&app.url(&login))
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "return_to")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let skipped = app.get(&return_to).await;
    assert_eq!(skipped.status(), 303);
    assert!(
        location(&skipped).starts_with("/login?"),
        "{}",
        location(&skipped)
    );

    assert_eq!(app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 303);
    let back = app.get(&return_to).await;
    assert!(query(&location(&back)).contains_key("code"));
}

#[tokio::test]
async fn a_session_ends_fourteen_days_after_its_sign_in_however_busy() {
    let app = TestApp::spawn().await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(signed_in_as(&app).await.is_some());
    // Every session row's sign-in moved 15 days back, as if used daily since then.
    let rows: Vec<(String, String)> = sqlx::query_as("select id, data from sessions")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    for (id, data) in rows {
        let mut data: Value = serde_json::from_str(&data).unwrap();
        if let Some(auth_time) = data["user"]["auth_time"].as_i64() {
            data["user"]["auth_time"] = json!(auth_time - 15 * 86_400);
        }
        sqlx::query("update sessions set data = $1 where id = $2")
            .bind(data.to_string())
            .bind(id)
            .execute(app.state.store.pool())
            .await
            .unwrap();
    }
    assert_eq!(signed_in_as(&app).await, None);
}

/// The members path of `account`, or of one member in it.
fn members_path(account: &str, user: Option<&TestUser>) -> String {
    let one = user.map_or(String::new(), |user| format!("/{}", user.id));
    format!("/v1/accounts/{account}/members{one}")
}

#[tokio::test]
async fn a_member_managing_role_hands_out_and_takes_away_no_more_than_it_has() {
    let app = TestApp::spawn().await;
    let team = app.team("people").await;
    let manages = ["account:read", "members:read", "members:write"];
    define_role(&app, &team.owner, &team.account, "people", &manages).await;
    let bigger = [
        "account:read",
        "members:read",
        "members:write",
        "clients:read",
    ];
    define_role(&app, &team.owner, &team.account, "bigger", &bigger).await;
    let manager = holder(&app, &team.owner, &team.account, "manager", "people").await;
    let manager = bearer(&app, &manager.token);
    let newcomer = app.user("newcomer@example.com").await;
    let members = members_path(&team.account, None);
    for role in ["owner", "admin", "member", "bigger"] {
        let body = json!({"user_id": newcomer.id, "role": role});
        manager
            .refused(Method::POST, &members, body, 403, "forbidden")
            .await;
    }
    let admin = members_path(&team.account, Some(&team.admin));
    let viewer = members_path(&team.account, Some(&team.viewer));
    for (path, role) in [(&admin, "viewer"), (&viewer, "admin"), (&viewer, "bigger")] {
        manager
            .refused(Method::PATCH, path, json!({"role": role}), 403, "forbidden")
            .await;
    }
    manager
        .refused(Method::DELETE, &admin, Value::Null, 403, "forbidden")
        .await;

    // What it holds itself, it hands out and takes back.
    let body = json!({"user_id": newcomer.id, "role": "viewer"});
    manager.expect(Method::POST, &members, body, 201).await;
    manager
        .expect(Method::DELETE, &viewer, Value::Null, 204)
        .await;
    let admin = bearer(&app, &team.owner.token).read(&admin).await;
    assert_eq!(admin["role"], "admin");
}

#[tokio::test]
async fn a_role_writer_cannot_define_or_widen_a_role_beyond_its_own() {
    let app = TestApp::spawn().await;
    let team = app.team("smith").await;
    let path = roles_path(&team.account);
    let writes = ["account:read", "roles:write"];
    define_role(&app, &team.owner, &team.account, "smith", &writes).await;
    define_role(&app, &team.owner, &team.account, "ops", &["clients:write"]).await;
    let smith = holder(&app, &team.owner, &team.account, "smith", "smith").await;
    let smith = bearer(&app, &smith.token);
    let body = json!({"id": "gate", "name": "Gate", "permissions": ["members:write"]});
    smith
        .refused(Method::POST, &path, body, 403, "forbidden")
        .await;
    let widen = json!({"permissions": ["account:read", "roles:write", "members:write"]});
    let own = format!("{path}/smith");
    smith
        .refused(Method::PATCH, &own, widen, 403, "forbidden")
        .await;
    // Nor may it rewrite a role that allows more than it does, even to less.
    let narrow = json!({"permissions": ["account:read"]});
    smith
        .refused(
            Method::PATCH,
            &format!("{path}/ops"),
            narrow,
            403,
            "forbidden",
        )
        .await;
    let own = bearer(&app, &team.owner.token).read(&own).await;
    assert_eq!(own["permissions"], json!(writes));
    // Within its own permissions it works.
    let body = json!({"id": "reader", "name": "Reader", "permissions": ["account:read"]});
    smith.expect(Method::POST, &path, body, 201).await;
}

#[tokio::test]
async fn an_api_key_with_a_custom_role_does_what_it_allows_and_mints_no_wider_key() {
    let app = TestApp::spawn().await;
    let team = app.team("keyrole").await;
    let allows = ["account:read", "clients:read", "api_keys:write"];
    define_role(&app, &team.owner, &team.account, "keyops", &allows).await;
    let key = crate::api_keys::create_key(&app, &team.owner, &team.account, "keyops").await;
    let key = bearer(&app, key["token"].as_str().unwrap());
    let account = format!("/v1/accounts/{}", team.account);
    let keys = format!("{account}/api-keys");
    for (method, path, body, expected) in [
        (Method::GET, account.clone(), Value::Null, 200),
        (Method::GET, format!("{account}/clients"), Value::Null, 200),
        (Method::GET, keys.clone(), Value::Null, 200),
        (
            Method::POST,
            format!("{account}/clients"),
            crate::clients::confidential(),
            403,
        ),
        (
            Method::GET,
            members_path(&team.account, None),
            Value::Null,
            403,
        ),
        (
            Method::GET,
            format!("{account}/audit-logs"),
            Value::Null,
            403,
        ),
        (
            Method::PATCH,
            account.clone(),
            json!({"name": "Key's"}),
            403,
        ),
        (Method::GET, roles_path(&team.account), Value::Null, 403),
    ] {
        let got = key.status(method.clone(), &path, body).await;
        assert_eq!(got, expected, "{method} {path}");
    }
    // A key, or a user holding its role, mints keys of that role at most.
    let keyholder = holder(&app, &team.owner, &team.account, "keyholder", "keyops").await;
    for minter in [key, bearer(&app, &keyholder.token)] {
        for role in ["owner", "admin", "viewer"] {
            let body = json!({"name": "Wider", "role": role});
            minter
                .refused(Method::POST, &keys, body, 403, "forbidden")
                .await;
        }
        let body = json!({"name": "Same", "role": "keyops"});
        minter.expect(Method::POST, &keys, body, 201).await;
    }
    // Nor does it take a wider key's secret by rolling it.
    let admin_key = crate::api_keys::create_key(&app, &team.owner, &team.account, "admin").await;
    let roll = format!("{keys}/{}/roll", admin_key["id"].as_str().unwrap());
    key.refused(Method::POST, &roll, Value::Null, 403, "forbidden")
        .await;
}

#[tokio::test]
async fn a_webhook_delivers_no_audit_log_its_writer_may_not_read() {
    let app = TestApp::spawn_with(|config| config.webhook_block_private = false).await;
    let team = app.team("tap").await;
    let hooks = ["account:read", "webhooks:write"];
    define_role(&app, &team.owner, &team.account, "hooks", &hooks).await;
    let reads = ["account:read", "webhooks:write", "audit:read"];
    define_role(&app, &team.owner, &team.account, "hooks-audit", &reads).await;
    let blind = holder(&app, &team.owner, &team.account, "blind", "hooks").await;
    let reader = holder(&app, &team.owner, &team.account, "reader", "hooks-audit").await;
    let path = format!("/v1/accounts/{}/webhook", team.account);
    let url = "https://hooks.example.com/tessera";
    let own = json!({"url": url});
    let subtree = json!({"url": url, "include_descendants": true});
    bearer(&app, &blind.token)
        .refused(Method::PUT, &path, own.clone(), 403, "forbidden")
        .await;
    // Its audit log, but not the descendants' it has no relation to.
    let reader = bearer(&app, &reader.token);
    reader
        .refused(Method::PUT, &path, subtree.clone(), 403, "forbidden")
        .await;
    reader.expect(Method::PUT, &path, own, 201).await;
    let admin = bearer(&app, &team.admin.token);
    let replaced = admin.expect(Method::PUT, &path, subtree, 200).await;
    assert_eq!(replaced["include_descendants"], true);
}

#[tokio::test]
async fn an_account_writer_short_of_admin_founds_no_child_account() {
    // A child's creator owns it, and the child's clients skip the consent page of the
    // parent's members: founding one takes every permission of admin.
    let app = TestApp::spawn().await;
    let team = app.team("founders").await;
    let writes = [
        "account:read",
        "account:write",
        "members:read",
        "clients:write",
    ];
    define_role(&app, &team.owner, &team.account, "editor", &writes).await;
    let editor = holder(&app, &team.owner, &team.account, "editor", "editor").await;
    app.verify_email(&editor).await;
    let editor = bearer(&app, &editor.token);
    let children = format!("/v1/accounts/{}/children", team.account);
    editor
        .refused(
            Method::POST,
            &children,
            json!({"name": "Shadow"}),
            403,
            "forbidden",
        )
        .await;
    let body = json!({"name": "Shadow", "parent_id": team.account});
    editor
        .refused(Method::POST, "/v1/accounts", body, 403, "forbidden")
        .await;
    // What account:write is for, it still does.
    let account = format!("/v1/accounts/{}", team.account);
    editor
        .expect(
            Method::PATCH,
            &account,
            json!({"name": "Founders Ltd"}),
            200,
        )
        .await;
    // An admin founds one, as before.
    bearer(&app, &team.admin.token)
        .expect(Method::POST, &children, json!({"name": "Branch"}), 201)
        .await;
}

/// A token of ours under another algorithm than its key's (API.md §14): an ES256 token
/// re-headed as RS256 (under its own kid or the RSA key's), HS256 keyed with the EC key's
/// published bytes, `none`. Each is 401 on `/v1` and inactive at introspection.
#[tokio::test]
async fn a_token_cannot_choose_another_algorithm_than_its_keys() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let app = TestApp::spawn_with(|config| {
        config.signing_alg = tessera::keys::SigningAlg::Es256;
    })
    .await;
    // Both algorithms in use: the RSA key is published too.
    let rsa = app
        .state
        .keys
        .signing_key_for(&app.state.store, Some(tessera::keys::SigningAlg::Rs256))
        .await
        .unwrap();
    let admin = superadmin(&app).await;
    let client = app.login_client().await;
    let introspect = |token: String| {
        let request = app
            .http
            .post(app.url("/oauth2/introspect"))
            .basic_auth(client.client_id.as_str(), Some(&client.secret))
            .form(&[("token", token)]);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["active"].as_bool().unwrap()
        }
    };
    let me = |token: String| {
        let request = app.api(Method::GET, "/v1/me", &token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(admin.token.clone()).await, 200);
    assert!(introspect(admin.token.clone()).await);

    let parts: Vec<&str> = admin.token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let es_kid = header["kid"].as_str().unwrap();
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let reheaded = |alg: &str, kid: &str| {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        format!("{}.{}.{}", encode(&header), parts[1], parts[2])
    };
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let es_jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == es_kid)
        .unwrap()
        .clone();
    let hmac = |secret: &[u8]| {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": es_kid});
        let input = format!("{}.{}", encode(&header), parts[1]);
        let signature = hs256(secret, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let forged = [
        reheaded("RS256", es_kid),
        reheaded("RS256", rsa.kid()),
        reheaded("EdDSA", es_kid),
        hmac(es_jwk.to_string().as_bytes()),
        hmac(es_jwk["x"].as_str().unwrap().as_bytes()),
        format!(
            "{}.{}.",
            encode(&json!({"alg": "none", "typ": "at+jwt", "kid": es_kid})),
            parts[1]
        ),
    ];
    for token in forged {
        assert_eq!(me(token.clone()).await, 401, "{token}");
        assert!(!introspect(token.clone()).await, "{token}");
    }
}

/// HMAC-SHA256 (RFC 2104), for forging HS256 tokens.
fn hs256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}
