//! The conventions every `/v1` endpoint shares (API.md §2): bearer authentication and its
//! challenges, problem+json errors, strict JSON bodies, cursor pagination.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::clock;
use tessera::config::Issuer;
use tessera::ids::{AccountId, UserId};
use tessera::oauth::claims::{AccessTokenClaims, Subject};
use tessera::oauth::scope::Scope;

use crate::helpers::{Deployment, LOGIN_SCOPE, TestApp, expect_problem};

#[tokio::test]
async fn a_request_without_a_token_gets_a_bare_bearer_challenge() {
    let app = TestApp::spawn().await;
    for path in ["/v1/me", "/v1/me/accounts", "/v1/accounts/acc_x"] {
        let response = app.get(path).await;
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(!challenge.contains("error="), "{challenge}");
        expect_problem(response, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn bearer_challenges_are_exactly_the_ones_the_contract_names() {
    let app = TestApp::spawn().await;
    let challenge = |response: &reqwest::Response| {
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    for path in ["/v1/me", "/v1/api-keys/verify", "/oauth2/userinfo"] {
        let missing = app.get(path).await;
        assert_eq!(missing.status(), 401, "{path}");
        assert_eq!(challenge(&missing), "Bearer", "{path}");
        for token in ["not-a-jwt", "tsk_unknown"] {
            let invalid = app.api(Method::GET, path, token).send().await.unwrap();
            assert_eq!(invalid.status(), 401, "{path}");
            assert_eq!(
                challenge(&invalid),
                "Bearer error=\"invalid_token\"",
                "{path}"
            );
        }
    }
}

async fn expect_invalid_token(app: &TestApp, token: &str) {
    let response = app.api(Method::GET, "/v1/me", token).send().await.unwrap();
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    expect_problem(response, 401, "invalid_token").await;
}

#[tokio::test]
async fn invalid_expired_and_revoked_tokens_are_invalid_token() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let ok = app
        .api(Method::GET, "/v1/me", &ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    expect_invalid_token(&app, "not-a-jwt").await;
    let mut tampered = ada.token.clone();
    tampered.pop();
    tampered.push(if ada.token.ends_with('A') { 'B' } else { 'A' });
    expect_invalid_token(&app, &tampered).await;

    let client = app.login_client().await;
    let user_id = UserId::parse(&ada.id).unwrap();
    let expired = AccessTokenClaims::new(
        app.state.issuer.as_str(),
        &client.client_id,
        Subject::User {
            user_id: &user_id,
            account: None,
            grant_id: None,
        },
        &Scope::parse(LOGIN_SCOPE).unwrap(),
        None,
        900,
        clock::now() - 3600,
    );
    expect_invalid_token(&app, &app.state.keys.sign_access_token(&expired).unwrap()).await;

    // Revocation (RFC 7009), by the client the token was issued to.
    let revoked = app
        .http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[("token", ada.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    expect_invalid_token(&app, &ada.token).await;

    // A scheme other than Bearer is no bearer token at all: a bare challenge (API.md §2).
    for scheme in ["Basic YTpi", "Token abc"] {
        let other = app
            .http
            .get(app.url("/v1/me"))
            .header("authorization", scheme)
            .send()
            .await
            .unwrap();
        assert_eq!(other.headers()["www-authenticate"], "Bearer", "{scheme}");
        expect_problem(other, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_client_credentials_token_is_not_a_user() {
    let app = TestApp::spawn().await;
    let client = app.login_client().await;
    let account = AccountId::parse(&crate::discovery::first_account_id(&app).await).unwrap();
    let claims = AccessTokenClaims::new(
        app.state.issuer.as_str(),
        &client.client_id,
        Subject::Client {
            account_id: &account,
        },
        &Scope::default(),
        None,
        900,
        clock::now(),
    );
    let token = app.state.keys.sign_access_token(&claims).unwrap();
    let response = app
        .api(Method::GET, &format!("/v1/accounts/{account}"), &token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn bodies_must_be_json_with_known_fields_and_right_types() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    app.verify_email(&ada).await;
    let post = |body: reqwest::Body, content_type: Option<&str>| {
        let mut request = app.api(Method::POST, "/v1/accounts", &ada.token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let problem = expect_problem(
        post(
            r#"{"name": "Acme", "color": "red"}"#.into(),
            Some("application/json"),
        )
        .await
        .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "color", "{problem}");

    let problem = expect_problem(
        post(r#"{"name": 42}"#.into(), Some("application/json"))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");

    let problem = expect_problem(
        post(r#"{}"#.into(), Some("application/json"))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");

    for broken in [r#"{"name": "Acme""#, "", "[]", r#"{"name":"a"} trailing"#] {
        expect_problem(
            post(broken.to_owned().into(), Some("application/json"))
                .await
                .unwrap(),
            400,
            "validation_failed",
        )
        .await;
    }
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        expect_problem(
            post(r#"{"name": "Acme"}"#.into(), content_type)
                .await
                .unwrap(),
            415,
            "unsupported_media_type",
        )
        .await;
    }
    let ok = post(
        r#"{"name": "Acme"}"#.into(),
        Some("application/json; charset=utf-8"),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn lists_page_newest_first_with_cursors_this_server_issued() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let parent = app.create_account(&ada, json!({"name": "Parent"})).await;
    let parent = parent["id"].as_str().unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        let child = app
            .create_account(
                &ada,
                json!({"name": format!("Child {i}"), "parent_id": parent}),
            )
            .await;
        created.push(child["id"].as_str().unwrap().to_owned());
    }
    let list = |query: String| {
        app.api(
            Method::GET,
            &format!("/v1/accounts/{parent}/children{query}"),
            &ada.token,
        )
        .send()
    };

    let all: Value = list(String::new()).await.unwrap().json().await.unwrap();
    assert_eq!(all["next_cursor"], Value::Null);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&all), newest_first);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit=2&cursor={cursor}"),
            None => "?limit=2".to_owned(),
        };
        let page: Value = list(query).await.unwrap().json().await.unwrap();
        pages += 1;
        assert!(page["data"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);

    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?limit=-1",
        "?cursor=abc",
    ] {
        let problem = expect_problem(
            list(bad.to_owned()).await.unwrap(),
            400,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"][0]["field"].is_string(), "{problem}");
    }
    let page: Value = list("?limit=1".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    expect_problem(
        list(format!("?cursor={tampered}")).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    // A cursor of another list is not a cursor of this one.
    let members = app
        .api(Method::GET, "/v1/me/accounts?limit=1", &ada.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let foreign = members["next_cursor"].as_str().unwrap();
    expect_problem(
        list(format!("?cursor={foreign}")).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        list(format!("?cursor={cursor}")).await.unwrap().status(),
        200
    );
    assert_eq!(list("?limit=100".to_owned()).await.unwrap().status(), 200);
}

/// The answer's media type without parameters, if it has one.
fn media_type(response: &reqwest::Response) -> Option<String> {
    response.headers().get("content-type").map(|value| {
        value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    })
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_oversized_bodies_under_v1_are_problems() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    for path in [
        "/v1/nope",
        "/v1/accounts/acc_x/nope/deeper",
        "/v1/me/",
        "/v1",
        "/v1/",
    ] {
        for token in [Some(&ada.token), None] {
            let mut request = app.http.get(app.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            expect_problem(request.send().await.unwrap(), 404, "not_found").await;
        }
    }

    for (method, path, allowed) in [
        (Method::PUT, "/v1/me", ["GET", "PATCH"]),
        (Method::DELETE, "/v1/me/accounts", ["GET", "GET"]),
        (Method::POST, "/v1/api-keys/verify", ["GET", "GET"]),
    ] {
        let response = app
            .api(method.clone(), path, &ada.token)
            .send()
            .await
            .unwrap();
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        for method in allowed {
            assert!(allow.contains(method), "{path}: Allow {allow}");
        }
        expect_problem(response, 405, "method_not_allowed").await;
    }

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(200_000));
    for (method, path, content_type) in [
        (Method::POST, "/v1/accounts", "application/json"),
        (Method::PATCH, "/v1/me", "application/json"),
        (
            Method::PATCH,
            "/v1/accounts/acc_x",
            "application/merge-patch+json",
        ),
    ] {
        let response = app
            .api(method.clone(), path, &ada.token)
            .header("content-type", content_type)
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        expect_problem(response, 413, "payload_too_large").await;
    }
    let response = app
        .http
        .post(app.url("/v1/accounts"))
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    expect_problem(response, 413, "payload_too_large").await;
    let mine: Value = app
        .api(Method::GET, "/v1/me/accounts", &ada.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"], json!([]), "nothing was created");

    // Outside /v1 the router's own answers stay what they were.
    for path in ["/nope", "/v1x", "/v10/me", "/oauth2/nope"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_ne!(
            media_type(&response).as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
    }
    let response = app.http.put(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_ne!(
        media_type(&response).as_deref(),
        Some("application/problem+json")
    );
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("a={}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_ne!(
        media_type(&response).as_deref(),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn below_an_issuer_with_a_path_v1_errors_are_problems_there_only() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.issuer = Some(Issuer::parse("http://127.0.0.1/id").unwrap());
    let app = TestApp::start(config).await;
    let ada = app.user("ada@example.com").await;
    let response = app
        .api(Method::GET, "/id/v1/me", &ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    expect_problem(app.get("/id/v1/nope").await, 404, "not_found").await;
    let response = app
        .api(Method::PUT, "/id/v1/me", &ada.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 405, "method_not_allowed").await;
    let response = app
        .api(Method::POST, "/id/v1/accounts", &ada.token)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name": "{}"}}"#, "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413, "payload_too_large").await;

    for path in ["/v1/nope", "/v1/me", "/id/nope"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_ne!(
            media_type(&response).as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn every_patch_takes_merge_patch_and_plain_json() {
    let app = TestApp::spawn().await;
    let team = app.team("patch").await;
    let paths = [
        ("/v1/me".to_owned(), json!({"name": "Renamed"})),
        (
            format!("/v1/accounts/{}/members/{}", team.account, team.viewer.id),
            json!({"role": "member"}),
        ),
        (
            format!("/v1/accounts/{}", team.account),
            json!({"name": "Acme 2"}),
        ),
    ];
    for (path, body) in paths {
        for content_type in ["application/merge-patch+json", "application/json"] {
            let response = app
                .api(Method::PATCH, &path, &team.owner.token)
                .header("content-type", content_type)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path} as {content_type}");
        }
    }
}

#[tokio::test]
async fn control_characters_are_refused_on_both_databases() {
    let app = TestApp::spawn().await;
    let team = app.team("ctl").await;
    for (method, path, body, field) in [
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            json!({"name": "Acme\u{0}"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            json!({"name": "Acme", "labels": {"team": "a\u{0}b"}}),
            "labels.team",
        ),
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            json!({"name": "Acme\nInc"}),
            "name",
        ),
        (
            Method::PATCH,
            "/v1/me".to_owned(),
            json!({"name": "Ada\u{7}"}),
            "name",
        ),
        (
            Method::POST,
            format!("/v1/accounts/{}/api-keys", team.account),
            json!({"name": "key\u{1b}[31m", "role": "viewer"}),
            "name",
        ),
    ] {
        let response = app
            .api(method, &path, &team.owner.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{path} {body}");
    }
    // The hosted forms too: a NUL in a sign-up name is a 400 page, not a database error.
    let response = app
        .submit_form(
            "/signup",
            "/signup",
            &[
                ("email", "nul@example.com"),
                ("password", "a-long-enough-passphrase"),
                ("name", "Nul\u{0}"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
}
