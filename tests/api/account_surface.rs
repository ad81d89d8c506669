//! The seeds' account surface (API.md §13): the account's own fields, settings and business
//! profile (merge-patchable, validated), `GET/PUT …/profile`, and the current account
//! (`/v1/account…`) answering exactly as the `/v1/accounts/{acc}` forms do.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_keys::create_key;
use crate::helpers::{TestApp, expect_problem};
use crate::roles::scoped_token;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.api(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_new_fields_are_merge_patchable_and_validated() {
    let app = TestApp::spawn().await;
    let team = app.team("fields").await;
    let path = format!("/v1/accounts/{}", team.account);
    let owner = &team.owner.token;

    let shown = json_of(
        send(&app, Method::GET, &path, owner, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["type"], "standard");
    assert_eq!(shown["description"], Value::Null);
    assert_eq!(shown["profile"]["business_name"], Value::Null);
    assert_eq!(shown["settings"]["abuse_contact_email"], Value::Null);

    let patch = json!({
        "type": "enterprise",
        "description": "Rockets and\nanvils",
        "domain": "acme.example",
        "settings": {"abuse_contact_email": "abuse@acme.example"},
        "profile": {"business_name": "Acme Inc", "timezone": "Europe/Paris", "country": "FR"},
    });
    let updated = json_of(
        send(&app, Method::PATCH, &path, owner, Some(patch)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["type"], "enterprise");
    assert_eq!(updated["domain"], "acme.example");
    assert_eq!(
        updated["settings"]["abuse_contact_email"],
        "abuse@acme.example"
    );
    assert_eq!(updated["profile"]["timezone"], "Europe/Paris");

    // A nested merge patch: one profile field changes, one goes, the others stay.
    let patch = json!({"profile": {"country": null, "url": "https://acme.example"}});
    let updated = json_of(
        send(&app, Method::PATCH, &path, owner, Some(patch)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["profile"]["business_name"], "Acme Inc");
    assert_eq!(updated["profile"]["country"], Value::Null);
    assert_eq!(updated["profile"]["url"], "https://acme.example");
    let events: Vec<String> = sqlx::query_scalar(
        "select details from audit_events where account_id = $1 and action = 'account.updated' order by created_at desc, id desc limit 1",
    )
    .bind(&team.account)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(details["fields"], json!(["profile.url", "profile.country"]));

    for (patch, field) in [
        (json!({"type": "huge"}), "type"),
        (json!({"domain": "Not A Domain"}), "domain"),
        (
            json!({"settings": {"abuse_contact_email": "nope"}}),
            "settings.abuse_contact_email",
        ),
        (
            json!({"profile": {"timezone": "Mars/Olympus"}}),
            "profile.timezone",
        ),
        (json!({"profile": {"country": "fr"}}), "profile.country"),
        (
            json!({"profile": {"url": "javascript:alert(1)"}}),
            "profile.url",
        ),
        (
            json!({"profile": {"business_email": "x"}}),
            "profile.business_email",
        ),
        (
            json!({"profile": {"business_phone": "call me"}}),
            "profile.business_phone",
        ),
        (json!({"profile": {"colour": "red"}}), "profile"),
        (json!({"settings": {"colour": "red"}}), "settings"),
    ] {
        let response = send(&app, Method::PATCH, &path, owner, Some(patch.clone())).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{patch}: {problem}");
    }

    // A viewer reads them and changes none.
    let viewer = &team.viewer.token;
    let response = send(
        &app,
        Method::PATCH,
        &path,
        viewer,
        Some(json!({"profile": {"business_name": "Mine"}})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_profile_alone_is_read_and_replaced() {
    let app = TestApp::spawn().await;
    let team = app.team("profile").await;
    let path = format!("/v1/accounts/{}/profile", team.account);
    let owner = &team.owner.token;
    let profile = json!({
        "business_name": "Acme Inc",
        "business_email": "hello@acme.example",
        "business_phone": "+33 1 23 45 67 89",
        "business_address": "1 rue de la Paix\n75002 Paris",
        "url": "https://acme.example",
        "contact_name": "Ada",
        "contact_email": "ada@acme.example",
        "timezone": "Europe/Paris",
        "country": "FR",
    });
    let replaced = json_of(
        send(&app, Method::PUT, &path, owner, Some(profile.clone())).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced, profile);
    let read = json_of(
        send(&app, Method::GET, &path, &team.viewer.token, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, profile);

    // PUT replaces: what it leaves out is unset.
    let replaced = json_of(
        send(
            &app,
            Method::PUT,
            &path,
            owner,
            Some(json!({"business_name": "Acme"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["business_name"], "Acme");
    assert_eq!(replaced["country"], Value::Null);

    let response = send(
        &app,
        Method::PUT,
        &path,
        owner,
        Some(json!({"country": "XX"})),
    )
    .await;
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "profile.country");
    let response = send(
        &app,
        Method::PUT,
        &path,
        owner,
        Some(json!({"shoe_size": 9})),
    )
    .await;
    expect_problem(response, 400, "validation_failed").await;
    let response = send(
        &app,
        Method::PUT,
        &path,
        &team.viewer.token,
        Some(json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = send(&app, Method::GET, &path, &team.outsider.token, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The onboarding's profile step is the business name.
    let onboarding = json_of(
        send(
            &app,
            Method::GET,
            &format!("/v1/accounts/{}/onboarding", team.account),
            owner,
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(onboarding["steps"]["profile"], true);
}

#[tokio::test]
async fn the_current_account_answers_as_its_path_form() {
    let app = TestApp::spawn().await;
    let team = app.team("current").await;
    let account = &team.account;
    let key = create_key(&app, &team.owner, account, "admin").await;
    let key = key["token"].as_str().unwrap().to_owned();
    let scoped = scoped_token(&app, &team.admin, account).await;
    let scoped = scoped["access_token"].as_str().unwrap().to_owned();

    for token in [&key, &scoped] {
        for (current, named) in [
            ("/v1/account".to_owned(), format!("/v1/accounts/{account}")),
            (
                "/v1/account/members".to_owned(),
                format!("/v1/accounts/{account}/members"),
            ),
            (
                "/v1/account/invites".to_owned(),
                format!("/v1/accounts/{account}/invites"),
            ),
            (
                "/v1/account/profile".to_owned(),
                format!("/v1/accounts/{account}/profile"),
            ),
        ] {
            let mine = send(&app, Method::GET, &current, token, None).await;
            let theirs = send(&app, Method::GET, &named, token, None).await;
            assert_eq!(mine.status(), theirs.status(), "{current}");
            let (mine, theirs): (Value, Value) =
                (mine.json().await.unwrap(), theirs.json().await.unwrap());
            assert_eq!(mine, theirs, "{current}");
        }
        // No webhook yet: the same 404 both ways.
        let mine = send(
            &app,
            Method::POST,
            "/v1/account/webhook/rotate-secret",
            token,
            None,
        )
        .await;
        let theirs = send(
            &app,
            Method::POST,
            &format!("/v1/accounts/{account}/webhook/rotate-secret"),
            token,
            None,
        )
        .await;
        assert_eq!(mine.status(), theirs.status());
    }

    let patched = json_of(
        send(
            &app,
            Method::PATCH,
            "/v1/account",
            &key,
            Some(json!({"description": "Through the key"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["id"], account.as_str());
    assert_eq!(patched["description"], "Through the key");
    let invited = json_of(
        send(
            &app,
            Method::POST,
            "/v1/account/invites",
            &scoped,
            Some(json!({"email": "new@current.example", "role": "member"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(invited["status"], "pending");

    // A user-level token names no account.
    let response = send(&app, Method::GET, "/v1/account", &team.owner.token, None).await;
    expect_problem(response, 400, "account_token_required").await;

    // An admin's key may not delete; an owner's deletes the account and stops working.
    let response = send(&app, Method::DELETE, "/v1/account", &key, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let owner_key = create_key(&app, &team.owner, account, "owner").await;
    let owner_key = owner_key["token"].as_str().unwrap();
    let response = send(&app, Method::DELETE, "/v1/account", owner_key, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(&app, Method::GET, "/v1/account", owner_key, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send(&app, Method::GET, "/v1/account", &scoped, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let openapi: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/v1/account",
        "/v1/account/members",
        "/v1/account/invites",
        "/v1/account/webhook/rotate-secret",
        "/v1/accounts/{acc}/profile",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path}");
    }
}
