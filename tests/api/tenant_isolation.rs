//! Another tenant's caller learns nothing: every account endpoint answers 404, exactly as
//! for an account that does not exist, and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::billing::{create, id, search};
use crate::helpers::{DnsServer, TestApp};

#[tokio::test]
async fn every_account_endpoint_is_not_found_for_another_tenant() {
    let dns = DnsServer::start().await;
    let app = TestApp::spawn_with(|config| {
        config.dns_servers = vec![dns.addr];
        config.webhook_block_private = false;
    })
    .await;
    let acme = app.team("acme").await;
    let globex = app.team("globex").await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", acme.account),
            &acme.owner.token,
        )
        .json(&json!({"email": "guest@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invitation: String = sqlx::query_scalar(
        "select id from invitations where account_id = $1 and status = 'pending'",
    )
    .bind(&acme.account)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let a = &acme.account;
    let domain: Value = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{a}/domains"),
            &acme.owner.token,
        )
        .json(&json!({"domain": "acme.example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let domain = domain["id"].as_str().unwrap();
    app.verified_domain(&dns, &acme.owner.token, a, "sso.acme.example")
        .await;
    let sso: Value = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{a}/sso-connections"),
            &acme.owner.token,
        )
        .json(&sso_connection("sso.acme.example"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sso = sso["id"].as_str().unwrap();
    let owner = &acme.owner;
    let sub = id(&create(&app, owner, a, "subscriptions", json!({"plan": "pro"})).await);
    let invoice = json!({"currency": "eur", "subscription_id": sub});
    let invc = id(&create(&app, owner, a, "invoices", invoice).await);
    let payment = json!({"amount": 1, "currency": "eur", "invoice_id": invc});
    let pay = id(&create(&app, owner, a, "payments", payment).await);
    let member = &acme.member.id;
    let patch = json!({"name": "Pwned"});
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/accounts/{a}"), None),
        (Method::PATCH, format!("/v1/accounts/{a}"), Some(patch)),
        (Method::DELETE, format!("/v1/accounts/{a}"), None),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}?cascade=true"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/children"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/children"),
            Some(json!({"name": "Child"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/move"),
            Some(json!({"parent_id": globex.account})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/move"),
            Some(json!({"parent_id": null})),
        ),
        (Method::GET, format!("/v1/accounts/{a}/onboarding"), None),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/onboarding"),
            Some(json!({"steps": {"first_run": true}})),
        ),
        (Method::GET, format!("/v1/accounts/{a}/profile"), None),
        (
            Method::PUT,
            format!("/v1/accounts/{a}/profile"),
            Some(json!({"business_name": "pwned"})),
        ),
        (Method::GET, format!("/v1/accounts/{a}/members"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/members"),
            Some(json!({"user_id": globex.owner.id, "role": "owner"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/members/{member}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/members/{member}"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/members/{member}"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/invites"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invites"),
            Some(json!({"email": "spy@example.com", "role": "owner"})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/invites/{invitation}"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/files"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/files/uploads"),
            Some(json!({"key": "x.txt", "content_type": "text/plain"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/files/downloads"),
            Some(json!({"key": "x.txt"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/files/multipart"),
            Some(json!({"key": "x.bin", "content_type": "application/octet-stream"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/files/multipart/v1.x/parts"),
            Some(json!({"part_numbers": [1]})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/files/multipart/v1.x/complete"),
            Some(json!({"parts": [{"part_number": 1, "etag": "\"e\""}]})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/files/multipart/v1.x"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/files/dir/x.txt"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/domains"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/domains"),
            Some(json!({"domain": "globex.example"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/domains/{domain}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/domains/{domain}/verify"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/domains/{domain}"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/sso-connections"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/sso-connections"),
            Some(sso_connection("globex.example")),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            Some(json!({"default_role": "owner", "domains": ["globex.example"]})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/subscriptions"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/subscriptions"),
            Some(json!({"plan": "pwned"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/subscriptions/{sub}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/subscriptions/{sub}"),
            Some(json!({"plan": "pwned"})),
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/subscriptions/{sub}"),
            None,
        ),
        (Method::GET, format!("/v1/accounts/{a}/invoices"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invoices"),
            Some(json!({"currency": "eur"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/invoices/{invc}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/invoices/{invc}"),
            Some(json!({"status": "void"})),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invoices/delete"),
            Some(json!({"query": "status:draft"})),
        ),
        (Method::GET, format!("/v1/accounts/{a}/payments"), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/payments"),
            Some(json!({"amount": 1, "currency": "eur"})),
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/payments/{pay}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/payments/delete"),
            Some(json!({"query": "status:pending"})),
        ),
    ];
    let globex_token: Value = app
        .api(Method::POST, "/v1/auth/account-token", &globex.owner.token)
        .json(&json!({"account_id": globex.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let globex_scoped = globex_token["access_token"].as_str().unwrap().to_owned();
    let missing = tessera::ids::AccountId::generate().to_string();
    for token in [&globex.owner.token, &globex_scoped, &acme.outsider.token] {
        for (method, path, body) in &endpoints {
            let mut request = app.api(method.clone(), path, token);
            if let Some(body) = body {
                request = if *method == Method::PATCH && !path.contains("/members/") {
                    request
                        .header("content-type", "application/merge-patch+json")
                        .body(body.to_string())
                } else {
                    request.json(body)
                };
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "not_found", "{method} {path}");
            // Indistinguishable from an account that does not exist.
            let nowhere = path.replace(a.as_str(), &missing);
            let mut request = app.api(method.clone(), &nowhere, token);
            if let Some(body) = body {
                request = if *method == Method::PATCH && !path.contains("/members/") {
                    request
                        .header("content-type", "application/merge-patch+json")
                        .body(body.to_string())
                } else {
                    request.json(body)
                };
            }
            let absent: Value = request.send().await.unwrap().json().await.unwrap();
            assert_eq!(absent, problem, "{method} {path}");
        }
        let response = app
            .api(Method::POST, "/v1/auth/account-token", token)
            .json(&json!({"account_id": a}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = app
            .api(Method::POST, "/v1/accounts", token)
            .json(&json!({"name": "Inside", "parent_id": a}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    // Nor can another tenant hang its own account under this one.
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/move", globex.account),
            &globex.owner.token,
        )
        .json(&json!({"parent_id": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Nothing changed.
    let shown: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{a}"),
            &acme.viewer.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "acme Inc");
    let members: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{a}/members"),
            &acme.viewer.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The four members and the pending invitation of the guest.
    assert_eq!(members["data"].as_array().unwrap().len(), 5);
    let actions = app.audit_actions(a).await;
    assert_eq!(
        actions.iter().filter(|x| x.starts_with("account.")).count(),
        1
    );
    assert_eq!(
        actions
            .iter()
            .filter(|x| x.starts_with("sso_connection."))
            .collect::<Vec<_>>(),
        ["sso_connection.created"]
    );
    // The three billing records, as they were made.
    for rest in ["subscriptions", "invoices", "payments"] {
        let ids = search(&app, &acme.owner, a, rest, "").await;
        assert_eq!(ids.len(), 1, "{rest}");
    }
    let billing_events = app
        .audit_actions(a)
        .await
        .into_iter()
        .filter(|x| {
            ["subscription.", "invoice.", "payment."]
                .iter()
                .any(|kind| x.starts_with(kind))
                && !x.ends_with(".created")
        })
        .collect::<Vec<_>>();
    assert!(billing_events.is_empty(), "{billing_events:?}");
}

/// A body that creates an SSO connection for `domain`.
fn sso_connection(domain: &str) -> Value {
    json!({
        "name": "Walk",
        "issuer": "https://idp.walk.example",
        "client_id": "walk",
        "client_secret": "walk-secret",
        "domains": [domain],
        "default_role": "viewer",
    })
}

/// The permission each account endpoint asks for (API.md §11), and a body that would pass.
fn guarded_endpoints(
    a: &str,
    fixtures: &Fixtures,
) -> Vec<(Method, String, Option<Value>, &'static str)> {
    let Fixtures {
        client,
        key,
        invitation,
        viewer,
        role,
        domain,
        sso,
        subscription,
        invoice,
        payment,
        upload,
        part_etag,
        dropped_upload,
    } = fixtures;
    let members = format!("/v1/accounts/{a}/members");
    let files = format!("/v1/accounts/{a}/files");
    vec![
        (
            Method::GET,
            format!("/v1/accounts/{a}"),
            None,
            "account:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/children"),
            None,
            "account:read",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}"),
            Some(json!({"name": "Renamed"})),
            "account:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/children"),
            Some(json!({"name": "Child"})),
            "account:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/move"),
            Some(json!({"parent_id": null})),
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/onboarding"),
            None,
            "account:read",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/onboarding"),
            Some(json!({"steps": {"first_run": true}})),
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/profile"),
            None,
            "account:read",
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{a}/profile"),
            Some(json!({"business_name": "Walked"})),
            "account:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}"),
            Some(json!({"billing_email": "billing@example.com"})),
            "billing:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}"),
            Some(json!({"settings": {"require_mfa": true}})),
            "account:delete",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}"),
            Some(json!({"settings": {"domain_auto_join": "viewer"}})),
            "members:write",
        ),
        (Method::GET, members.clone(), None, "members:read"),
        (
            Method::GET,
            format!("{members}/{viewer}"),
            None,
            "members:read",
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"email": "new@example.com", "role": "viewer"})),
            "members:write",
        ),
        (
            Method::PATCH,
            format!("{members}/{viewer}"),
            Some(json!({"role": "viewer"})),
            "members:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/invites"),
            None,
            "invites:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invites"),
            Some(json!({"email": "guest2@example.com", "role": "viewer"})),
            "invites:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/roles"),
            None,
            "members:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/roles/{role}"),
            None,
            "members:read",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/roles"),
            Some(json!({"id": "walker", "name": "Walker", "permissions": ["account:read"]})),
            "roles:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/roles/{role}"),
            Some(json!({"description": "walked"})),
            "roles:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/clients"),
            None,
            "clients:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/clients/{client}"),
            None,
            "clients:read",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/clients/{client}"),
            Some(json!({"name": "Renamed"})),
            "clients:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/clients"),
            Some(json!({
                "name": "Walk",
                "redirect_uris": ["https://walk.example.com/cb"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic"
            })),
            "clients:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/clients/{client}/secret"),
            None,
            "clients:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/api-keys"),
            None,
            "api_keys:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/api-keys"),
            Some(json!({"name": "walk", "role": "viewer"})),
            "api_keys:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/api-keys/{key}/roll"),
            None,
            "api_keys:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/audit-logs"),
            None,
            "audit:read",
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{a}/webhook"),
            Some(json!({"url": "https://hooks.example.com/walk"})),
            "webhooks:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/webhook"),
            None,
            "webhooks:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/webhook/rotate-secret"),
            None,
            "webhooks:write",
        ),
        (Method::GET, files.clone(), None, "files:read"),
        (
            Method::POST,
            format!("{files}/downloads"),
            Some(json!({"key": "walk.txt"})),
            "files:read",
        ),
        (
            Method::POST,
            format!("{files}/uploads"),
            Some(json!({"key": "walk.txt", "content_type": "text/plain"})),
            "files:write",
        ),
        (
            Method::POST,
            format!("{files}/multipart"),
            Some(json!({"key": "walk.bin", "content_type": "application/octet-stream"})),
            "files:write",
        ),
        (
            Method::POST,
            format!("{files}/multipart/{upload}/parts"),
            Some(json!({"part_numbers": [1]})),
            "files:write",
        ),
        (
            Method::POST,
            format!("{files}/multipart/{upload}/complete"),
            Some(json!({"parts": [{"part_number": 1, "etag": part_etag}]})),
            "files:write",
        ),
        (
            Method::DELETE,
            format!("{files}/multipart/{dropped_upload}"),
            None,
            "files:write",
        ),
        (
            Method::DELETE,
            format!("{files}/walk.txt"),
            None,
            "files:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/domains"),
            None,
            "account:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/domains"),
            Some(json!({"domain": "walk.example"})),
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/domains/{domain}"),
            None,
            "account:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/domains/{domain}/verify"),
            None,
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/sso-connections"),
            None,
            "account:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/sso-connections"),
            Some(sso_connection("walk-sso.example")),
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            None,
            "account:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            Some(json!({"name": "Walked"})),
            "account:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/subscriptions"),
            None,
            "billing:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/subscriptions/{subscription}"),
            None,
            "billing:read",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/subscriptions"),
            Some(json!({"plan": "walk"})),
            "billing:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/subscriptions/{subscription}"),
            Some(json!({"quantity": 2})),
            "billing:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/invoices"),
            None,
            "billing:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/invoices/{invoice}"),
            None,
            "billing:read",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/invoices"),
            Some(json!({"currency": "eur"})),
            "billing:write",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{a}/invoices/{invoice}"),
            Some(json!({"status": "open"})),
            "billing:write",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/payments"),
            None,
            "billing:read",
        ),
        (
            Method::GET,
            format!("/v1/accounts/{a}/payments/{payment}"),
            None,
            "billing:read",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/payments"),
            Some(json!({"amount": 1, "currency": "eur"})),
            "billing:write",
        ),
        // Destructive last: with the permission, they happen.
        (
            Method::POST,
            format!("/v1/accounts/{a}/invoices/delete"),
            Some(json!({"query": "status:draft"})),
            "billing:write",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{a}/payments/delete"),
            Some(json!({"query": "status:pending"})),
            "billing:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/subscriptions/{subscription}"),
            None,
            "billing:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/invites/{invitation}"),
            None,
            "invites:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/webhook"),
            None,
            "webhooks:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/clients/{client}"),
            None,
            "clients:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/api-keys/{key}"),
            None,
            "api_keys:write",
        ),
        (
            Method::DELETE,
            format!("{members}/{viewer}"),
            None,
            "members:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/domains/{domain}"),
            None,
            "account:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/sso-connections/{sso}"),
            None,
            "account:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}/roles/{role}"),
            None,
            "roles:write",
        ),
        (
            Method::DELETE,
            format!("/v1/accounts/{a}?cascade=true"),
            None,
            "account:delete",
        ),
    ]
}

/// What the walk's endpoints name.
struct Fixtures {
    client: String,
    key: String,
    invitation: String,
    viewer: String,
    role: String,
    /// A claim whose challenge the walk's DNS server publishes.
    domain: String,
    /// An SSO connection (on a domain of its own, verified).
    sso: String,
    subscription: String,
    invoice: String,
    payment: String,
    /// A multipart upload whose part 1 (this ETag) is uploaded, and one to abort; the file
    /// `walk.txt` is stored.
    upload: String,
    part_etag: String,
    dropped_upload: String,
}

#[tokio::test]
async fn every_account_endpoint_needs_its_permission() {
    let dns = DnsServer::start().await;
    let app = &TestApp::spawn_with(|config| {
        // The webhook's address is not resolved when private ones are allowed: no network here.
        config.webhook_block_private = false;
        config.dns_servers = vec![dns.addr];
    })
    .await;
    let acme = app.team("perm").await;
    let a = acme.account.as_str();
    let owner = &acme.owner.token;
    let post = |path: String, body: Value| async move {
        let response = app
            .api(Method::POST, &path, owner)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{path}");
        response.json::<Value>().await.unwrap()
    };
    let catalogue: Value = app
        .api(Method::GET, "/v1/permissions", owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let catalogue: Vec<String> = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(catalogue.len(), 16);
    // For each permission, a member whose role has everything else, and one whose role has
    // it and what granting a viewer takes (the walk's bodies grant `viewer`).
    let mut holders = std::collections::BTreeMap::new();
    for permission in &catalogue {
        let slug = permission.replace(':', "-");
        let all_but: Vec<&String> = catalogue.iter().filter(|p| *p != permission).collect();
        let mut with = vec![permission.as_str(), "account:read", "members:read"];
        // A webhook delivers the audit log: configuring one needs reading it too.
        if permission == "webhooks:write" {
            with.push("audit:read");
        }
        let mut pair = Vec::new();
        for (id, permissions) in [
            (format!("no-{slug}"), json!(all_but)),
            (format!("only-{slug}"), json!(with)),
        ] {
            let path = format!("/v1/accounts/{a}/roles");
            post(
                path,
                json!({"id": id, "name": id, "permissions": permissions}),
            )
            .await;
            let holder = app.user(&format!("{id}@example.com")).await;
            app.verify_email(&holder).await;
            app.add_member(&acme.owner, a, &holder, &id).await;
            pair.push(holder.token);
        }
        holders.insert(permission.clone(), pair);
    }
    let target_role = "walk-target";
    post(
        format!("/v1/accounts/{a}/roles"),
        json!({"id": target_role, "name": "Target", "permissions": ["account:read"]}),
    )
    .await;
    let client = post(
        format!("/v1/accounts/{a}/clients"),
        json!({
            "name": "Target",
            "redirect_uris": ["https://target.example.com/cb"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic"
        }),
    )
    .await;
    let key = post(
        format!("/v1/accounts/{a}/api-keys"),
        json!({"name": "target", "role": "viewer"}),
    )
    .await;
    let invitation = post(
        format!("/v1/accounts/{a}/invites"),
        json!({"email": "target@example.com", "role": "viewer"}),
    )
    .await;
    let domain = post(
        format!("/v1/accounts/{a}/domains"),
        json!({"domain": "target.example"}),
    )
    .await;
    let subscription = post(
        format!("/v1/accounts/{a}/subscriptions"),
        json!({"plan": "target"}),
    )
    .await;
    let invoice = post(
        format!("/v1/accounts/{a}/invoices"),
        json!({"currency": "eur", "subscription_id": subscription["id"]}),
    )
    .await;
    let payment = post(
        format!("/v1/accounts/{a}/payments"),
        json!({"amount": 1, "currency": "eur", "invoice_id": invoice["id"]}),
    )
    .await;
    dns.publish(
        "_tessera-challenge.target.example",
        &[domain["verification"]["value"].as_str().unwrap()],
    );
    app.verified_domain(&dns, owner, a, "fixture-sso.example")
        .await;
    app.verified_domain(&dns, owner, a, "walk-sso.example")
        .await;
    let sso = post(
        format!("/v1/accounts/{a}/sso-connections"),
        sso_connection("fixture-sso.example"),
    )
    .await;
    let file_upload = |path: String, body: Value| async move {
        let response = app
            .api(Method::POST, &path, owner)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        response.json::<Value>().await.unwrap()
    };
    let files = format!("/v1/accounts/{a}/files");
    let stored = file_upload(
        format!("{files}/uploads"),
        json!({"key": "walk.txt", "content_type": "text/plain"}),
    )
    .await;
    let put = |url: String, content_type: Option<&'static str>| async move {
        let mut request = app.http.put(url).body("walk");
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["etag"].to_str().unwrap().to_owned()
    };
    put(
        stored["url"].as_str().unwrap().to_owned(),
        Some("text/plain"),
    )
    .await;
    let upload_of = |key: &'static str| {
        file_upload(
            format!("{files}/multipart"),
            json!({"key": key, "content_type": "application/octet-stream"}),
        )
    };
    let upload = upload_of("walk.bin").await["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dropped_upload = upload_of("dropped.bin").await["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts = file_upload(
        format!("{files}/multipart/{upload}/parts"),
        json!({"part_numbers": [1]}),
    )
    .await;
    let part_etag = put(parts["parts"][0]["url"].as_str().unwrap().to_owned(), None).await;
    let fixtures = Fixtures {
        upload,
        part_etag,
        dropped_upload,
        client: client["client_id"].as_str().unwrap().to_owned(),
        key: key["id"].as_str().unwrap().to_owned(),
        invitation: invitation["id"].as_str().unwrap().to_owned(),
        viewer: acme.viewer.id.clone(),
        role: target_role.to_owned(),
        domain: domain["id"].as_str().unwrap().to_owned(),
        sso: sso["id"].as_str().unwrap().to_owned(),
        subscription: subscription["id"].as_str().unwrap().to_owned(),
        invoice: invoice["id"].as_str().unwrap().to_owned(),
        payment: payment["id"].as_str().unwrap().to_owned(),
    };
    let send = |method: &Method, path: &str, body: &Option<Value>, token: &str| {
        let mut request = app.api(method.clone(), path, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send()
    };
    let endpoints = guarded_endpoints(a, &fixtures);
    for (method, path, body, permission) in &endpoints {
        let [without, with] = &holders[*permission][..] else {
            unreachable!()
        };
        let response = send(method, path, body, without).await.unwrap();
        assert_eq!(
            response.status(),
            403,
            "{method} {path} without {permission}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "forbidden", "{method} {path}");
        // Its creator owns a child account: that takes every permission of admin as well;
        // an SSO connection's default_role is a grant, which takes members:write as well;
        // making an account a root takes its owner.
        let with = match (
            method,
            path.ends_with("/children"),
            path.ends_with("/sso-connections"),
        ) {
            _ if path.ends_with("/move") => &acme.owner.token,
            (&Method::POST, true, _) | (&Method::POST, _, true) => &acme.admin.token,
            _ => with,
        };
        let response = send(method, path, body, with).await.unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path} with {permission}: {} {}",
            response.status(),
            response.text().await.unwrap()
        );
    }
    // The last endpoint deleted the account: nothing of it is left to act on.
    let response = app
        .api(Method::GET, &format!("/v1/accounts/{a}"), owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
