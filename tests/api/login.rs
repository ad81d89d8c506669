//! The hosted login pages, driven like a browser: sign in and out, sign-up, email
//! verification, password reset, CSRF, brute-force limits and the pages' accessibility.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use tessera::clock;
use tessera::config::Issuer;
use tessera::store::users;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp, attribute, hidden_input, tags,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
}

/// The session cookie a response set, as `name=value`.
fn session_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap())
        .find(|value| value.starts_with("tessera_session="))
        .expect("a session cookie");
    header.split(';').next().unwrap().to_owned()
}

/// The emails queued for `recipient` once there are at least `count` (waiting at most 20 s:
/// a reset link is queued by a task of its own, after the answer).
async fn emails_once_queued(app: &TestApp, recipient: &str, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let bodies = app.emails_to(recipient).await;
        if bodies.len() >= count {
            return bodies;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {recipient}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The first link on the issuer in the last email to `recipient`.
pub async fn link_in_last_email(app: &TestApp, recipient: &str) -> String {
    let bodies = emails_once_queued(app, recipient, 1).await;
    let body = bodies.last().expect("an email");
    let start = body
        .find(&app.address)
        .expect("an absolute link on the issuer");
    body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches(&app.address)
        .to_owned()
}

/// Whether the client's session is signed in: the landing page greets the user.
pub async fn signed_in_as(app: &TestApp) -> Option<String> {
    let response = app.get("/").await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let html = response.text().await.unwrap();
    let start = html.find("signed in as ")? + "signed in as ".len();
    let end = html[start..].find(".</p>")? + start;
    Some(html[start..end].to_owned())
}

async fn sign_up(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.submit_form(
        "/signup",
        "/signup",
        &[("email", email), ("password", password), ("name", "Ada")],
    )
    .await
}

#[tokio::test]
async fn login_sets_a_protected_session_cookie_and_returns_to_the_page() {
    let app = TestApp::spawn().await;
    let return_to = "/oauth2/authorize?response_type=code&client_id=cli_01J&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fa%3D1%26b%3D2&scope=openid%20profile%20email&state=x%2By%3D%3D&nonce=n'\"<>&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let response = app
        .submit_form(
            &format!("/login?return_to={encoded}"),
            "/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), return_to);
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("tessera_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http issuer: {cookie}");
    assert_eq!(signed_in_as(&app).await.as_deref(), Some(ADMIN_EMAIL));
    let logins: Vec<Option<String>> = sqlx::query_scalar(
        "select account_id from audit_events where action = 'user.login' and ip = '127.0.0.1'",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let first_account = crate::discovery::first_account_id(&app).await;
    assert_eq!(
        logins,
        [Some(first_account)],
        "the login is in the audit log of the user's account"
    );
}

#[tokio::test]
async fn pages_live_below_an_issuer_with_a_path() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.issuer = Some(Issuer::parse("http://127.0.0.1/id").unwrap());
    let app = TestApp::start(config).await;
    let html = app.get("/id/login").await.text().await.unwrap();
    assert!(html.contains("action=\"/id/login\""));
    assert!(html.contains("href=\"/id/assets/tessera.css\""));
    assert_eq!(
        app.get("/id/assets/tessera.css").await.status(),
        StatusCode::OK
    );

    let response = app
        .submit_form(
            "/id/login?return_to=%2Fother",
            "/id/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/id",
        "paths outside the issuer are not followed"
    );
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Path=/id"), "{cookie}");
    let home = app.get("/id").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains(ADMIN_EMAIL));

    let response = app.submit_form("/id/logout", "/id/logout", &[]).await;
    assert_eq!(location(&response), "/id/login");
    let home = app.get("/id").await;
    assert_eq!(location(&home), "/id/login?return_to=%2Fid");
}

#[tokio::test]
async fn return_to_another_origin_is_not_followed() {
    let app = TestApp::spawn().await;
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let response = app
            .submit_form(
                "/login",
                "/login",
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(location(&response), "/", "{evil}");
    }
    // The login page itself does not carry a foreign return_to into its form either.
    let html = app
        .get("/login?return_to=https%3A%2F%2Fevil.example%2F")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(hidden_input(&html, "return_to").as_deref(), Some("/"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let wrong_password = app.log_in(ADMIN_EMAIL, "not-the-password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong_password.headers().get(SET_COOKIE).is_none() || signed_in_as(&app).await.is_none()
    );
    let wrong_password = wrong_password.text().await.unwrap();
    let unknown = app.log_in("nobody@example.com", "not-the-password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();

    let message = "The email address or password is not correct.";
    assert!(wrong_password.contains(message));
    assert!(unknown.contains(message));
    assert_eq!(signed_in_as(&app).await, None);
}

#[tokio::test]
async fn every_hosted_form_refuses_a_missing_or_wrong_csrf_token() {
    let app = TestApp::spawn().await;
    // A session with a CSRF token exists; the posts below do not carry it.
    app.get("/login").await;
    let forms: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/login",
            vec![("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        ),
        (
            "/signup",
            vec![
                ("email", "new@example.com"),
                ("password", NEW_PASSWORD),
                ("name", "New"),
            ],
        ),
        ("/forgot-password", vec![("email", ADMIN_EMAIL)]),
        (
            "/reset-password",
            vec![("token", "whatever"), ("password", NEW_PASSWORD)],
        ),
        ("/logout", vec![]),
    ];
    for (path, fields) in forms {
        let response = app.post_form(path, &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} without a token"
        );
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "forged"));
        let response = app.post_form(path, &wrong).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} with a wrong token"
        );
        assert!(
            response.text().await.unwrap().contains("<h1>"),
            "{path}: the 403 is a page"
        );
    }
    // A fresh client (no session at all) is refused too.
    let stranger = reqwest::Client::new();
    let response = stranger
        .post(app.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(users::count(app.state.store.pool()).await.unwrap(), 1);
}

#[tokio::test]
async fn malformed_posts_get_a_client_error_page() {
    let app = TestApp::spawn().await;
    let json = app
        .http
        .post(app.url("/login"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email":"a@b.c"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json.text().await.unwrap().contains("<html lang=\"en\">"));

    for body in ["email=%ZZ&password=%", "a=1&a=2&&==", "\u{0}\u{1}"] {
        let response = app
            .http
            .post(app.url("/signup"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{body:?}: {}",
            response.status()
        );
    }
    let response = app.get("/login?return_to=a&return_to=b").await;
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn the_eleventh_failed_login_is_refused_on_every_instance() {
    let deployment = Deployment::new().await;
    let first = deployment.spawn().await;
    let second = deployment.spawn().await;
    for attempt in 1..=10 {
        let response = first.log_in(ADMIN_EMAIL, "wrong-password").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // The right password on another instance does not help: no password is checked.
    let response = second.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert!(response.text().await.unwrap().contains("Too many"));
    assert_eq!(signed_in_as(&second).await, None);
    // Other addresses are not locked out.
    let response = second.log_in("someone@example.com", "wrong-password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_client_address_gets_a_hundred_failures_whatever_the_emails() {
    let app = TestApp::spawn().await;
    let html = app.get("/login").await.text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    for attempt in 1..=100 {
        let email = format!("guess{attempt}@example.com");
        let response = app
            .post_form(
                "/login",
                &[
                    ("email", &email),
                    ("password", "guess"),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let response = app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(RETRY_AFTER));
}

#[tokio::test]
async fn a_successful_login_does_not_count_as_a_failure() {
    let app = TestApp::spawn().await;
    for _ in 0..9 {
        app.log_in(ADMIN_EMAIL, "wrong-password").await;
    }
    for _ in 0..3 {
        let response = app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let response = app.log_in(ADMIN_EMAIL, "wrong-password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "tenth failure");
    let response = app.log_in(ADMIN_EMAIL, "wrong-password").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "eleventh");
}

#[tokio::test]
async fn a_new_user_can_log_in_at_once_and_verify_the_email_later() {
    let app = TestApp::spawn().await;
    let response = sign_up(&app, "Ada@Example.com", NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert_eq!(signed_in_as(&app).await.as_deref(), Some("Ada@Example.com"));

    let store = app.state.store.pool();
    let user = users::find_by_email(store, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!user.email_verified);
    assert_eq!(user.name.as_deref(), Some("Ada"));

    let other = TestApp::start(app.state.config.as_ref().clone()).await;
    let response = other.log_in("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "logs in elsewhere too"
    );

    let link = link_in_last_email(&app, "Ada@Example.com").await;
    assert!(link.starts_with("/verify-email?token="), "{link}");
    let response = app.get(&link).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = users::find(store, &user.id).await.unwrap().unwrap();
    assert!(user.email_verified);
    assert_eq!(
        app.get(&link).await.status(),
        StatusCode::BAD_REQUEST,
        "used once"
    );
    assert_eq!(
        app.get("/verify-email?token=forged").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn one_client_address_creates_at_most_twenty_accounts_an_hour() {
    let app = TestApp::spawn().await;
    for n in 1..=20 {
        let email = format!("user{n}@example.com");
        let response = sign_up(&app, &email, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signup {n}");
    }
    let response = sign_up(&app, "user21@example.com", NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(RETRY_AFTER));
    assert_eq!(users::count(app.state.store.pool()).await.unwrap(), 21);
}

#[tokio::test]
async fn signing_up_twice_with_one_email_is_refused() {
    let app = TestApp::spawn().await;
    let response = sign_up(&app, "admin@EXAMPLE.com", NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(users::count(app.state.store.pool()).await.unwrap(), 1);
}

#[tokio::test]
async fn weak_passwords_are_refused_at_signup() {
    let app = TestApp::spawn().await;
    for weak in ["short", "password123", "QWERTYUIOP", "ada@example.com"] {
        let response = sign_up(&app, "ada@example.com", weak).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{weak}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("role=\"alert\""),
            "{weak}: the reason is shown"
        );
        assert!(
            html.contains("value=\"ada@example.com\""),
            "the email is kept"
        );
    }
    assert_eq!(users::count(app.state.store.pool()).await.unwrap(), 1);
}

#[tokio::test]
async fn signup_pages_are_missing_when_signup_is_off() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.signup_enabled = false;
    let app = TestApp::start(config).await;
    assert_eq!(app.get("/signup").await.status(), StatusCode::NOT_FOUND);
    app.get("/login").await;
    let html = app.get("/login").await.text().await.unwrap();
    assert!(!html.contains("/signup"), "no link to a missing page");
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let response = app
        .post_form(
            "/signup",
            &[
                ("email", "new@example.com"),
                ("password", NEW_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(users::count(app.state.store.pool()).await.unwrap(), 1);
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses() {
    let app = TestApp::spawn().await;
    let known = app
        .submit_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", ADMIN_EMAIL)],
        )
        .await;
    let unknown = app
        .submit_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(known.status(), unknown.status());
    // Every header but the clock and the request's own id.
    let headers = |response: &reqwest::Response| {
        let mut headers = response.headers().clone();
        headers.remove("date");
        headers.remove("x-request-id");
        headers
    };
    assert_eq!(headers(&known), headers(&unknown));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    // The known address still gets its link, from the task that answers for it.
    let mail = emails_once_queued(&app, ADMIN_EMAIL, 1).await;
    assert!(mail[0].contains("/reset-password?token="), "{}", mail[0]);
    assert!(app.emails_to("nobody@example.com").await.is_empty());
}

async fn request_reset(app: &TestApp) -> String {
    app.submit_form(
        "/forgot-password",
        "/forgot-password",
        &[("email", ADMIN_EMAIL)],
    )
    .await;
    let link = link_in_last_email(app, ADMIN_EMAIL).await;
    assert!(link.starts_with("/reset-password?token="), "{link}");
    link
}

#[tokio::test]
async fn a_reset_link_works_once_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let elsewhere = TestApp::start(app.state.config.as_ref().clone()).await;
    elsewhere.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(signed_in_as(&elsewhere).await.is_some());

    let link = request_reset(&app).await;
    let weak = app
        .submit_form(&link, "/reset-password", &[("password", "password1")])
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST, "the policy applies");
    let response = app
        .submit_form(&link, "/reset-password", &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_eq!(signed_in_as(&elsewhere).await, None, "old sessions end");
    assert_eq!(
        app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.log_in(ADMIN_EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    // Used: neither the page nor a post of its form works again.
    assert_eq!(app.get(&link).await.status(), StatusCode::BAD_REQUEST);
    let token = link.split("token=").nth(1).unwrap();
    let html = app.get("/forgot-password").await.text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let again = app
        .post_form(
            "/reset-password",
            &[
                ("token", token),
                ("password", "another fine passphrase"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.log_in(ADMIN_EMAIL, "another fine passphrase")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let app = TestApp::spawn().await;
    let link = request_reset(&app).await;
    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::OK, "fresh links work");
    let csrf = hidden_input(&page.text().await.unwrap(), "csrf_token").unwrap();

    let (created_at, expires_at): (i64, i64) = sqlx::query_as(
        "select created_at, expires_at from user_tokens where purpose = 'password_reset'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(expires_at - created_at, 30 * 60);
    sqlx::query("update user_tokens set expires_at = $1")
        .bind(clock::now() - 1)
        .execute(app.state.store.pool())
        .await
        .unwrap();

    assert_eq!(app.get(&link).await.status(), StatusCode::BAD_REQUEST);
    let token = link.split("token=").nth(1).unwrap();
    let response = app
        .post_form(
            "/reset-password",
            &[
                ("token", token),
                ("password", NEW_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.log_in(ADMIN_EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let login = app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let old_cookie = session_cookie(&login);
    assert_eq!(signed_in_as(&app).await.as_deref(), Some(ADMIN_EMAIL));

    let page = app.get("/logout").await.text().await.unwrap();
    assert!(page.contains(ADMIN_EMAIL));
    let response = app.submit_form("/logout", "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");

    let home = app.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/login?return_to=%2F");
    // The old cookie, replayed, is worth nothing: the session is gone from the database.
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_survives_a_restart() {
    let deployment = Deployment::new().await;
    let before = deployment.spawn().await;
    let cookie = session_cookie(&before.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    before.stop().await;

    let after = deployment.spawn().await;
    let response = after
        .http
        .get(after.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains(ADMIN_EMAIL));
}

/// Checks what every hosted page must have and returns its HTML.
pub fn assert_accessible(path: &str, html: &str) {
    assert!(html.contains("<html lang=\"en\">"), "{path}: html lang");
    assert!(
        html.contains("<title>") && html.contains("</title>"),
        "{path}: title"
    );
    assert!(html.contains("<h1>"), "{path}: a visible heading");
    assert!(!html.contains("<script"), "{path}: no scripts");
    assert!(
        html.contains("/assets/tessera.css"),
        "{path}: the stylesheet"
    );
    let labels: Vec<String> = tags(html, "label")
        .into_iter()
        .filter_map(|tag| attribute(tag, "for"))
        .collect();
    for input in tags(html, "input") {
        if attribute(input, "type").as_deref() == Some("hidden") {
            continue;
        }
        let id = attribute(input, "id").unwrap_or_else(|| panic!("{path}: {input} has no id"));
        assert!(labels.contains(&id), "{path}: no <label for=\"{id}\">");
    }
    let forms = tags(html, "form").len();
    let buttons = tags(html, "button").len();
    assert!(buttons >= forms, "{path}: a button per form");
    for form in tags(html, "form") {
        assert_eq!(attribute(form, "method").as_deref(), Some("post"), "{path}");
    }
}

#[tokio::test]
async fn every_page_is_labelled_and_works_without_javascript() {
    let app = TestApp::spawn().await;
    let link = request_reset(&app).await;
    for path in [
        "/login",
        "/signup",
        "/forgot-password",
        "/logout",
        link.as_str(),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert_accessible(path, &html);
        assert_eq!(tags(&html, "form").len(), 1, "{path}");
        assert!(
            hidden_input(&html, "csrf_token").is_some(),
            "{path}: CSRF token"
        );
    }
    let error = app.get("/reset-password?token=nope").await;
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_accessible("error page", &error.text().await.unwrap());

    let css = app.get("/assets/tessera.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn unknown_paths_outside_v1_answer_an_html_404_page() {
    let app = TestApp::spawn().await;
    for path in ["/no-such-page", "/oauth2/nope", "/assets/nope.css", "/v1x"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let html = response.text().await.unwrap();
        assert_accessible(path, &html);
        assert!(html.contains("<h1>Page not found</h1>"), "{path}: {html}");
    }
    let api = app.get("/v1/no-such-endpoint").await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.headers()[CONTENT_TYPE], "application/problem+json");
}

#[tokio::test]
async fn page_titles_never_repeat_the_product_name() {
    let app = TestApp::spawn().await;
    let mut pages = Vec::new();
    for path in ["/login", "/signup", "/forgot-password", "/logout", "/nope"] {
        pages.push((path, app.get(path).await.text().await.unwrap()));
    }
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for path in ["/", "/account", "/logout"] {
        pages.push((path, app.get(path).await.text().await.unwrap()));
    }
    for (path, html) in pages {
        let start = html.find("<title>").unwrap() + "<title>".len();
        let title = &html[start..start + html[start..].find("</title>").unwrap()];
        assert_eq!(title.matches("Tessera").count(), 1, "{path}: {title}");
        assert!(!title.starts_with(" ·"), "{path}: {title}");
    }
}

#[tokio::test]
async fn the_sign_out_page_says_when_nobody_is_signed_in() {
    let app = TestApp::spawn().await;
    let html = app.get("/logout").await.text().await.unwrap();
    let said = html.find("You are not signed in.").expect("says so");
    let button = html
        .find(">Sign out</button>")
        .expect("the harmless button");
    assert!(said < button, "the sentence comes first");
    assert!(html.contains("href=\"/login\""), "a way to sign in");

    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = app.get("/logout").await.text().await.unwrap();
    assert!(!html.contains("not signed in") && html.contains(ADMIN_EMAIL));
}

#[tokio::test]
async fn secondary_actions_do_not_look_like_the_main_one() {
    let app = TestApp::spawn().await;
    let css = app.get("/assets/tessera.css").await.text().await.unwrap();
    let rule = css
        .lines()
        .find(|line| line.starts_with("button.secondary {"))
        .expect("a rule for secondary buttons");
    assert!(
        rule.contains("background: transparent") && rule.contains("border"),
        "{rule}"
    );
    for template in [
        include_str!("../../templates/consent.html"),
        include_str!("../../templates/invite.html"),
    ] {
        for (value, class) in [("deny", "secondary"), ("decline", "secondary")] {
            if template.contains(&format!("value=\"{value}\"")) {
                assert!(
                    template.contains(&format!("value=\"{value}\" class=\"{class}\"")),
                    "{value}"
                );
            }
        }
    }
}
