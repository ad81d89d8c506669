//! Signing in through an operator's identity provider (API.md §12), with a second Tessera
//! server as the provider: the login page's button, the full flow through both servers'
//! hosted pages, the linking rules, `/v1/me/identities`, and a provider that answers wrongly
//! (each refused with a page that says so in a sentence, never the provider's words).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::federation::{
    Federation, PROVIDER, Tamper, Upstream, assert_signed_in, browser, callback_of, page,
    post_login, sign_in, signed_in_as, tampering_proxy, travel,
};
use crate::helpers::{LOGIN_SCOPE, TestApp, expect_problem};

async fn token_of(app: &TestApp, email: &str) -> String {
    let user = tessera::store::users::find_by_email(app.state.store.pool(), email)
        .await
        .unwrap()
        .unwrap();
    app.login_token(user.id.as_str(), LOGIN_SCOPE).await
}

async fn identities(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .api(Method::GET, "/v1/me/identities", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["next_cursor"], Value::Null);
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_new_user_signs_up_through_the_provider_and_signs_in_again_as_itself() {
    let federation = Federation::start(None, |_| {}).await;
    let downstream = &federation.downstream;
    let upstream_id = federation.upstream_user("jane@corp.example", true).await;

    let login_page = downstream.get("/login").await.text().await.unwrap();
    assert!(
        login_page.contains("Continue with Upstream"),
        "{login_page}"
    );
    assert!(login_page.contains(&format!("action=\"/login/idp/{PROVIDER}\"")));

    let first = browser();
    let journey = sign_in(&federation, &first, "jane@corp.example").await;
    assert_signed_in(&journey, downstream, &first, "jane@corp.example").await;
    let user = federation
        .downstream_user("jane@corp.example")
        .await
        .unwrap();
    assert!(user.email_verified, "the provider vouched for the address");
    assert!(user.password_hash.is_none());

    let token = token_of(downstream, "jane@corp.example").await;
    let listed = identities(downstream, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["provider"], PROVIDER);
    assert_eq!(listed[0]["issuer"], federation.upstream.address.as_str());
    assert_eq!(listed[0]["subject"], upstream_id.as_str());
    assert_eq!(listed[0]["email"], "jane@corp.example");
    assert!(listed[0]["id"].as_str().unwrap().starts_with("idn_"));

    // Another browser, another sign-in: the same user, through the link.
    let second = browser();
    let journey = sign_in(&federation, &second, "jane@corp.example").await;
    assert_eq!(journey.end.status(), StatusCode::OK);
    let again = federation
        .downstream_user("jane@corp.example")
        .await
        .unwrap();
    assert_eq!(again.id, user.id);
    assert_eq!(identities(downstream, &token).await.len(), 1);

    // Its only way to sign in stays.
    let id = listed[0]["id"].as_str().unwrap();
    let response = downstream
        .api(Method::DELETE, &format!("/v1/me/identities/{id}"), &token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "last_sign_in_method").await;
    assert_eq!(identities(downstream, &token).await.len(), 1);

    // Another user (with a password, so the last-way rule would not stop it) cannot unlink
    // Jane's identity: it is not theirs to know of.
    let mallory = downstream
        .user_with("mallory@corp.example", Some("mallory-password-1"))
        .await;
    let response = downstream
        .api(
            Method::DELETE,
            &format!("/v1/me/identities/{id}"),
            &mallory.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    assert_eq!(identities(downstream, &token).await.len(), 1);
    assert!(identities(downstream, &mallory.token).await.is_empty());
}

#[tokio::test]
async fn an_existing_user_is_linked_by_its_address_only_when_the_provider_verified_it() {
    let federation = Federation::start(None, |_| {}).await;
    let downstream = &federation.downstream;
    let bob = downstream
        .user_with("bob@corp.example", Some("bob-password-1"))
        .await;
    let admin = downstream.user("bob-admin@corp.example").await;
    downstream.verify_email(&admin).await;
    let account = downstream
        .create_account(&admin, serde_json::json!({"name": "Corp"}))
        .await;
    let account = account["id"].as_str().unwrap();
    downstream.add_member(&admin, account, &bob, "member").await;
    let upstream_bob = federation.upstream_user("bob@corp.example", false).await;

    // Unverified upstream: the existing user is not handed over.
    let first = browser();
    let journey = sign_in(&federation, &first, "bob@corp.example").await;
    assert_eq!(journey.end.status(), StatusCode::FORBIDDEN);
    let page = journey.end.text().await.unwrap();
    assert!(page.contains("did not confirm the address"), "{page}");
    assert_eq!(signed_in_as(downstream, &first).await, None);
    assert!(identities(downstream, &bob.token).await.is_empty());

    // Verified: linked to the same user.
    federation
        .upstream
        .verify_email(&crate::helpers::TestUser {
            id: upstream_bob,
            email: "bob@corp.example".into(),
            token: String::new(),
        })
        .await;
    let second = browser();
    let journey = sign_in(&federation, &second, "bob@corp.example").await;
    assert_signed_in(&journey, downstream, &second, "bob@corp.example").await;
    let listed = identities(downstream, &bob.token).await;
    assert_eq!(listed.len(), 1);
    let actions = downstream.audit_actions(account).await;
    assert!(
        actions.contains(&"user.identity_linked".to_owned()),
        "{actions:?}"
    );
    let login: Value = sqlx::query_scalar::<_, String>(
        "select details from audit_events where account_id = $1 and action = 'user.login' order by created_at desc limit 1",
    )
    .bind(account)
    .fetch_one(downstream.state.store.pool())
    .await
    .map(|text| serde_json::from_str(&text).unwrap())
    .unwrap();
    assert_eq!(login["method"], "idp");
    assert_eq!(login["provider"], PROVIDER);

    // Bob has a password: the link may go.
    let id = listed[0]["id"].as_str().unwrap();
    let response = downstream
        .api(
            Method::DELETE,
            &format!("/v1/me/identities/{id}"),
            &bob.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(identities(downstream, &bob.token).await.is_empty());
    let actions = downstream.audit_actions(account).await;
    assert!(
        actions.contains(&"user.identity_unlinked".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_signed_in_user_connects_a_provider_whose_address_is_unverified() {
    let federation = Federation::start(None, |_| {}).await;
    let downstream = &federation.downstream;
    let carol = downstream
        .user_with("carol@corp.example", Some("carol-password-1"))
        .await;
    federation.upstream_user("carol@corp.example", false).await;
    let carols_browser = browser();
    let credentials = [
        ("email", "carol@corp.example"),
        ("password", "carol-password-1"),
    ];
    let posted = post_login(downstream, &carols_browser, &credentials).await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);

    let security = page(&carols_browser, &downstream.url("/account/security")).await;
    assert!(security.contains("Connect Upstream"), "{security}");

    let connect = downstream.url(&format!("/login/idp/{PROVIDER}?connect=true"));
    let journey = travel(
        &carols_browser,
        &federation.upstream,
        &connect,
        "carol@corp.example",
    )
    .await;
    assert!(
        journey
            .visited
            .last()
            .unwrap()
            .ends_with("/account/security"),
        "{:?}",
        journey.visited
    );
    let security = journey.end.text().await.unwrap();
    assert!(security.contains("Disconnect Upstream"), "{security}");
    assert!(!security.contains("Connect Upstream"));
    assert_eq!(identities(downstream, &carol.token).await.len(), 1);

    // From now on the provider signs Carol in.
    let elsewhere = browser();
    let journey = sign_in(&federation, &elsewhere, "carol@corp.example").await;
    assert_signed_in(&journey, downstream, &elsewhere, "carol@corp.example").await;

    // Disconnected on the security page (Carol has a password to sign in with).
    let id = identities(downstream, &carol.token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let action = format!("/account/security/identities/{id}/remove");
    let security = page(&carols_browser, &downstream.url("/account/security")).await;
    let form = crate::helpers::form_hidden_inputs(&security, &action);
    let removed = carols_browser
        .post(downstream.url(&action))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(identities(downstream, &carol.token).await.is_empty());
}

/// Connecting a provider adds a way to sign in: it needs a sign-in within the last 10
/// minutes, so a browser left signed in cannot be given an attacker's provider account.
#[tokio::test]
async fn connecting_a_provider_needs_a_recent_sign_in() {
    let federation = Federation::start(None, |_| {}).await;
    let downstream = &federation.downstream;
    let dave = downstream
        .user_with("dave@corp.example", Some("dave-password-1"))
        .await;
    let daves_browser = browser();
    let credentials = [
        ("email", "dave@corp.example"),
        ("password", "dave-password-1"),
    ];
    let posted = post_login(downstream, &daves_browser, &credentials).await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    // The session's sign-in moved 11 minutes back, as if the browser had stayed signed in.
    let pool = downstream.state.store.pool();
    let rows: Vec<(String, String)> = sqlx::query_as("select id, data from sessions")
        .fetch_all(pool)
        .await
        .unwrap();
    for (id, data) in rows {
        let mut data: Value = serde_json::from_str(&data).unwrap();
        if let Some(auth_time) = data["user"]["auth_time"].as_i64() {
            data["user"]["auth_time"] = (auth_time - 11 * 60).into();
        }
        sqlx::query("update sessions set data = $1 where id = $2")
            .bind(data.to_string())
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
    let connect = downstream.url(&format!("/login/idp/{PROVIDER}?connect=true"));
    let refused = daves_browser.get(&connect).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.unwrap();
    assert!(text.contains("within the last 10 minutes"), "{text}");
    assert!(identities(downstream, &dave.token).await.is_empty());
}

#[tokio::test]
async fn with_signup_closed_a_new_upstream_user_is_refused() {
    let federation = Federation::start(None, |config| config.signup_enabled = false).await;
    federation.upstream_user("dave@corp.example", true).await;
    let dave = browser();
    let journey = sign_in(&federation, &dave, "dave@corp.example").await;
    assert_eq!(journey.end.status(), StatusCode::FORBIDDEN);
    assert!(
        journey
            .end
            .text()
            .await
            .unwrap()
            .contains("Sign-up is closed")
    );
    assert!(
        federation
            .downstream_user("dave@corp.example")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_callback_is_used_once_and_only_by_the_browser_that_started_it() {
    let federation = Federation::start(None, |_| {}).await;
    federation.upstream_user("erin@corp.example", true).await;
    let erin = browser();
    let journey = sign_in(&federation, &erin, "erin@corp.example").await;
    assert_eq!(journey.end.status(), StatusCode::OK);
    let callback = journey.callback().to_owned();

    // Replayed in the same browser, and in another: refused, nobody signed in anew.
    let replayed = erin.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(
        replayed
            .text()
            .await
            .unwrap()
            .contains("not valid any more")
    );
    let attacker = browser();
    let replayed = attacker.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(signed_in_as(&federation.downstream, &attacker).await, None);

    // Login CSRF: the attacker's own callback (its code and state), planted in the victim's
    // browser, signs the victim in to nothing.
    let attacker = browser();
    let start = federation.downstream.url(&format!("/login/idp/{PROVIDER}"));
    let planted = callback_of(&attacker, &federation.upstream, &start, "erin@corp.example").await;
    let victim = browser();
    let response = victim.get(&planted).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(signed_in_as(&federation.downstream, &victim).await, None);
    // The attacker's own browser could still have used it: the refusal is the victim's.
    let response = attacker.get(&planted).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_cancelled_sign_in_and_an_unreachable_provider_are_pages_not_errors() {
    let federation = Federation::start(None, |_| {}).await;
    let downstream = &federation.downstream;
    let cancelling = browser();
    let started = cancelling
        .get(downstream.url(&format!("/login/idp/{PROVIDER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1
        .into_owned();
    assert!(
        location
            .query_pairs()
            .any(|(name, value)| name == "code_challenge_method" && value == "S256")
    );
    assert!(location.query_pairs().any(|(name, _)| name == "nonce"));
    let cancelled = cancelling
        .get(downstream.url(&format!(
            "/login/idp/{PROVIDER}/callback?error=access_denied&error_description=%3Cscript%3E&state={state}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::BAD_REQUEST);
    let page = cancelled.text().await.unwrap();
    assert!(page.contains("cancelled or refused"), "{page}");
    assert!(
        !page.contains("script"),
        "the provider's words are not shown"
    );

    let nowhere = Federation::start(Some("http://127.0.0.1:1".into()), |_| {}).await;
    let response = browser()
        .get(nowhere.downstream.url(&format!("/login/idp/{PROVIDER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("could not be reached")
    );

    let unknown = browser()
        .get(downstream.url("/login/idp/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// Signs in through a tampering proxy in front of the upstream; the journey's end.
async fn through_proxy(mode: Tamper) -> (Federation, reqwest::Response) {
    let upstream = Upstream::start().await;
    let proxy = tampering_proxy(&upstream.app, &upstream.client.secret, mode).await;
    let federation = Federation::on(upstream, Some(proxy), |_| {}).await;
    federation.upstream_user("frank@corp.example", true).await;
    let frank = browser();
    let journey = sign_in(&federation, &frank, "frank@corp.example").await;
    (federation, journey.end)
}

#[tokio::test]
async fn a_provider_answering_wrongly_is_refused() {
    let (_, honest) = through_proxy(Tamper::Honest).await;
    assert_eq!(honest.status(), StatusCode::OK, "the proxy itself works");
    for mode in [
        Tamper::DiscoveryIssuer,
        Tamper::TokenIssuer,
        Tamper::Signature,
        Tamper::Nonce,
        Tamper::Audience,
        Tamper::Symmetric,
    ] {
        let (federation, end) = through_proxy(mode).await;
        assert_eq!(end.status(), StatusCode::BAD_REQUEST, "{mode:?}");
        let page = end.text().await.unwrap();
        assert!(page.contains("does not accept"), "{mode:?}: {page}");
        assert!(
            federation
                .downstream_user("frank@corp.example")
                .await
                .is_none(),
            "{mode:?}"
        );
    }
}
