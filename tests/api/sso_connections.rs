//! Account SSO connections (API.md §12), the management half: create, list, show, merge
//! patch, delete; the client secret is write-only and sealed; domains must be the account's
//! verified ones, each on one connection; `default_role` is a grant on the setter's word;
//! issuers must not point inside the network when private addresses are blocked.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::ids::SsoConnectionId;
use tessera::manage::sso_connections::{client_secret, for_email};
use tessera::store::sso_connections;

use crate::helpers::{DnsServer, TestApp, expect_problem};

const SECRET: &str = "upstream-client-secret-0123456789";

/// An app whose domain checks ask `dns`, with private addresses allowed: the upstream of the
/// login tests runs on `http://127.0.0.1`.
async fn app_with(dns: &DnsServer) -> TestApp {
    let servers = vec![dns.addr];
    TestApp::spawn_with(|config| {
        config.dns_servers = servers;
        config.webhook_block_private = false;
    })
    .await
}

fn connections_path(account: &str) -> String {
    format!("/v1/accounts/{account}/sso-connections")
}

fn connection_body(domains: &[&str]) -> Value {
    json!({
        "name": "Acme Okta",
        "issuer": "http://127.0.0.1:9/oidc/",
        "client_id": "tessera-at-acme",
        "client_secret": SECRET,
        "domains": domains,
        "default_role": "member",
        "jit": true,
    })
}

async fn create(app: &TestApp, token: &str, account: &str, body: &Value) -> reqwest::Response {
    app.api(Method::POST, &connections_path(account), token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn created(app: &TestApp, token: &str, account: &str, body: &Value) -> Value {
    let response = create(app, token, account, body).await;
    assert_eq!(response.status(), 201, "create");
    response.json().await.unwrap()
}

async fn patch(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.api(Method::PATCH, path, token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The body of a response as text, to search for what must never be in it.
async fn text(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_connection_is_created_listed_shown_changed_and_deleted_without_showing_its_secret() {
    let dns = DnsServer::start().await;
    let app = app_with(&dns).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    for domain in ["acme.example", "acme-labs.example"] {
        app.verified_domain(&dns, owner, a, domain).await;
    }

    let response = create(&app, owner, a, &connection_body(&["Acme.Example"])).await;
    let body = text(response, 201).await;
    assert!(!body.contains(SECRET), "{body}");
    let connection: Value = serde_json::from_str(&body).unwrap();
    let id = connection["id"].as_str().unwrap();
    assert!(id.starts_with("ssoc_"), "{connection}");
    assert_eq!(connection["account_id"], a);
    assert_eq!(connection["name"], "Acme Okta");
    assert_eq!(connection["issuer"], "http://127.0.0.1:9/oidc/", "as given");
    assert_eq!(connection["client_id"], "tessera-at-acme");
    assert_eq!(connection["client_secret_set"], true);
    assert_eq!(connection["domains"], json!(["acme.example"]));
    assert_eq!(connection["default_role"], "member");
    assert_eq!(connection["jit"], true);
    assert_eq!(connection["enforce"], false);
    assert_eq!(
        connection["redirect_uri"],
        format!("{}/login/sso/{id}/callback", app.state.issuer.as_str())
    );
    assert!(connection["created_at"].is_string(), "{connection}");
    assert_eq!(connection["created_at"], connection["updated_at"]);

    let path = format!("{}/{id}", connections_path(a));
    let shown = text(
        app.api(Method::GET, &path, owner).send().await.unwrap(),
        200,
    )
    .await;
    assert!(!shown.contains(SECRET));
    assert_eq!(serde_json::from_str::<Value>(&shown).unwrap(), connection);
    let listed = text(
        app.api(Method::GET, &connections_path(a), owner)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(!listed.contains(SECRET));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["data"], json!([connection]));
    assert_eq!(listed["next_cursor"], Value::Null);

    // What the login side reads: the connection by id and by an address's domain, and the
    // secret opened for it.
    let store = &app.state.store;
    let kek = app.state.keys.key_encryption_key();
    let stored = sso_connections::find_by_id(store.pool(), &SsoConnectionId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.client_secret_sealed.contains(SECRET));
    assert_eq!(client_secret(kek, &stored).unwrap(), SECRET);
    let routed = for_email(store, "Ada@ACME.example").await.unwrap().unwrap();
    assert_eq!(routed.id.as_str(), id);
    assert_eq!(routed.account_id.as_str(), a);
    assert!(
        for_email(store, "ada@acme-labs.example")
            .await
            .unwrap()
            .is_none()
    );

    // A merge patch: a new secret (never echoed), another name, a second domain.
    let new_secret = "a-replaced-upstream-secret-987654";
    let changes = json!({
        "name": "Acme SSO",
        "client_secret": new_secret,
        "domains": ["acme.example", "acme-labs.example"],
        "enforce": true,
    });
    let body = text(patch(&app, owner, &path, &changes).await, 200).await;
    assert!(
        !body.contains(new_secret) && !body.contains(SECRET),
        "{body}"
    );
    let updated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(updated["name"], "Acme SSO");
    assert_eq!(
        updated["domains"],
        json!(["acme-labs.example", "acme.example"])
    );
    assert_eq!(updated["enforce"], true);
    assert_eq!(updated["jit"], true);
    assert_eq!(updated["issuer"], connection["issuer"]);
    let stored = for_email(store, "bob@acme-labs.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client_secret(kek, &stored).unwrap(), new_secret);
    // `application/json` means the same; changing nothing records nothing.
    let response = app
        .api(Method::PATCH, &path, owner)
        .json(&json!({"jit": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Read-only, unknown, mistyped or removed fields are refused.
    for (bad, field) in [
        (
            json!({"redirect_uri": "https://evil.example/cb"}),
            "redirect_uri",
        ),
        (json!({"id": "ssoc_x"}), "id"),
        (json!({"client_secret_set": false}), "client_secret_set"),
        (json!({"colour": "red"}), "colour"),
        (json!({"jit": "yes"}), "jit"),
        (json!({"client_secret": null}), "client_secret"),
        (json!({"name": null}), "name"),
        (json!({"domains": []}), "domains"),
        (json!({"issuer": "https://idp.example/?x=1"}), "issuer"),
    ] {
        let problem = expect_problem(
            patch(&app, owner, &path, &bad).await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{bad}: {problem}");
    }

    let response = app.api(Method::DELETE, &path, owner).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = app.api(Method::GET, &path, owner).send().await.unwrap();
    expect_problem(response, 404, "not_found").await;
    assert!(
        for_email(store, "ada@acme.example")
            .await
            .unwrap()
            .is_none()
    );

    // The trail names each change and never a secret.
    let actions = app.audit_actions(a).await;
    for action in [
        "sso_connection.created",
        "sso_connection.updated",
        "sso_connection.deleted",
    ] {
        assert_eq!(
            actions.iter().filter(|x| *x == action).count(),
            1,
            "{action}: {actions:?}"
        );
    }
    let log = text(
        app.api(
            Method::GET,
            &format!("/v1/accounts/{a}/audit-logs?limit=100"),
            owner,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert!(log.contains("sso_connection.updated"));
    assert!(!log.contains(SECRET) && !log.contains(new_secret), "{log}");
    let log: Value = serde_json::from_str(&log).unwrap();
    let update = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "sso_connection.updated")
        .unwrap();
    assert_eq!(
        update["details"]["fields"],
        json!(["name", "client_secret", "domains", "enforce"])
    );
}

#[tokio::test]
async fn domains_must_be_verified_by_the_account_and_on_one_connection_only() {
    let dns = DnsServer::start().await;
    let app = app_with(&dns).await;
    let acme = app.team("acme").await;
    let globex = app.team("globex").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    app.verified_domain(&dns, owner, a, "acme.example").await;
    app.verified_domain(&dns, owner, a, "acme-labs.example")
        .await;
    app.verified_domain(&dns, &globex.owner.token, &globex.account, "globex.example")
        .await;
    let response = app
        .api(Method::POST, &format!("/v1/accounts/{a}/domains"), owner)
        .json(&json!({"domain": "pending.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // Pending, another account's, never claimed.
    for domain in ["pending.example", "globex.example", "nowhere.example"] {
        let response = create(&app, owner, a, &connection_body(&[domain])).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "domains", "{problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(domain),
            "{problem}"
        );
    }
    // Listed twice in one request.
    let response = create(
        &app,
        owner,
        a,
        &connection_body(&["acme.example", "ACME.example"]),
    )
    .await;
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "domains[1]", "{problem}");

    // On a second connection: 409 naming the first, at creation and by a patch.
    let first = created(&app, owner, a, &connection_body(&["acme.example"])).await;
    let first_id = first["id"].as_str().unwrap();
    let response = create(
        &app,
        owner,
        a,
        &connection_body(&["acme-labs.example", "acme.example"]),
    )
    .await;
    let problem = expect_problem(response, 409, "domain_in_use").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("acme.example") && detail.contains(first_id),
        "{detail}"
    );
    let second = created(&app, owner, a, &connection_body(&["acme-labs.example"])).await;
    let second_path = format!("{}/{}", connections_path(a), second["id"].as_str().unwrap());
    let response = patch(
        &app,
        owner,
        &second_path,
        &json!({"domains": ["acme-labs.example", "acme.example"]}),
    )
    .await;
    expect_problem(response, 409, "domain_in_use").await;
    let listed: Value = app
        .api(Method::GET, &connections_path(a), owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_domain_a_connection_routes_cannot_be_deleted() {
    let dns = DnsServer::start().await;
    let app = app_with(&dns).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    let domain = app.verified_domain(&dns, owner, a, "acme.example").await;
    app.verified_domain(&dns, owner, a, "acme-labs.example")
        .await;
    let connection = created(&app, owner, a, &connection_body(&["acme.example"])).await;
    let id = connection["id"].as_str().unwrap();
    let domain_path = format!(
        "/v1/accounts/{a}/domains/{}",
        domain["id"].as_str().unwrap()
    );
    let response = app
        .api(Method::DELETE, &domain_path, owner)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 409, "domain_in_use").await;
    assert!(
        problem["detail"].as_str().unwrap().contains(id),
        "{problem}"
    );
    assert!(
        app.audit_actions(a)
            .await
            .iter()
            .all(|action| action != "domain.deleted")
    );
    // Once the connection lets go of it, it goes.
    let path = format!("{}/{id}", connections_path(a));
    let response = patch(
        &app,
        owner,
        &path,
        &json!({"domains": ["acme-labs.example"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::DELETE, &domain_path, owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn default_role_is_a_grant_the_setter_must_be_allowed_to_make() {
    let dns = DnsServer::start().await;
    let app = app_with(&dns).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    app.verified_domain(&dns, owner, a, "acme.example").await;
    app.verified_domain(&dns, owner, a, "acme-labs.example")
        .await;
    // A member manager: account and members, short of admin's clients, keys, roles …
    let roles_path = format!("/v1/accounts/{a}/roles");
    for (id, permissions) in [
        (
            "manager",
            json!([
                "account:read",
                "account:write",
                "members:read",
                "members:write"
            ]),
        ),
        ("settings", json!(["account:read", "account:write"])),
    ] {
        let response = app
            .api(Method::POST, &roles_path, owner)
            .json(&json!({"id": id, "name": id, "permissions": permissions}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manager = app.user("manager@example.com").await;
    app.add_member(&acme.owner, a, &manager, "manager").await;
    let settings = app.user("settings@example.com").await;
    app.add_member(&acme.owner, a, &settings, "settings").await;

    // The attack: people who sign in later would be admins on the manager's word.
    let mut body = connection_body(&["acme.example"]);
    body["default_role"] = json!("admin");
    let response = create(&app, &manager.token, a, &body).await;
    expect_problem(response, 403, "forbidden").await;
    // Nor owner from an admin.
    body["default_role"] = json!("owner");
    let response = create(&app, &acme.admin.token, a, &body).await;
    expect_problem(response, 403, "forbidden").await;
    // account:write alone sets no role at all.
    body["default_role"] = json!("viewer");
    let response = create(&app, &settings.token, a, &body).await;
    expect_problem(response, 403, "forbidden").await;
    // A role the account does not have.
    body["default_role"] = json!("no-such-role");
    let response = create(&app, &manager.token, a, &body).await;
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "default_role", "{problem}");

    // Viewer is within what the manager may do (member is not: it allows files).
    body["default_role"] = json!("viewer");
    let connection = created(&app, &manager.token, a, &body).await;
    let path = format!(
        "{}/{}",
        connections_path(a),
        connection["id"].as_str().unwrap()
    );
    let response = patch(
        &app,
        &manager.token,
        &path,
        &json!({"default_role": "admin"}),
    )
    .await;
    expect_problem(response, 403, "forbidden").await;
    // Without members:write: the name, yes; the role or turning people's joining on, no.
    let response = patch(&app, &settings.token, &path, &json!({"name": "Renamed"})).await;
    assert_eq!(response.status(), 200);
    for change in [json!({"default_role": "member"}), json!({"jit": false})] {
        let response = patch(&app, &settings.token, &path, &change).await;
        expect_problem(response, 403, "forbidden").await;
    }
    let response = patch(&app, owner, &path, &json!({"default_role": "admin"})).await;
    assert_eq!(response.status(), 200);

    // A custom role a connection joins people with is in use.
    let response = patch(&app, owner, &path, &json!({"default_role": "settings"})).await;
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::DELETE, &format!("{roles_path}/settings"), owner)
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "role_in_use").await;
}

#[tokio::test]
async fn issuers_inside_the_network_are_refused_when_private_addresses_are_blocked() {
    let app = TestApp::spawn().await;
    assert!(app.state.config.webhook_block_private);
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    for issuer in [
        "http://idp.example.com",
        "http://127.0.0.1:9/oidc",
        "https://127.0.0.1/oidc",
        "https://localhost/oidc",
        "https://[::1]/",
        "https://10.0.0.8/",
        "https://169.254.169.254/latest",
        "https://[::ffff:192.168.0.1]/",
        "https://idp.example.com/?tenant=acme",
        "https://idp.example.com/#top",
        "idp.example.com",
    ] {
        let mut body = connection_body(&["acme.example"]);
        body["issuer"] = json!(issuer);
        let response = create(&app, owner, a, &body).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(
            problem["errors"][0]["field"], "issuer",
            "{issuer}: {problem}"
        );
    }
    // A public address passes the issuer's check; the domain is what is missing then.
    let mut body = connection_body(&["acme.example"]);
    body["issuer"] = json!("https://93.184.216.34/oidc");
    let problem = expect_problem(
        create(&app, owner, a, &body).await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "domains", "{problem}");
}

#[tokio::test]
async fn a_connection_goes_with_its_account() {
    let dns = DnsServer::start().await;
    let app = app_with(&dns).await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    app.verified_domain(&dns, owner, a, "acme.example").await;
    created(&app, owner, a, &connection_body(&["acme.example"])).await;
    let response = app
        .api(Method::DELETE, &format!("/v1/accounts/{a}"), owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let store = &app.state.store;
    assert!(
        for_email(store, "ada@acme.example")
            .await
            .unwrap()
            .is_none()
    );
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from sso_connections) + (select count(*) from sso_connection_domains)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(left, 0);
}
