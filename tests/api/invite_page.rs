//! The hosted invitation page: a logged-out invitee signs up through it and accepts.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, attribute, hidden_input, tags};

async fn invite(app: &TestApp, email: &str) -> (String, String) {
    let team = app.team("acme").await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.admin.token,
        )
        .json(&json!({"email": email, "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let accept_url = body["accept_url"].as_str().unwrap().to_owned();
    (
        team.account,
        accept_url.strip_prefix(&app.address).unwrap().to_owned(),
    )
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_logged_out_invitee_signs_up_from_the_page_and_accepts() {
    let app = TestApp::spawn().await;
    let (account, path) = invite(&app, "newbie@example.com").await;

    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("acme Inc") && html.contains("member"),
        "{html}"
    );
    // Who invited, and until when.
    assert!(
        html.contains("acme-admin (acme-admin@example.com) invited you"),
        "{html}"
    );
    assert!(
        html.contains("expires on 20") && html.contains(" UTC"),
        "{html}"
    );
    assert!(
        html.contains("login_hint=newbie%40example.com"),
        "email pre-filled via login_hint"
    );

    // Sign up with the invited address; the page is where the signup leads back to.
    let signup_path = format!(
        "/signup?return_to={}&login_hint=newbie%40example.com",
        urlencode(&path)
    );
    let signup_page = app.get(&signup_path).await.text().await.unwrap();
    assert!(
        signup_page.contains("value=\"newbie@example.com\""),
        "signup pre-fills the email"
    );
    let signed_up = app
        .submit_form(
            &signup_path,
            "/signup",
            &[
                ("email", "newbie@example.com"),
                ("password", "a sturdy passphrase"),
                ("name", "Newbie"),
            ],
        )
        .await;
    assert_eq!(signed_up.status(), 303);
    assert_eq!(location(&signed_up), path);

    let page = app.get(&path).await.text().await.unwrap();
    assert!(page.contains(">Accept invitation</button>"), "{page}");
    assert!(
        page.contains("value=\"decline\" class=\"secondary\""),
        "{page}"
    );
    assert!(hidden_input(&page, "csrf_token").is_some());
    assert_eq!(
        app.post_form(&path, &[("decision", "accept")])
            .await
            .status(),
        403,
        "CSRF"
    );
    let accepted = app
        .submit_form(&path, &path, &[("decision", "accept")])
        .await;
    assert_eq!(accepted.status(), 200);
    let answered = accepted.text().await.unwrap();
    assert!(answered.contains("member of acme Inc"));
    // A way on: the signed-in page, which now lists the account.
    assert!(answered.contains("href=\"/account\""), "{answered}");
    let account_page = app.get("/account").await.text().await.unwrap();
    assert!(
        account_page.contains("<strong>acme Inc</strong>: member"),
        "{account_page}"
    );
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"invite.accepted".to_owned())
    );

    assert_eq!(app.get(&path).await.status(), 409, "single use");
}

#[tokio::test]
async fn someone_else_signed_in_cannot_answer_and_unknown_links_are_404() {
    let app = TestApp::spawn().await;
    let (_, path) = invite(&app, "invitee@example.com").await;
    app.user_with("other@example.com", Some("another sturdy passphrase"))
        .await;
    app.log_in("other@example.com", "another sturdy passphrase")
        .await;
    let html = app.get(&path).await.text().await.unwrap();
    assert!(
        html.contains("but the invitation is for invitee@example.com"),
        "{html}"
    );
    assert!(!html.contains(">Accept invitation</button>"));
    assert_eq!(app.get("/invites/not-a-real-token").await.status(), 404);
}

#[tokio::test]
async fn with_signup_off_an_invitation_lets_its_own_address_sign_up_while_pending() {
    let app = TestApp::spawn_with(|config| config.signup_enabled = false).await;
    assert_eq!(app.get("/signup").await.status(), 404);
    let (account, path) = invite(&app, "newbie@example.com").await;
    let token = path.strip_prefix("/invites/").unwrap().to_owned();

    let page = app.get(&path).await.text().await.unwrap();
    let signup_path = tags(&page, "a")
        .into_iter()
        .filter_map(|tag| attribute(tag, "href"))
        .find(|href| href.starts_with("/signup?"))
        .expect("a sign-up link on the invitation page");
    assert!(
        signup_path.contains(&format!("invite={token}")),
        "{signup_path}"
    );
    let form = app.get(&signup_path).await;
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    let email_input = tags(&form, "input")
        .into_iter()
        .find(|tag| attribute(tag, "name").as_deref() == Some("email"))
        .unwrap();
    assert_eq!(
        attribute(email_input, "value").as_deref(),
        Some("newbie@example.com")
    );
    assert!(email_input.contains(" readonly"), "locked: {email_input}");

    // Only its own address: another one is refused and creates nobody.
    let other = app
        .submit_form(
            &signup_path,
            "/signup",
            &[
                ("email", "intruder@example.com"),
                ("password", "a sturdy passphrase"),
            ],
        )
        .await;
    assert_eq!(other.status(), 403);
    // Without the invitation, or with a made-up one, sign-up stays off.
    for invite in ["", "made-up-token"] {
        let response = app
            .submit_form(
                &signup_path,
                "/signup",
                &[
                    ("email", "newbie@example.com"),
                    ("password", "a sturdy passphrase"),
                    ("invite", invite),
                ],
            )
            .await;
        assert!(
            matches!(response.status().as_u16(), 404 | 410),
            "{invite:?}"
        );
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users where email in ($1, $2)")
        .bind("intruder@example.com")
        .bind("newbie@example.com")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(users, 0);

    let signed_up = app
        .submit_form(
            &signup_path,
            "/signup",
            &[
                ("email", "newbie@example.com"),
                ("password", "a sturdy passphrase"),
            ],
        )
        .await;
    assert_eq!(signed_up.status(), 303);
    assert_eq!(location(&signed_up), path);
    let accepted = app
        .submit_form(&path, &path, &[("decision", "accept")])
        .await;
    assert_eq!(accepted.status(), 200);
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"invite.accepted".to_owned())
    );

    // Answered, the invitation opens nothing any more.
    app.post_form("/logout", &[]).await;
    assert_eq!(app.get(&signup_path).await.status(), 410);
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
