//! The hosted invitation page: a logged-out invitee signs up through it and accepts.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, hidden_input};

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
    assert!(
        accepted
            .text()
            .await
            .unwrap()
            .contains("member of acme Inc")
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

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
