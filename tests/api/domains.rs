//! Verified domains (API.md §12): claim, DNS TXT challenge, verify, delete; one account at a
//! time holds a name verified; the verified names are the account's `email_domains`. DNS is a
//! small server on loopback UDP that the test feeds.

use std::collections::HashMap;
use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::helpers::{DnsServer, TestApp, expect_problem};

/// An app whose domain verification asks `servers`.
async fn app_with_dns(servers: Vec<SocketAddr>) -> TestApp {
    TestApp::spawn_with(|config| config.dns_servers = servers).await
}

/// The JSON answer to a GET.
async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.api(Method::GET, path, token).send().await.unwrap();
    response.json().await.unwrap()
}

fn domains_path(account: &str) -> String {
    format!("/v1/accounts/{account}/domains")
}

async fn claim(app: &TestApp, token: &str, account: &str, domain: &str) -> reqwest::Response {
    app.api(Method::POST, &domains_path(account), token)
        .json(&json!({ "domain": domain }))
        .send()
        .await
        .unwrap()
}

async fn claimed(app: &TestApp, token: &str, account: &str, domain: &str) -> Value {
    let response = claim(app, token, account, domain).await;
    assert_eq!(response.status(), 201, "claim {domain}");
    response.json().await.unwrap()
}

async fn verify(app: &TestApp, token: &str, account: &str, domain: &Value) -> reqwest::Response {
    let path = format!(
        "{}/{}/verify",
        domains_path(account),
        domain["id"].as_str().unwrap()
    );
    app.api(Method::POST, &path, token).send().await.unwrap()
}

async fn email_domains(app: &TestApp, token: &str, account: &str) -> Value {
    let shown = read(app, token, &format!("/v1/accounts/{account}")).await;
    shown["email_domains"].clone()
}

#[tokio::test]
async fn a_domain_is_claimed_then_verified_by_its_txt_record() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(vec![dns.addr]).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    assert_eq!(email_domains(&app, owner, a).await, json!([]));

    let domain = claimed(&app, owner, a, "Acme.Example").await;
    assert!(
        domain["id"].as_str().unwrap().starts_with("dom_"),
        "{domain}"
    );
    assert_eq!(domain["domain"], "acme.example");
    assert_eq!(domain["status"], "pending");
    assert_eq!(domain["verified_at"], Value::Null);
    assert!(domain["created_at"].is_string(), "{domain}");
    let challenge = &domain["verification"];
    assert_eq!(challenge["type"], "dns_txt");
    assert_eq!(challenge["name"], "_tessera-challenge.acme.example");
    let value = challenge["value"].as_str().unwrap();
    assert!(value.len() >= 32, "{challenge}");
    let id = domain["id"].as_str().unwrap();
    let listed = read(&app, owner, &domains_path(a)).await;
    assert_eq!(listed["data"][0]["id"], id);
    assert_eq!(listed["next_cursor"], Value::Null);
    let shown = read(&app, owner, &format!("{}/{id}", domains_path(a))).await;
    assert_eq!(shown, domain);

    // No record yet, then a record with another value: refused, saying what DNS holds.
    let problem = expect_problem(
        verify(&app, owner, a, &domain).await,
        409,
        "verification_failed",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("no TXT record found at _tessera-challenge.acme.example"),
        "{detail}"
    );
    dns.publish("_tessera-challenge.acme.example", &["someone-elses-value"]);
    let problem = expect_problem(
        verify(&app, owner, a, &domain).await,
        409,
        "verification_failed",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("someone-elses-value"),
        "{problem}"
    );
    assert_eq!(email_domains(&app, owner, a).await, json!([]));

    // The right value, beside another record.
    dns.publish("_tessera-challenge.acme.example", &["v=spf1 -all", value]);
    let response = verify(&app, owner, a, &domain).await;
    assert_eq!(response.status(), 200);
    let verified: Value = response.json().await.unwrap();
    assert_eq!(verified["status"], "verified");
    assert!(verified["verified_at"].is_string(), "{verified}");
    assert_eq!(email_domains(&app, owner, a).await, json!(["acme.example"]));
    // Every member sees it on the account; verifying again changes nothing.
    assert_eq!(
        email_domains(&app, &acme.viewer.token, a).await,
        json!(["acme.example"])
    );
    let again: Value = verify(&app, owner, a, &domain).await.json().await.unwrap();
    assert_eq!(again, verified);
    let actions = app.audit_actions(a).await;
    assert_eq!(
        actions
            .iter()
            .filter(|action| *action == "domain.verified")
            .count(),
        1
    );
    assert!(
        actions.contains(&"domain.created".to_owned()),
        "{actions:?}"
    );

    // `email_domains` is read-only on the account.
    let response = app
        .api(Method::PATCH, &format!("/v1/accounts/{a}"), owner)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"email_domains": ["evil.example"]}).to_string())
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "email_domains");

    // The same account claims it once.
    expect_problem(claim(&app, owner, a, "acme.example").await, 409, "conflict").await;

    // Deleted: gone from the account, and free for others.
    let response = app
        .api(Method::DELETE, &format!("{}/{id}", domains_path(a)), owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(email_domains(&app, owner, a).await, json!([]));
    assert!(
        app.audit_actions(a)
            .await
            .contains(&"domain.deleted".to_owned())
    );
    let response = app
        .api(Method::GET, &format!("{}/{id}", domains_path(a)), owner)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let globex = app.team("globex").await;
    claimed(&app, &globex.owner.token, &globex.account, "acme.example").await;
}

#[tokio::test]
async fn one_account_at_a_time_verifies_a_domain() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(vec![dns.addr]).await;
    let acme = app.team("acme").await;
    let globex = app.team("globex").await;
    let (acme_token, globex_token) = (&acme.owner.token, &globex.owner.token);
    // Pending claims by several accounts coexist.
    let ours = claimed(&app, acme_token, &acme.account, "shared.example").await;
    let theirs = claimed(&app, globex_token, &globex.account, "shared.example").await;
    let values = [&ours, &theirs].map(|claim| claim["verification"]["value"].as_str().unwrap());
    assert_ne!(values[0], values[1]);
    dns.publish("_tessera-challenge.shared.example", &values);
    assert_eq!(
        verify(&app, acme_token, &acme.account, &ours)
            .await
            .status(),
        200
    );
    // The other account's claim cannot verify, however right its record, nor claim anew.
    let problem = expect_problem(
        verify(&app, globex_token, &globex.account, &theirs).await,
        409,
        "domain_taken",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("shared.example"),
        "{problem}"
    );
    let third = app.team("third").await;
    expect_problem(
        claim(&app, &third.owner.token, &third.account, "Shared.Example").await,
        409,
        "domain_taken",
    )
    .await;
    assert_eq!(
        email_domains(&app, globex_token, &globex.account).await,
        json!([])
    );
    assert_eq!(
        email_domains(&app, acme_token, &acme.account).await,
        json!(["shared.example"])
    );
}

#[tokio::test]
async fn a_dns_failure_or_timeout_is_a_failed_verification_not_a_server_error() {
    // Nothing listens on the first address; the second takes queries and never answers.
    let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for server in [nobody, silent.local_addr().unwrap()] {
        let app = app_with_dns(vec![server]).await;
        let acme = app.team("acme").await;
        let domain = claimed(&app, &acme.owner.token, &acme.account, "acme.example").await;
        let started = std::time::Instant::now();
        let response = verify(&app, &acme.owner.token, &acme.account, &domain).await;
        let problem = expect_problem(response, 409, "verification_failed").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("_tessera-challenge.acme.example"),
            "{problem}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_account_checks_its_domains_a_limited_number_of_times_an_hour() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(vec![dns.addr]).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    let domain = claimed(&app, owner, a, "acme.example").await;
    for _ in 0..tessera::rate_limit::DOMAIN_CHECKS_PER_ACCOUNT {
        let response = verify(&app, owner, a, &domain).await;
        expect_problem(response, 409, "verification_failed").await;
    }
    let response = verify(&app, owner, a, &domain).await;
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 429, "rate_limited").await;
    // Another account's checks are its own.
    let globex = app.team("globex").await;
    let theirs = claimed(&app, &globex.owner.token, &globex.account, "globex.example").await;
    let response = verify(&app, &globex.owner.token, &globex.account, &theirs).await;
    expect_problem(response, 409, "verification_failed").await;
}

#[tokio::test]
async fn what_is_not_a_domain_name_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let long = format!("{}example", "a.".repeat(125));
    for bad in [
        json!("localhost"),
        json!("example.com."),
        json!("10.0.0.1"),
        json!("[::1]"),
        json!("exa mple.com"),
        json!("under_score.example"),
        json!("https://example.com"),
        json!(""),
        json!(long),
        json!(42),
    ] {
        let response = app
            .api(
                Method::POST,
                &domains_path(&acme.account),
                &acme.owner.token,
            )
            .json(&json!({ "domain": bad }))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "domain", "{bad}: {problem}");
    }
    let unicode = claimed(&app, &acme.owner.token, &acme.account, "Bücher.Example").await;
    assert_eq!(unicode["domain"], "xn--bcher-kva.example");
}

#[tokio::test]
async fn domains_need_account_write() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let a = acme.account.as_str();
    let domain = claimed(&app, &acme.admin.token, a, "acme.example").await;
    let id = domain["id"].as_str().unwrap();
    let paths = [
        (Method::GET, domains_path(a)),
        (Method::POST, domains_path(a)),
        (Method::GET, format!("{}/{id}", domains_path(a))),
        (Method::POST, format!("{}/{id}/verify", domains_path(a))),
        (Method::DELETE, format!("{}/{id}", domains_path(a))),
    ];
    for (user, status) in [
        (&acme.member, 403),
        (&acme.viewer, 403),
        (&acme.outsider, 404),
    ] {
        for (method, path) in &paths {
            let response = app
                .api(method.clone(), path, &user.token)
                .json(&json!({"domain": "mine.example"}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                status,
                "{method} {path} as {}",
                user.email
            );
        }
    }
    // Another account's domain id under one's own account is no domain.
    let globex = app.team("globex").await;
    let response = app
        .api(
            Method::GET,
            &format!("{}/{id}", domains_path(&globex.account)),
            &globex.owner.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let listed = read(&app, &acme.admin.token, &domains_path(a)).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

async fn set_auto_join(
    app: &TestApp,
    token: &str,
    account: &str,
    value: Value,
) -> reqwest::Response {
    app.api(Method::PATCH, &format!("/v1/accounts/{account}"), token)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"settings": {"domain_auto_join": value}}).to_string())
        .send()
        .await
        .unwrap()
}

/// Signs up through the hosted page and follows the emailed verification link.
async fn sign_up_and_verify(app: &TestApp, email: &str) {
    let response = app
        .submit_form(
            "/signup",
            "/signup",
            &[
                ("email", email),
                ("password", "a brand new passphrase"),
                ("name", "New"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "sign up {email}");
    let link = crate::login::link_in_last_email(app, email).await;
    assert!(link.starts_with("/verify-email?token="), "{link}");
    assert_eq!(app.get(&link).await.status(), 200, "verify {email}");
}

async fn member_roles(app: &TestApp, token: &str, account: &str) -> HashMap<String, String> {
    let members = read(
        app,
        token,
        &format!("/v1/accounts/{account}/members?limit=100"),
    )
    .await;
    members["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|member| {
            Some((
                member["email"].as_str()?.to_owned(),
                member["role"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn a_user_who_verifies_an_address_on_a_verified_domain_joins_with_the_auto_join_role() {
    let dns = DnsServer::start().await;
    let app = app_with_dns(vec![dns.addr]).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    let domain = claimed(&app, owner, a, "verified.example").await;
    let value = domain["verification"]["value"].as_str().unwrap();
    dns.publish("_tessera-challenge.verified.example", &[value]);
    assert_eq!(verify(&app, owner, a, &domain).await.status(), 200);
    // A claim not verified lets nobody in.
    claimed(&app, owner, a, "pending.example").await;
    let shown = read(&app, owner, &format!("/v1/accounts/{a}")).await;
    assert_eq!(shown["settings"]["domain_auto_join"], "off");

    // Off: verifying an address on the domain joins nothing.
    sign_up_and_verify(&app, "early@verified.example").await;
    let response = set_auto_join(&app, &acme.admin.token, a, json!("member")).await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["settings"]["domain_auto_join"], "member");

    sign_up_and_verify(&app, "ada@verified.example").await;
    sign_up_and_verify(&app, "bob@pending.example").await;
    sign_up_and_verify(&app, "eve@other.example").await;
    let roles = member_roles(&app, owner, a).await;
    assert_eq!(
        roles.get("ada@verified.example").map(String::as_str),
        Some("member"),
        "{roles:?}"
    );
    for outside in [
        "early@verified.example",
        "bob@pending.example",
        "eve@other.example",
    ] {
        assert!(!roles.contains_key(outside), "{outside}: {roles:?}");
    }
    let path = format!("/v1/accounts/{a}/audit-logs?action=member.added");
    let events = read(&app, owner, &path).await;
    let joined = &events["data"][0];
    assert_eq!(
        joined["details"],
        json!({"role": "member", "via": "domain_auto_join"}),
        "{joined}"
    );

    // Confirming a changed address verifies it too: the domain lets its owner in.
    let password = "a sturdy passphrase";
    let carol = app.user_with("carol@other.example", Some(password)).await;
    let body = json!({"email": "carol@verified.example", "current_password": password});
    let response = app
        .api(Method::POST, "/v1/me/email", &carol.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let mails = app.emails_to("carol@verified.example").await;
    let mail = mails.last().expect("the confirmation mail");
    let start = mail.find("/confirm-email?token=").expect("the link");
    let token: String = mail[start..]
        .trim_start_matches("/confirm-email?token=")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let confirmed = app.get(&format!("/confirm-email?token={token}")).await;
    assert_eq!(confirmed.status(), 200);
    let roles = member_roles(&app, owner, a).await;
    assert_eq!(
        roles.get("carol@verified.example").map(String::as_str),
        Some("member"),
        "{roles:?}"
    );

    // Turned off again: the next one stays out.
    assert_eq!(
        set_auto_join(&app, owner, a, json!("off")).await.status(),
        200
    );
    sign_up_and_verify(&app, "late@verified.example").await;
    assert!(
        !member_roles(&app, owner, a)
            .await
            .contains_key("late@verified.example")
    );
}

#[tokio::test]
async fn auto_join_takes_members_write_and_a_role_the_caller_may_grant() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let a = acme.account.as_str();
    let response = app
        .api(Method::POST, &format!("/v1/accounts/{a}/roles"), &acme.owner.token)
        .json(&json!({"id": "deleter", "name": "Deleter", "permissions": ["account:read", "account:delete"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // An admin may not hand out what it may not do: the owner's role, or a custom role with
    // account:delete.
    for role in ["owner", "deleter"] {
        let response = set_auto_join(&app, &acme.admin.token, a, json!(role)).await;
        expect_problem(response, 403, "forbidden").await;
    }
    for user in [&acme.member, &acme.viewer] {
        let response = set_auto_join(&app, &user.token, a, json!("viewer")).await;
        expect_problem(response, 403, "forbidden").await;
    }
    for bad in [json!("no-such-role"), json!(42), json!("Not A Role")] {
        let response = set_auto_join(&app, &acme.admin.token, a, bad.clone()).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(
            problem["errors"][0]["field"], "settings.domain_auto_join",
            "{bad}: {problem}"
        );
    }
    assert_eq!(
        set_auto_join(&app, &acme.owner.token, a, json!("deleter"))
            .await
            .status(),
        200
    );
    assert_eq!(
        set_auto_join(&app, &acme.admin.token, a, json!("viewer"))
            .await
            .status(),
        200
    );
}
