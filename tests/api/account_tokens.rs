//! Account-scoped tokens, both forms (`POST /v1/auth/account-token` and the RFC 8693 grant),
//! checked the way a downstream service would: with nothing but the JWKS.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};
use tessera::clock;
use tessera::tokens;

use crate::helpers::{LOGIN_SCOPE, TestApp, TestUser, expect_problem};

/// Registers `audience` on the login client, through the REST API as its account's owner.
pub async fn allow_audience(app: &TestApp, audience: &str) {
    let client = app.login_client().await;
    let admin = crate::admin::superadmin(app).await;
    let account = crate::discovery::first_account_id(app).await;
    let response = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{account}/clients/{}", client.client_id),
            &admin.token,
        )
        .json(&json!({"allowed_audiences": [audience]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "register the audience");
}

pub async fn account_token(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.api(Method::POST, "/v1/auth/account-token", &user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// What a resource server does: fetch the JWKS, check signature, `typ`, `iss`, `aud`, `exp`.
async fn verify_downstream(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn a_member_gets_an_account_token_a_downstream_service_can_verify() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let response = account_token(&app, &team.member, json!({"account_id": team.account})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().get("set-cookie").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["account_id"], team.account.as_str());
    assert_eq!(body["role"], "member");
    assert_eq!(body["scope"], LOGIN_SCOPE);
    assert_eq!(body["expires_in"], 900);
    assert!(body.get("refresh_token").is_none());

    let client = app.login_client().await;
    let claims = verify_downstream(
        &app,
        body["access_token"].as_str().unwrap(),
        client.client_id.as_str(),
    )
    .await;
    assert_eq!(claims["sub"], team.member.id.as_str());
    assert_eq!(claims["uid"], team.member.id.as_str());
    assert_eq!(claims["acc"], team.account.as_str());
    assert_eq!(claims["role"], "member");
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(claims["scope"], LOGIN_SCOPE);

    // With an audience and a narrower scope.
    allow_audience(&app, "https://api.acme.test").await;
    let body: Value = account_token(
        &app,
        &team.owner,
        json!({"account_id": team.account, "audience": "https://api.acme.test", "scope": "openid"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["role"], "owner");
    assert_eq!(body["scope"], "openid");
    let claims = verify_downstream(
        &app,
        body["access_token"].as_str().unwrap(),
        "https://api.acme.test",
    )
    .await;
    assert_eq!(claims["aud"], "https://api.acme.test");
    assert_eq!(claims["scope"], "openid");
    assert_eq!(claims["role"], "owner");
}

#[tokio::test]
async fn scope_never_widens_and_strangers_get_not_found() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let narrow = TestUser {
        token: app.login_token(&team.viewer.id, "openid").await,
        ..team.viewer.clone()
    };
    let response = account_token(
        &app,
        &narrow,
        json!({"account_id": team.account, "scope": "openid email"}),
    )
    .await;
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "scope");
    let body: Value = account_token(&app, &narrow, json!({"account_id": team.account}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "openid");
    assert_eq!(body["role"], "viewer");

    let response = account_token(&app, &team.outsider, json!({"account_id": team.account})).await;
    expect_problem(response, 404, "not_found").await;
    let missing = tessera::ids::AccountId::generate();
    let response = account_token(&app, &team.owner, json!({"account_id": missing})).await;
    expect_problem(response, 404, "not_found").await;
    let response = account_token(&app, &team.owner, json!({"account_id": "nope"})).await;
    expect_problem(response, 404, "not_found").await;
    let response = account_token(&app, &team.owner, json!({"account": team.account})).await;
    expect_problem(response, 400, "validation_failed").await;
    let response = app
        .http
        .post(app.url("/v1/auth/account-token"))
        .json(&json!({"account_id": team.account}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_account_token_acts_on_its_account_and_children_but_not_siblings() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let a = app.create_account(&ada, json!({"name": "A"})).await;
    let a = a["id"].as_str().unwrap().to_owned();
    let b = app.create_account(&ada, json!({"name": "B"})).await;
    let b = b["id"].as_str().unwrap().to_owned();
    let child = app
        .create_account(&ada, json!({"name": "A child", "parent_id": a}))
        .await;
    let child = child["id"].as_str().unwrap().to_owned();
    let body: Value = account_token(&app, &ada, json!({"account_id": a}))
        .await
        .json()
        .await
        .unwrap();
    let scoped = body["access_token"].as_str().unwrap();
    let get = |id: &str| {
        app.api(Method::GET, &format!("/v1/accounts/{id}"), scoped)
            .send()
    };
    assert_eq!(get(&a).await.unwrap().status(), 200);
    assert_eq!(get(&child).await.unwrap().status(), 200);
    expect_problem(get(&b).await.unwrap(), 404, "not_found").await;
    let response = app
        .api(Method::GET, &format!("/v1/accounts/{b}/members"), scoped)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    // Nor can it be traded for a token of the sibling.
    let response = app
        .api(Method::POST, "/v1/auth/account-token", scoped)
        .json(&json!({"account_id": b}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;

    // Scoped to the child, the parent is out of reach.
    let body: Value = account_token(&app, &ada, json!({"account_id": child}))
        .await
        .json()
        .await
        .unwrap();
    let child_scoped = body["access_token"].as_str().unwrap();
    let response = app
        .api(Method::GET, &format!("/v1/accounts/{a}"), child_scoped)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn an_account_token_acts_with_at_most_its_role_and_the_current_one() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let scoped = |user: &TestUser| {
        let user = user.clone();
        let app = &app;
        let account = team.account.clone();
        async move {
            let body: Value = account_token(app, &user, json!({"account_id": account}))
                .await
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let set_role = |user: &TestUser, role: &str| {
        app.api(
            Method::PATCH,
            &format!("/v1/accounts/{}/members/{}", team.account, user.id),
            &team.owner.token,
        )
        .json(&json!({"role": role}))
        .send()
    };
    let create_child = |token: String| {
        app.api(
            Method::POST,
            &format!("/v1/accounts/{}/children", team.account),
            &token,
        )
        .json(&json!({"name": "Child"}))
        .send()
    };
    // Promoted after issue: the token still says member.
    let member_token = scoped(&team.member).await;
    assert_eq!(set_role(&team.member, "admin").await.unwrap().status(), 200);
    expect_problem(create_child(member_token).await.unwrap(), 403, "forbidden").await;
    let admin_token = scoped(&team.member).await;
    assert_eq!(
        create_child(admin_token.clone()).await.unwrap().status(),
        201
    );
    // Demoted after issue: the membership now decides.
    assert_eq!(
        set_role(&team.member, "viewer").await.unwrap().status(),
        200
    );
    expect_problem(create_child(admin_token).await.unwrap(), 403, "forbidden").await;
}

#[tokio::test]
async fn an_account_token_dies_with_the_membership() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let body: Value = account_token(&app, &team.member, json!({"account_id": team.account}))
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = app.state.keys.verify_access_token(&token).unwrap();
    assert!(
        tokens::is_live(&app.state.store, &claims, clock::now())
            .await
            .unwrap()
    );
    let response = app
        .api(
            Method::DELETE,
            &format!("/v1/accounts/{}/members/{}", team.account, team.member.id),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        !tokens::is_live(&app.state.store, &claims, clock::now())
            .await
            .unwrap()
    );
    let response = app.api(Method::GET, "/v1/me", &token).send().await.unwrap();
    expect_problem(response, 401, "invalid_token").await;
    // Introspection agrees.
    let client = app.login_client().await;
    let introspection: Value = app
        .http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], false);
}

#[tokio::test]
async fn the_token_exchange_grant_issues_the_same_token() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let client = app.login_client().await;
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", team.admin.token.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("account_id", team.account.as_str()),
            ("scope", "openid email tessera:manage"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    let claims = verify_downstream(
        &app,
        body["access_token"].as_str().unwrap(),
        client.client_id.as_str(),
    )
    .await;
    assert_eq!(claims["acc"], team.account.as_str());
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["uid"], team.admin.id.as_str());
    assert_eq!(claims["scope"], "openid email tessera:manage");
    // The exchanged token works on /v1 like the REST form's.
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}", team.account),
            body["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
