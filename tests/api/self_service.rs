//! A user's changes to itself: `POST /v1/me/email`, `DELETE /v1/me` and the hosted
//! `/account` page, each refused where the rules say so.

use oauth2::TokenResponse;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::clock;
use tessera::ids::{AccountId, UserId};
use tessera::oauth::claims::AccountRole;
use tessera::oauth::claims::{AccessTokenClaims, Subject};
use tessera::oauth::scope::Scope;
use tessera::role::{Builtin, RoleId};

use crate::authorization_code::{Rp, log_in_through_code_flow};
use crate::helpers::{Deployment, LOGIN_SCOPE, TestApp, TestUser, expect_problem, hidden_input};
use crate::login::{assert_accessible, signed_in_as};

const PASSWORD: &str = "a sturdy passphrase";

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The path and query of the last link mailed to `recipient` that contains `marker`.
async fn mailed_link(app: &TestApp, recipient: &str, marker: &str) -> String {
    let mails = app.emails_to(recipient).await;
    let mail = mails.last().expect("a mail");
    let start = mail.find(marker).expect("the link");
    let link: String = mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link
}

/// A token of `user` scoped to `account` (as token exchange would issue).
async fn account_token(app: &TestApp, user: &TestUser, account: &str) -> String {
    let client = app.login_client().await;
    let user_id = UserId::parse(&user.id).unwrap();
    let account_id = AccountId::parse(account).unwrap();
    let member = RoleId::from(Builtin::Member);
    let claims = AccessTokenClaims::new(
        app.state.issuer.as_str(),
        &client.client_id,
        Subject::User {
            user_id: &user_id,
            account: Some(AccountRole {
                account_id: &account_id,
                role: &member,
                permissions: Builtin::Member.permissions().ids(),
                inherited_from: None,
            }),
            grant_id: None,
        },
        &Scope::parse(LOGIN_SCOPE).unwrap(),
        None,
        900,
        clock::now(),
    );
    app.state.keys.sign_access_token(&claims).unwrap()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.api(Method::GET, "/v1/me", token).send().await.unwrap()
}

#[tokio::test]
async fn an_email_change_waits_for_the_link_mailed_to_the_new_address() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    app.verify_email(&ada).await;
    let change = |body: Value| {
        app.api(Method::POST, "/v1/me/email", &ada.token)
            .json(&body)
            .send()
    };

    let missing = change(json!({"email": "ada@new.example"})).await.unwrap();
    expect_problem(missing, 400, "validation_failed").await;
    let wrong = change(json!({"email": "ada@new.example", "current_password": "not it at all"}))
        .await
        .unwrap();
    let problem = expect_problem(wrong, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let invalid = change(json!({"email": "not an address", "current_password": PASSWORD}))
        .await
        .unwrap();
    expect_problem(invalid, 400, "validation_failed").await;
    assert!(app.emails_to("ada@new.example").await.is_empty());

    let started = change(json!({"email": "ada@new.example", "current_password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    // Nothing changes until the link is followed.
    let profile: Value = me(&app, &ada.token).await.json().await.unwrap();
    assert_eq!(profile["email"], "ada@example.com");

    let link = mailed_link(&app, "ada@new.example", "/confirm-email?token=").await;
    let confirmed = app.get(&link).await;
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("ada@new.example"));
    let profile: Value = me(&app, &ada.token).await.json().await.unwrap();
    assert_eq!(profile["email"], "ada@new.example");
    assert_eq!(profile["email_verified"], true);
    assert_eq!(app.get(&link).await.status(), 400, "single use");

    // A token for one account cannot move the person.
    let team = app.team("acme").await;
    let scoped = account_token(&app, &team.member, &team.account).await;
    let refused = app
        .api(Method::POST, "/v1/me/email", &scoped)
        .json(&json!({"email": "x@new.example", "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403, "forbidden").await;
}

#[tokio::test]
async fn an_address_another_user_has_is_email_taken_then_and_at_the_link() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    app.user("bob@example.com").await;
    let taken = app
        .api(Method::POST, "/v1/me/email", &ada.token)
        .json(&json!({"email": "BOB@example.com", "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(taken, 409, "email_taken").await;

    // Taken between the request and the link: the link changes nothing.
    let started = app
        .api(Method::POST, "/v1/me/email", &ada.token)
        .json(&json!({"email": "carol@example.com", "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    app.user("Carol@example.com").await;
    let link = mailed_link(&app, "carol@example.com", "/confirm-email?token=").await;
    assert_eq!(app.get(&link).await.status(), 409);
    let profile: Value = me(&app, &ada.token).await.json().await.unwrap();
    assert_eq!(profile["email"], "ada@example.com");
}

#[tokio::test]
async fn a_second_email_change_voids_the_first_link() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    for email in ["ada@typo.example", "ada@right.example"] {
        let started = app
            .api(Method::POST, "/v1/me/email", &ada.token)
            .json(&json!({"email": email, "current_password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202);
    }
    let first = mailed_link(&app, "ada@typo.example", "/confirm-email?token=").await;
    assert_eq!(app.get(&first).await.status(), 400);
    let second = mailed_link(&app, "ada@right.example", "/confirm-email?token=").await;
    assert_eq!(app.get(&second).await.status(), 200);
}

#[tokio::test]
async fn deleting_me_needs_a_recent_login_and_never_orphans_an_account() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let delete = |token: &str, body: Option<Value>| {
        let request = app.api(Method::DELETE, "/v1/me", token);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
    };

    // These tokens show no login (no grant behind them): the password must stand in.
    let no_proof = delete(&team.member.token, None).await.unwrap();
    expect_problem(no_proof, 403, "recent_login_required").await;
    let unknown = delete(&team.member.token, Some(json!({"password": "x"})))
        .await
        .unwrap();
    expect_problem(unknown, 400, "validation_failed").await;

    let owner = app.user_with("solo@example.com", Some(PASSWORD)).await;
    let account = app
        .create_account(&owner, json!({"name": "Solo Ltd"}))
        .await;
    let last_owner = delete(&owner.token, Some(json!({"current_password": PASSWORD})))
        .await
        .unwrap();
    expect_problem(last_owner, 409, "last_owner").await;
    assert_eq!(me(&app, &owner.token).await.status(), 200, "still there");

    let scoped = account_token(&app, &team.member, &team.account).await;
    let refused = delete(&scoped, Some(json!({"current_password": PASSWORD})))
        .await
        .unwrap();
    expect_problem(refused, 403, "forbidden").await;

    // A co-owner makes the owner free to go.
    let heir = app.user_with("heir@example.com", Some(PASSWORD)).await;
    app.verify_email(&heir).await;
    app.add_member(&owner, account["id"].as_str().unwrap(), &heir, "owner")
        .await;
    let wrong = delete(
        &owner.token,
        Some(json!({"current_password": "not it at all"})),
    )
    .await
    .unwrap();
    expect_problem(wrong, 400, "validation_failed").await;
    app.log_in("solo@example.com", PASSWORD).await;
    assert!(signed_in_as(&app).await.is_some());
    let deleted = delete(&owner.token, Some(json!({"current_password": PASSWORD})))
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    assert_eq!(me(&app, &owner.token).await.status(), 401);
    assert_eq!(signed_in_as(&app).await, None, "its sessions end");
    let members: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/members", account["id"].as_str().unwrap()),
            &heir.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members["data"].as_array().unwrap().len(), 1, "{members}");
    assert!(
        app.audit_actions(account["id"].as_str().unwrap())
            .await
            .contains(&"user.deleted".to_owned())
    );
    let login = app.log_in("solo@example.com", PASSWORD).await;
    assert_eq!(login.status(), 401);
}

#[tokio::test]
async fn a_login_within_ten_minutes_is_proof_enough_to_delete() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid", "tessera:manage"], &[]).await;
    let token = tokens.access_token().secret().clone();
    // The admin's login is fresh, so no password is asked: what stops it is the account.
    let response = app
        .api(Method::DELETE, "/v1/me", &token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "last_owner").await;
    // An hour later the same token no longer shows a recent login.
    sqlx::query("update grants set auth_time = auth_time - 3600")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let response = app
        .api(Method::DELETE, "/v1/me", &token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "recent_login_required").await;
}

/// Posts one form of the account page the way a browser does: its own fields and the
/// page's CSRF token (the page has several forms, each with a copy of it).
async fn post_account(app: &TestApp, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = app.get("/account").await.text().await.unwrap();
    let csrf = hidden_input(&page, "csrf_token").expect("a CSRF token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(action, &form).await
}

/// Signs a second, separate browser in.
async fn other_browser(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let login = browser
        .post(app.url("/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    browser
}

async fn signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    browser.get(app.url("/")).send().await.unwrap().status() == StatusCode::OK
}

#[tokio::test]
async fn the_account_page_changes_name_and_password_behind_csrf() {
    let app = TestApp::spawn().await;
    let anonymous = app.get("/account").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(location(&anonymous), "/login?return_to=%2Faccount");

    let team = app.team("acme").await;
    let ada = app.user_with("ada@example.com", Some(PASSWORD)).await;
    app.verify_email(&ada).await;
    app.add_member(&team.owner, &team.account, &ada, "member")
        .await;
    let other = app.team("globex").await;
    let invited = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", other.account),
            &other.owner.token,
        )
        .json(&json!({"email": "ADA@example.com", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 201);

    app.log_in("ada@example.com", PASSWORD).await;
    let page = app.get("/account").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert_accessible("/account", &html);
    assert!(html.contains("<title>Your account · Tessera</title>"));
    assert!(html.contains("<strong>acme Inc</strong>: member"), "{html}");
    assert!(
        html.contains("<strong>globex Inc</strong> as admin"),
        "{html}"
    );

    // CSRF on every form.
    for path in [
        "/account/name",
        "/account/email",
        "/account/password",
        "/account/delete",
    ] {
        let forged = app
            .post_form(
                path,
                &[
                    ("name", "Mallory"),
                    ("current_password", PASSWORD),
                    ("password", "another sturdy passphrase"),
                    ("email", "mallory@example.com"),
                ],
            )
            .await;
        assert_eq!(forged.status(), 403, "{path}");
    }
    let profile: Value = me(&app, &ada.token).await.json().await.unwrap();
    assert_eq!(profile["name"], "ada");

    let named = post_account(&app, "/account/name", &[("name", "Ada Lovelace")]).await;
    assert_eq!(named.status(), 303);
    assert_eq!(location(&named), "/account?done=name");
    let html = app.get("/account?done=name").await.text().await.unwrap();
    assert!(html.contains("value=\"Ada Lovelace\"") && html.contains("Your name is saved"));

    // The password: the current one is checked, the policy holds, other sessions end.
    let elsewhere = other_browser(&app, "ada@example.com", PASSWORD).await;
    let wrong = post_account(
        &app,
        "/account/password",
        &[
            ("current_password", "not it at all"),
            ("password", "another sturdy passphrase"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("not correct"));
    let weak = post_account(
        &app,
        "/account/password",
        &[("current_password", PASSWORD), ("password", "password")],
    )
    .await;
    assert_eq!(weak.status(), 400);
    assert!(weak.text().await.unwrap().contains("too common"));
    assert!(signed_in(&app, &elsewhere).await);
    let changed = post_account(
        &app,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", "another sturdy passphrase"),
        ],
    )
    .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(location(&changed), "/account?done=password");
    assert!(
        !signed_in(&app, &elsewhere).await,
        "the other session ended"
    );
    assert_eq!(me(&app, &ada.token).await.status(), 401, "tokens revoked");
    assert_eq!(
        signed_in_as(&app).await.as_deref(),
        Some("ada@example.com"),
        "this browser stays signed in"
    );
    assert_eq!(
        app.log_in("ada@example.com", PASSWORD).await.status(),
        401,
        "the old password is gone"
    );
}

#[tokio::test]
async fn the_account_page_changes_the_email_by_link_and_deletes_the_user() {
    let app = TestApp::spawn().await;
    let owner = app.user_with("owner@example.com", Some(PASSWORD)).await;
    app.create_account(&owner, json!({"name": "Solo Ltd"}))
        .await;
    app.user("taken@example.com").await;
    app.log_in("owner@example.com", PASSWORD).await;

    let taken = post_account(
        &app,
        "/account/email",
        &[
            ("email", "taken@example.com"),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(taken.status(), 409);
    let started = post_account(
        &app,
        "/account/email",
        &[("email", "new@example.com"), ("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(started.status(), 303);
    assert_eq!(location(&started), "/account?done=email");
    assert_eq!(
        signed_in_as(&app).await.as_deref(),
        Some("owner@example.com")
    );
    let link = mailed_link(&app, "new@example.com", "/confirm-email?token=").await;
    assert_eq!(app.get(&link).await.status(), 200);
    assert_eq!(signed_in_as(&app).await.as_deref(), Some("new@example.com"));

    // The last owner of an account cannot leave it ownerless.
    let refused = post_account(&app, "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("You are the last owner of Solo Ltd")
    );

    let member = app.user_with("member@example.com", Some(PASSWORD)).await;
    app.log_in("member@example.com", PASSWORD).await;
    let no_password = post_account(&app, "/account/delete", &[("current_password", "")]).await;
    assert_eq!(no_password.status(), 400);
    let deleted = post_account(&app, "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_eq!(deleted.status(), 200);
    assert!(deleted.text().await.unwrap().contains("deleted"));
    assert_eq!(signed_in_as(&app).await, None);
    assert_eq!(me(&app, &member.token).await.status(), 401);
}
