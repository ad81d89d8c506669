//! Consent for self-registered clients, and RP-initiated logout.

use crate::authorization_code::{Rp, log_in_through_code_flow, query};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp};

async fn self_registered(deployment: &Deployment, app: &TestApp) -> Rp {
    let rp = Rp::register(deployment, app, &[]).await;
    sqlx::query("update clients set self_registered = 1, first_party = 0 where id = $1")
        .bind(&rp.registered.client_id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    rp
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn self_registered_clients_need_consent_once_per_scope_set() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = self_registered(&deployment, &app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (url, _, _) = rp.authorize_url(&["openid", "email"], &[]);
    let path = url.strip_prefix(&app.address).unwrap().to_owned();
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<h1>") && html.contains("See your email address"),
        "{html}"
    );
    assert!(html.contains(">Allow</button>") && html.contains(">Deny</button>"));

    let missing_csrf = app
        .post_form(
            "/oauth2/consent",
            &[("decision", "allow"), ("authorize_query", "x")],
        )
        .await;
    assert_eq!(missing_csrf.status(), 403);

    let allowed = app
        .submit_form(&path, "/oauth2/consent", &[("decision", "allow")])
        .await;
    assert_eq!(allowed.status(), 303);
    let resumed = app.get(&location(&allowed)).await;
    assert_eq!(resumed.status(), 303);
    assert!(query(&location(&resumed)).contains_key("code"));

    // Consented: straight through, even with prompt=none.
    let (url, _, _) = rp.authorize_url(&["email", "openid"], &[("prompt", "none")]);
    let again = app.get(url.strip_prefix(&app.address).unwrap()).await;
    assert!(
        query(&location(&again)).contains_key("code"),
        "{}",
        location(&again)
    );

    // A new scope set asks again; prompt=none cannot.
    let (url, _, _) = rp.authorize_url(&["openid", "profile"], &[("prompt", "none")]);
    let wider = app.get(url.strip_prefix(&app.address).unwrap()).await;
    assert_eq!(query(&location(&wider))["error"], "consent_required");

    let (url, _, _) = rp.authorize_url(&["openid", "profile"], &[]);
    let path = url.strip_prefix(&app.address).unwrap().to_owned();
    let denied = app
        .submit_form(&path, "/oauth2/consent", &[("decision", "deny")])
        .await;
    let params = query(&location(&denied));
    assert_eq!(params["error"], "access_denied");
    assert!(params.contains_key("state"));
}

#[tokio::test]
async fn clients_registered_by_admins_get_no_consent_page() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (url, _, _) = rp.authorize_url(&["openid", "email"], &[]);
    let response = app.get(url.strip_prefix(&app.address).unwrap()).await;
    assert_eq!(response.status(), 303);
    assert!(query(&location(&response)).contains_key("code"));
}

#[tokio::test]
async fn rp_initiated_logout_with_a_hint_ends_the_session_and_returns_to_the_client() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(
        &deployment,
        &app,
        &["--post-logout-redirect-uri", "https://app.example.com/bye"],
    )
    .await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let id_token = tokens.extra_fields().id_token.clone().unwrap();
    let encoded =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();

    let unregistered = app
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            encoded("https://evil.example.com/")
        ))
        .await;
    assert_eq!(unregistered.status(), 400);
    assert!(unregistered.headers().get("location").is_none());
    assert_eq!(
        app.get("/oauth2/logout?id_token_hint=garbage")
            .await
            .status(),
        400
    );

    let response = app
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-state",
            encoded("https://app.example.com/bye")
        ))
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "https://app.example.com/bye?state=bye-state"
    );

    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "none")]);
    let after = app.get(url.strip_prefix(&app.address).unwrap()).await;
    assert_eq!(
        query(&location(&after))["error"],
        "login_required",
        "the session is gone"
    );
}

#[tokio::test]
async fn rp_initiated_logout_without_a_hint_asks_the_user_first() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(
        &deployment,
        &app,
        &["--post-logout-redirect-uri", "https://app.example.com/bye"],
    )
    .await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let path = format!(
        "/oauth2/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=s2",
        rp.registered.client_id
    );
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(">Sign out</button>"));
    assert_eq!(
        app.post_form("/oauth2/logout", &[("client_id", &rp.registered.client_id)])
            .await
            .status(),
        403
    );

    // Without an ID token the client received, nothing vouches that the client asked: the
    // way back is a link the user may follow, never an automatic redirect (API.md §5).
    let confirmed = app.submit_form(&path, "/oauth2/logout", &[]).await;
    assert_eq!(confirmed.status(), 200);
    let html = confirmed.text().await.unwrap();
    assert!(
        html.contains("href=\"https://app.example.com/bye?state=s2\""),
        "{html}"
    );
    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "none")]);
    let after = app.get(url.strip_prefix(&app.address).unwrap()).await;
    assert_eq!(query(&location(&after))["error"], "login_required");

    let anonymous = app.get("/oauth2/logout").await;
    assert_eq!(anonymous.status(), 200);
    assert!(anonymous.text().await.unwrap().contains("signed out"));
}
