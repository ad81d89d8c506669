//! The superadmin API (`/v1/admin/...`): who may use it, key rotation, creating users and
//! accounts, and the search language of its lists.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::ids::UserId;
use tessera::store::users;

use crate::helpers::{ADMIN_EMAIL, LOGIN_SCOPE, TestApp, TestUser, expect_problem};

/// The bootstrap superadmin with a login token.
pub async fn superadmin(app: &TestApp) -> TestUser {
    let user = users::find_by_email(app.state.store.pool(), ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    TestUser {
        id: user.id.to_string(),
        email: user.email,
        token: app.login_token(user.id.as_str(), LOGIN_SCOPE).await,
    }
}

/// An account-scoped token of the superadmin, for the first account (which they own).
async fn superadmin_account_token(app: &TestApp, admin: &TestUser) -> String {
    let account = crate::discovery::first_account_id(app).await;
    let response = app
        .api(Method::POST, "/v1/auth/account-token", &admin.token)
        .json(&json!({"account_id": account}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn request(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Option<Value>,
) -> reqwest::RequestBuilder {
    let builder = app.http.request(method.clone(), app.url(path));
    match body {
        Some(body) => builder.json(body),
        None => builder,
    }
}

async fn search(app: &TestApp, token: &str, list: &str, q: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/v1/admin/{list}")))
        .query(&[("q", q), ("limit", "100")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The `field` of every result of a search that must succeed, sorted.
async fn found(app: &TestApp, token: &str, list: &str, q: &str, field: &str) -> Vec<String> {
    let response = search(app, token, list, q).await;
    assert_eq!(response.status(), 200, "q={q}");
    let body: Value = response.json().await.unwrap();
    let mut values: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn only_a_superadmin_with_a_user_level_token_may_use_the_admin_api() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let scoped = superadmin_account_token(&app, &admin).await;
    let normal = app.user("normal@example.com").await;
    let endpoints: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::POST, "/v1/admin/keys/rotate", None, 200),
        (
            Method::POST,
            "/v1/admin/users",
            Some(json!({"email": "new@example.com"})),
            201,
        ),
        (
            Method::POST,
            "/v1/admin/accounts",
            Some(json!({"name": "New", "owner": {"email": "boss@example.com"}})),
            201,
        ),
        (Method::GET, "/v1/admin/users?q=new", None, 200),
        (Method::GET, "/v1/admin/accounts?q=name:new", None, 200),
    ];
    for (method, path, body, success) in &endpoints {
        let response = request(&app, method, path, body).send().await.unwrap();
        let problem = expect_problem(response, 401, "unauthorized").await;
        assert!(problem.get("errors").is_none(), "{method} {path}");
        let response = request(&app, method, path, body)
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        expect_problem(response, 401, "invalid_token").await;
        let response = request(&app, method, path, body)
            .bearer_auth(&normal.token)
            .send()
            .await
            .unwrap();
        expect_problem(response, 403, "forbidden").await;
        let response = request(&app, method, path, body)
            .bearer_auth(&scoped)
            .send()
            .await
            .unwrap();
        expect_problem(response, 403, "forbidden").await;
        let response = request(&app, method, path, body)
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), *success, "{method} {path}");
    }

    // A user made superadmin through the API may use it at once; the flag is read per call.
    let response = app
        .api(Method::POST, "/v1/admin/users", &admin.token)
        .json(&json!({"email": "second-admin@example.com", "superadmin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["superadmin"], true);
    let token = app
        .login_token(second["id"].as_str().unwrap(), LOGIN_SCOPE)
        .await;
    let response = search(&app, &token, "users", "").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn rotation_through_the_api_publishes_the_new_key_at_once_and_keeps_the_old_one() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let jwks = |app: &TestApp| {
        let url = app.url("/.well-known/jwks.json");
        async move {
            let jwks: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(&app).await;
    assert_eq!(before.len(), 1);

    let response = app
        .api(Method::POST, "/v1/admin/keys/rotate", &admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let key: Value = response.json().await.unwrap();
    let kid = key["kid"].as_str().unwrap().to_owned();
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kty"], "RSA");
    assert!(key.get("d").is_none(), "no private parts: {key}");
    assert_ne!(kid, before[0]);

    let after = jwks(&app).await;
    assert!(after.contains(&kid), "new kid published at once: {after:?}");
    assert!(
        after.contains(&before[0]),
        "old kid still published: {after:?}"
    );

    // Tokens signed before the rotation still work; new ones carry the new kid.
    let response = app
        .api(Method::GET, "/v1/me", &admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let fresh = app.login_token(&admin.id, LOGIN_SCOPE).await;
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
        Some(kid.as_str())
    );

    let (actor_type, actor_id, account_id): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "select actor_type, actor_id, account_id from audit_events \
             where action = 'signing_key.rotated' and target_id = $1",
        )
        .bind(&kid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(actor_type, "user");
    assert_eq!(actor_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(account_id, None);
}

#[tokio::test]
async fn a_superadmin_creates_users_and_duplicates_conflict() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let response = app
        .api(Method::POST, "/v1/admin/users", &admin.token)
        .json(&json!({"email": "Grace@Example.com", "name": "Grace Hopper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["name"], "Grace Hopper");
    assert_eq!(user["superadmin"], false);
    assert_eq!(user["has_password"], false);
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password_hash").is_none());

    let response = app
        .api(Method::POST, "/v1/admin/users", &admin.token)
        .json(&json!({"email": "grace@example.COM"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 409, "conflict").await;

    for body in [
        json!({"email": "not an email"}),
        json!({"email": "x@example.com", "password": "short"}),
        json!({"email": "x@example.com", "role": "owner"}),
        json!({"email": 5}),
    ] {
        let response = app
            .api(Method::POST, "/v1/admin/users", &admin.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }

    // With a password the user can log in at once.
    let response = app
        .api(Method::POST, "/v1/admin/users", &admin.token)
        .json(&json!({"email": "linus@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["has_password"], true);
    let response = app
        .log_in("linus@example.com", "correct horse battery")
        .await;
    assert_eq!(response.status(), 303);

    let created: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'user.created' and actor_id = $1",
    )
    .bind(&admin.id)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(created, 2);
}

#[tokio::test]
async fn a_superadmin_creates_accounts_with_new_or_existing_owners() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let response = app
        .api(Method::POST, "/v1/admin/accounts", &admin.token)
        .json(
            &json!({"name": "Initech", "owner": {"email": "Bill@Initech.example", "name": "Bill"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let account: Value = response.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["name"], "Initech");
    assert_eq!(account["status"], "active");
    assert_eq!(account["owner"]["created"], true);
    let owner_id = account["owner"]["id"].as_str().unwrap().to_owned();
    let owner = users::find(app.state.store.pool(), &UserId::parse(&owner_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.name.as_deref(), Some("Bill"));
    assert!(owner.password_hash.is_none());
    // The new owner owns it.
    let token = app.login_token(&owner_id, LOGIN_SCOPE).await;
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{account_id}/members/{owner_id}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["role"], "owner");
    let mut actions = app.audit_actions(&account_id).await;
    actions.sort();
    assert_eq!(actions, ["account.created", "member.added"]);

    // An existing user (any case) becomes the owner; nobody is created.
    let existing = app.user("existing@example.com").await;
    let response = app
        .api(Method::POST, "/v1/admin/accounts", &admin.token)
        .json(&json!({"name": "Second", "owner": {"email": "EXISTING@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let account: Value = response.json().await.unwrap();
    assert_eq!(account["owner"]["created"], false);
    assert_eq!(account["owner"]["id"], existing.id.as_str());

    // An existing user's password or name is never set through this endpoint.
    let response = app
        .api(Method::POST, "/v1/admin/accounts", &admin.token)
        .json(&json!({"name": "Third", "owner": {"email": "existing@example.com", "password": "takeover-attempt"}}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;

    for body in [
        json!({"name": "", "owner": {"email": "a@example.com"}}),
        json!({"name": "X", "owner": {"email": "nope"}}),
        json!({"name": "X"}),
        json!({"name": "X", "owner": {"email": "a@example.com", "role": "admin"}}),
        json!({"name": "X", "owner": {"email": "a@example.com"}, "parent_id": "acc_nope"}),
    ] {
        let response = app
            .api(Method::POST, "/v1/admin/accounts", &admin.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "validation_failed").await;
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users where email = 'a@example.com'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(users, 0, "a failed create leaves no owner behind");
}

/// Accounts whose names exercise the search: case, phrases, SQL metacharacters.
async fn seed_accounts(app: &TestApp, admin: &TestUser) -> Vec<(String, String)> {
    let mut created = Vec::new();
    for (name, external_id) in [
        ("Acme Corp", Some("crm-001")),
        ("acme labs", None),
        ("Globex", Some("crm-002")),
        ("50% Off_Deals", None),
        ("500 Offers", None),
        ("O'Brien & Co", None),
        ("Acme-Corporation", None),
    ] {
        let response = app
            .api(Method::POST, "/v1/admin/accounts", &admin.token)
            .json(&json!({"name": name, "owner": {"email": "owner@example.com"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let account: Value = response.json().await.unwrap();
        let id = account["id"].as_str().unwrap().to_owned();
        if let Some(external_id) = external_id {
            let owner_token = app
                .login_token(account["owner"]["id"].as_str().unwrap(), LOGIN_SCOPE)
                .await;
            let response = app
                .api(Method::PATCH, &format!("/v1/accounts/{id}"), &owner_token)
                .header("content-type", "application/merge-patch+json")
                .body(json!({"external_id": external_id}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        created.push((name.to_owned(), id));
    }
    created
}

#[tokio::test]
async fn account_search_understands_fields_wildcards_phrases_and_boolean_operators() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let accounts = seed_accounts(&app, &admin).await;
    let names = |q: &'static str| {
        let app = &app;
        let token = admin.token.clone();
        async move { found(app, &token, "accounts", q, "name").await }
    };
    assert_eq!(
        names("name:acme*").await,
        ["Acme Corp", "Acme-Corporation", "acme labs"]
    );
    assert_eq!(
        names("NAME:ACME").await,
        Vec::<String>::new(),
        "no wildcard: exact"
    );
    assert_eq!(names("name:\"ACME CORP\"").await, ["Acme Corp"]);
    assert_eq!(names("\"acme corp\"").await, ["Acme Corp"]);
    assert_eq!(
        names("name:*corp*").await,
        ["Acme Corp", "Acme-Corporation"]
    );
    assert_eq!(
        names("acme NOT labs").await,
        ["Acme Corp", "Acme-Corporation"]
    );
    assert_eq!(
        names("(name:globex OR external_id:CRM-001) AND status:active").await,
        ["Acme Corp", "Globex"]
    );
    assert_eq!(names("external_id:crm-*").await, ["Acme Corp", "Globex"]);
    assert_eq!(
        names("acme and corp or globex").await,
        ["Acme Corp", "Acme-Corporation", "Globex"]
    );
    assert_eq!(
        // `50*` names the field: bare, it also matches any id whose ULID time has "50".
        names("name:*o* NOT (acme OR globex OR name:50* OR name:500*)").await,
        ["O'Brien & Co"]
    );
    let id = &accounts[2].1;
    let by_id = format!("id:{}", id.to_lowercase());
    let response = search(&app, &admin.token, "accounts", &by_id).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["name"], "Globex");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    // `%`, `_` and `'` match themselves only.
    assert_eq!(names("name:50%*").await, ["50% Off_Deals"]);
    assert_eq!(names("name:*_*").await, ["50% Off_Deals"]);
    assert_eq!(names("name:5__*").await, Vec::<String>::new());
    assert_eq!(names("%").await, ["50% Off_Deals"]);
    assert_eq!(names("o'brien").await, ["O'Brien & Co"]);
    assert_eq!(names("name:\"o'brien & co\"").await, ["O'Brien & Co"]);

    // A blank query lists everything, the bootstrap account included, page by page.
    let all = found(&app, &admin.token, "accounts", "", "id").await;
    assert_eq!(all.len(), accounts.len() + 1);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("q", "name:*".to_owned()), ("limit", "3".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let response = app
            .http
            .get(app.url("/v1/admin/accounts"))
            .query(&query)
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        for item in body["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), all.len());
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, all, "every account once");
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first);
}

#[tokio::test]
async fn malformed_searches_are_400_naming_the_position() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    for (list, q, position) in [
        ("accounts", "(name:acme", "position 1"),
        ("accounts", "acme )", "position 6"),
        ("accounts", "acme AND", "position 9"),
        ("accounts", "name:\"acme", "position 6"),
        ("accounts", "email:x@example.com", "position 1"),
        ("users", "status:active", "position 1"),
        ("users", "a OR OR b", "position 6"),
        ("users", "name:", "position 6"),
    ] {
        let response = search(&app, &admin.token, list, q).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "q", "{q}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(position), "{q}: {message}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(position),
            "{q}: the detail names it too: {detail}"
        );
    }
    let response = app
        .http
        .get(app.url("/v1/admin/users"))
        .query(&[("cursor", "forged")])
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;
}

#[tokio::test]
async fn user_search_matches_email_name_and_bare_words_case_insensitively() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    for (email, name) in [
        ("ann.lee@example.org", "Ann Lee"),
        ("bob_smith@example.org", "Bob Smith"),
        ("bobXsmith@example.net", "Bob X"),
        ("carol@example.com", "Carol Ann"),
    ] {
        let response = app
            .api(Method::POST, "/v1/admin/users", &admin.token)
            .json(&json!({"email": email, "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let emails = |q: &'static str| {
        let app = &app;
        let token = admin.token.clone();
        async move { found(app, &token, "users", q, "email").await }
    };
    assert_eq!(
        emails("email:*@EXAMPLE.ORG").await,
        ["ann.lee@example.org", "bob_smith@example.org"]
    );
    assert_eq!(emails("email:bob_*").await, ["bob_smith@example.org"]);
    assert_eq!(
        emails("ANN").await,
        ["ann.lee@example.org", "carol@example.com"]
    );
    assert_eq!(emails("name:\"ann lee\"").await, ["ann.lee@example.org"]);
    assert_eq!(emails("ann NOT name:carol*").await, ["ann.lee@example.org"]);
    assert_eq!(
        emails("(name:bob* OR email:carol@*) NOT email:*.net").await,
        ["bob_smith@example.org", "carol@example.com"]
    );
    assert_eq!(emails("email:admin@example.com").await, [ADMIN_EMAIL]);
    let response = search(&app, &admin.token, "users", "name:\"Ann Lee\"").await;
    let body: Value = response.json().await.unwrap();
    let user = &body["data"][0];
    assert_eq!(user["name"], "Ann Lee");
    assert_eq!(user["superadmin"], false);
    assert!(user.get("password_hash").is_none());
}
