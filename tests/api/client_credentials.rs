//! The token endpoint's framing and the client-credentials grant, over HTTP.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{Deployment, TestApp};

pub struct Registered {
    pub client_id: String,
    pub secret: Option<String>,
    pub account_id: String,
}

/// Registers a client in the first account with the CLI; `extra` are more CLI arguments.
pub async fn register(deployment: &Deployment, app: &TestApp, extra: &[&str]) -> Registered {
    let account_id = crate::discovery::first_account_id(app).await;
    let mut args = vec![
        "clients",
        "create",
        "--account",
        &account_id,
        "--name",
        "Test client",
    ];
    args.extend_from_slice(extra);
    let client = deployment.cli(&args).json();
    Registered {
        client_id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().map(str::to_owned),
        account_id,
    }
}

async fn service(deployment: &Deployment, app: &TestApp) -> Registered {
    register(
        deployment,
        app,
        &[
            "--grant",
            "client_credentials",
            "--scope",
            "read:invoices",
            "--scope",
            "write:invoices",
        ],
    )
    .await
}

async fn token(app: &TestApp, client: &Registered, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn verify_downstream(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn client_credentials_issue_an_account_token_for_the_client() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let client = service(&deployment, &app).await;
    let response = token(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read:invoices write:invoices");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());

    let claims = verify_downstream(
        &app,
        body["access_token"].as_str().unwrap(),
        &client.client_id,
    )
    .await;
    assert_eq!(claims["sub"], client.client_id.as_str());
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(claims["acc"], client.account_id.as_str());
    assert_eq!(claims["role"], "client");
    assert!(claims.get("uid").is_none());
    for claim in ["exp", "iat", "nbf", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim}");
    }

    let narrowed: Value = token(
        &app,
        &client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read:invoices"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(narrowed["scope"], "read:invoices");
    let response = token(
        &app,
        &client,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn client_authentication_follows_the_registered_method() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let client = service(&deployment, &app).await;
    let secret = client.secret.clone().unwrap();
    let form = [("grant_type", "client_credentials")];

    let wrong = Registered {
        secret: Some("wrong".into()),
        ..service(&deployment, &app).await
    };
    let response = token(&app, &wrong, &form).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // Registered for client_secret_basic: the same secret in the body is refused.
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Both methods at once is a malformed request.
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    let post = register(
        &deployment,
        &app,
        &[
            "--auth-method",
            "client_secret_post",
            "--grant",
            "client_credentials",
        ],
    )
    .await;
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &post.client_id),
            ("client_secret", post.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        token(&app, &post, &form).await.status(),
        401,
        "basic refused for a post client"
    );

    let unknown = Registered {
        client_id: "cli_01J00000000000000000000000".into(),
        secret: Some(secret.clone()),
        account_id: String::new(),
    };
    assert_eq!(token(&app, &unknown, &form).await.status(), 401);
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors_not_5xx() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let client = service(&deployment, &app).await;
    let secret = client.secret.clone().unwrap();
    let post = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, error) in [
        (
            "grant_type=client_credentials",
            "application/json",
            "invalid_request",
        ),
        (
            "{\"grant_type\":\"client_credentials\"}",
            "application/json",
            "invalid_request",
        ),
        (
            "grant_type=password&username=a&password=b",
            "application/x-www-form-urlencoded",
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        ("", "application/x-www-form-urlencoded", "invalid_request"),
        (
            "grant_type=authorization_code&code=x&redirect_uri=https://a/",
            "application/x-www-form-urlencoded",
            "unauthorized_client",
        ),
        (
            "%%%",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
    ] {
        let response = post(body, content_type).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"], error, "{body}");
        assert!(json["error_description"].is_string());
    }
    let ok = post(
        "grant_type=client_credentials",
        "application/x-www-form-urlencoded; charset=UTF-8",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let huge = "a=".to_owned() + &"x".repeat(200_000);
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn introspection_and_revocation_of_client_tokens() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let client = service(&deployment, &app).await;
    let sibling = service(&deployment, &app).await;
    let access_token = token(&app, &client, &[("grant_type", "client_credentials")])
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let introspect = |by: &Registered, token: String| {
        app.http
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&by.client_id, by.secret.as_deref())
            .form(&[("token", token)])
            .send()
    };
    let view: Value = introspect(&sibling, access_token.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["active"], true,
        "a client of the same account may introspect"
    );
    assert_eq!(view["client_id"], client.client_id.as_str());
    assert_eq!(view["token_type"], "Bearer");
    assert_eq!(view["acc"], client.account_id.as_str());
    assert_eq!(view["role"], "client");
    for field in ["sub", "scope", "exp", "iat"] {
        assert!(view.get(field).is_some(), "{field}");
    }
    let garbage: Value = introspect(&client, "garbage".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(garbage, serde_json::json!({"active": false}));

    // Another account's client learns nothing.
    let other_account = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Other",
            "--owner",
            "other@example.com",
        ])
        .json();
    let other_account = other_account["id"].as_str().unwrap();
    let outsider = deployment
        .cli(&[
            "clients",
            "create",
            "--account",
            other_account,
            "--name",
            "Outsider",
            "--grant",
            "client_credentials",
        ])
        .json();
    let outsider = Registered {
        client_id: outsider["client_id"].as_str().unwrap().into(),
        secret: outsider["client_secret"].as_str().map(str::to_owned),
        account_id: other_account.into(),
    };
    let view: Value = introspect(&outsider, access_token.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view, serde_json::json!({"active": false}));

    // Revocation by someone else does nothing; by the owner, it sticks.
    let revoke = |by: &Registered, token: String| {
        app.http
            .post(app.url("/oauth2/revoke"))
            .basic_auth(&by.client_id, by.secret.as_deref())
            .form(&[("token", token)])
            .send()
    };
    assert_eq!(
        revoke(&sibling, access_token.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        introspect(&client, access_token.clone())
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["active"],
        true
    );
    assert_eq!(
        revoke(&client, access_token.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        introspect(&client, access_token.clone())
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["active"],
        false
    );
    assert_eq!(
        revoke(&client, "unknown".into()).await.unwrap().status(),
        200
    );
    let missing = app
        .http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[("nothing", "here")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn basic_credentials_are_form_url_decoded_after_base64() {
    use base64::Engine;
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let client = service(&deployment, &app).await;
    // RFC 6749 §2.3.1: id and secret are form-url-encoded before base64; a client may encode
    // characters that need no encoding, and the server must decode them.
    let encode_all = |text: &str| -> String { text.bytes().map(|b| format!("%{b:02X}")).collect() };
    let credentials = format!(
        "{}:{}",
        encode_all(&client.client_id),
        encode_all(client.secret.as_deref().unwrap())
    );
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}
