//! Signing in through an account's SSO connection (API.md §12), with a second Tessera server
//! as the company's provider: the email-first login page routes an address on an enforced
//! domain straight to the provider (its password never checked), a non-enforced one may
//! choose; `jit` makes the user a member with `default_role`; the provider speaks only for
//! the connection's verified domains, and only while its account is active.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::config::Config;

use crate::federation::{
    Federation, Upstream, assert_signed_in, browser, post_login, signed_in_as, travel,
};
use crate::helpers::{DnsServer, TestApp, TestUser};

const DOMAIN: &str = "acme.example";

struct Sso {
    federation: Federation,
    admin: TestUser,
    account: String,
    connection: Value,
    _dns: DnsServer,
}

async fn sso(jit: bool, enforce: bool, configure: impl FnOnce(&mut Config)) -> Sso {
    let dns = DnsServer::start().await;
    let upstream = Upstream::start().await;
    let downstream = TestApp::spawn_with(|config| {
        config.dns_servers = vec![dns.addr];
        // The provider runs on loopback over http.
        config.webhook_block_private = false;
        configure(config);
    })
    .await;
    let admin = downstream.user("admin@acme.example").await;
    downstream.verify_email(&admin).await;
    let account = downstream
        .create_account(&admin, json!({"name": "Acme"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    downstream
        .verified_domain(&dns, &admin.token, &account, DOMAIN)
        .await;
    let response = downstream
        .api(
            Method::POST,
            &format!("/v1/accounts/{account}/sso-connections"),
            &admin.token,
        )
        .json(&json!({
            "name": "Acme SSO",
            "issuer": upstream.app.address,
            "client_id": upstream.client.client_id.as_str(),
            "client_secret": upstream.client.secret,
            "domains": [DOMAIN],
            "default_role": "member",
            "jit": jit,
            "enforce": enforce,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let connection: Value = response.json().await.unwrap();
    sqlx::query("update clients set redirect_uris = $1 where id = $2")
        .bind(json!([connection["redirect_uri"]]).to_string())
        .bind(upstream.client.client_id.as_str())
        .execute(upstream.app.state.store.pool())
        .await
        .unwrap();
    Sso {
        federation: Federation {
            upstream: upstream.app,
            downstream,
        },
        admin,
        account,
        connection,
        _dns: dns,
    }
}

fn location(response: &reqwest::Response) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    response.url().join(location).unwrap().to_string()
}

async fn members(sso: &Sso) -> Vec<Value> {
    let response = sso
        .federation
        .downstream
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/members", sso.account),
            &sso.admin.token,
        )
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_enforced_domain_signs_in_through_its_provider_and_jit_makes_a_member() {
    let sso = sso(true, true, |_| {}).await;
    let downstream = &sso.federation.downstream;
    let upstream = &sso.federation.upstream;
    upstream
        .verify_email(
            &upstream
                .user_with("ann@acme.example", Some(crate::federation::PASSWORD))
                .await,
        )
        .await;
    let id = sso.connection["id"].as_str().unwrap();

    // Email first: the password field is not even looked at.
    let ann = browser();
    let routed = post_login(
        downstream,
        &ann,
        &[
            ("email", "ann@acme.example"),
            ("password", "whatever-it-is"),
        ],
    )
    .await;
    assert_eq!(routed.status(), StatusCode::SEE_OTHER);
    let next = location(&routed);
    assert!(
        next.starts_with(&downstream.url(&format!("/login/sso/{id}?"))),
        "{next}"
    );
    assert!(next.contains("login_hint=ann%40acme.example"), "{next}");
    let journey = travel(&ann, upstream, &next, "ann@acme.example").await;
    assert_signed_in(&journey, downstream, &ann, "ann@acme.example").await;
    let listed = members(&sso).await;
    let member = listed
        .iter()
        .find(|member| member["email"] == "ann@acme.example")
        .expect("jit made Ann a member");
    assert_eq!(member["role"], "member");
    let events: Vec<(String, String)> = sqlx::query_as(
        "select action, details from audit_events where account_id = $1 order by created_at, id",
    )
    .bind(&sso.account)
    .fetch_all(downstream.state.store.pool())
    .await
    .unwrap();
    let detail = |action: &str| -> Value {
        let (_, details) = events
            .iter()
            .rev()
            .find(|(name, _)| name == action)
            .unwrap_or_else(|| panic!("no {action} in {events:?}"));
        serde_json::from_str(details).unwrap()
    };
    assert_eq!(detail("user.login")["method"], "sso");
    assert_eq!(detail("user.login")["connection_id"], id);
    assert_eq!(detail("member.added")["via"], "sso_jit");

    // A user of the domain with a password: the password does not sign in.
    downstream
        .user_with("bob@acme.example", Some("bob-password-1"))
        .await;
    let bobs = browser();
    let routed = post_login(
        downstream,
        &bobs,
        &[
            ("email", "bob@acme.example"),
            ("password", "bob-password-1"),
        ],
    )
    .await;
    assert_eq!(routed.status(), StatusCode::SEE_OTHER);
    assert!(location(&routed).contains(&format!("/login/sso/{id}?")));
    assert_eq!(signed_in_as(downstream, &bobs).await, None);
}

#[tokio::test]
async fn a_domain_without_enforcement_may_choose_and_other_addresses_have_no_sso() {
    let sso = sso(false, false, |_| {}).await;
    let downstream = &sso.federation.downstream;
    downstream
        .user_with("carl@acme.example", Some("carl-password-1"))
        .await;
    let carl = browser();
    let signed = post_login(
        downstream,
        &carl,
        &[
            ("email", "carl@acme.example"),
            ("password", "carl-password-1"),
        ],
    )
    .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in_as(downstream, &carl).await.as_deref(),
        Some("carl@acme.example")
    );

    let choosing = browser();
    let routed = post_login(
        downstream,
        &choosing,
        &[("email", "carl@acme.example"), ("action", "sso")],
    )
    .await;
    assert_eq!(routed.status(), StatusCode::SEE_OTHER);
    assert!(location(&routed).contains("/login/sso/"));

    let elsewhere = post_login(
        downstream,
        &browser(),
        &[("email", "someone@other.example"), ("action", "sso")],
    )
    .await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    assert!(elsewhere.text().await.unwrap().contains("not set up"));
}

#[tokio::test]
async fn the_provider_speaks_only_for_the_connections_domains_and_its_active_account() {
    let sso = sso(true, true, |_| {}).await;
    let downstream = &sso.federation.downstream;
    let upstream = &sso.federation.upstream;
    let id = sso.connection["id"].as_str().unwrap();
    for email in ["eve@evil.example", "fay@acme.example"] {
        let user = upstream
            .user_with(email, Some(crate::federation::PASSWORD))
            .await;
        upstream.verify_email(&user).await;
    }
    let start = downstream.url(&format!("/login/sso/{id}"));

    // An address outside the connection's domains: refused, no user made.
    let eve = browser();
    let journey = travel(&eve, upstream, &start, "eve@evil.example").await;
    assert_eq!(journey.end.status(), StatusCode::FORBIDDEN);
    assert!(journey.end.text().await.unwrap().contains("not set up for"));
    assert_eq!(signed_in_as(downstream, &eve).await, None);
    assert!(
        tessera::store::users::find_by_email(downstream.state.store.pool(), "eve@evil.example")
            .await
            .unwrap()
            .is_none()
    );

    // The account suspended: its provider signs nobody in.
    let response = downstream
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{}", sso.account),
            &sso.admin.token,
        )
        .json(&json!({"status": "suspended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let fay = browser();
    let journey = travel(&fay, upstream, &start, "fay@acme.example").await;
    assert_eq!(journey.end.status(), StatusCode::FORBIDDEN);
    assert!(journey.end.text().await.unwrap().contains("suspended"));
    assert_eq!(signed_in_as(downstream, &fay).await, None);
}

#[tokio::test]
async fn without_jit_a_new_user_joins_nothing_and_with_sign_up_closed_is_not_made() {
    let open = sso(false, false, |_| {}).await;
    let upstream = &open.federation.upstream;
    let user = upstream
        .user_with("gus@acme.example", Some(crate::federation::PASSWORD))
        .await;
    upstream.verify_email(&user).await;
    let start = open.federation.downstream.url(&format!(
        "/login/sso/{}",
        open.connection["id"].as_str().unwrap()
    ));
    let gus = browser();
    let journey = travel(&gus, upstream, &start, "gus@acme.example").await;
    assert_eq!(journey.end.status(), StatusCode::OK);
    assert!(
        !members(&open)
            .await
            .iter()
            .any(|member| member["email"] == "gus@acme.example"),
        "no jit, no membership"
    );

    let closed = sso(false, false, |config| config.signup_enabled = false).await;
    let upstream = &closed.federation.upstream;
    let user = upstream
        .user_with("hal@acme.example", Some(crate::federation::PASSWORD))
        .await;
    upstream.verify_email(&user).await;
    let start = closed.federation.downstream.url(&format!(
        "/login/sso/{}",
        closed.connection["id"].as_str().unwrap()
    ));
    let hal = browser();
    let journey = travel(&hal, upstream, &start, "hal@acme.example").await;
    assert_eq!(journey.end.status(), StatusCode::FORBIDDEN);
    assert!(
        journey
            .end
            .text()
            .await
            .unwrap()
            .contains("Sign-up is closed")
    );
}
