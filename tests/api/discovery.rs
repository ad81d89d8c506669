use serde_json::Value;

use crate::helpers::{Deployment, TestApp};

#[tokio::test]
async fn openid_configuration_describes_this_issuer() {
    let app = TestApp::spawn().await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.address.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(doc[field], app.url(path), "{field}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"]),
        "API.md §14: discovery lists all three"
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for field in [
        "scopes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "claims_supported",
    ] {
        assert!(
            doc[field].as_array().is_some_and(|a| !a.is_empty()),
            "{field}"
        );
    }
}

#[tokio::test]
async fn both_metadata_documents_are_identical() {
    let app = TestApp::spawn().await;
    let oidc = app
        .get("/.well-known/openid-configuration")
        .await
        .text()
        .await
        .unwrap();
    let oauth = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(oidc, oauth);
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_both_well_known_locations() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.issuer =
        Some(tessera::config::Issuer::parse("https://id.example.com/tessera/").unwrap());
    let app = TestApp::start(config).await;

    let oidc: Value = app
        .get("/tessera/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], "https://id.example.com/tessera");
    assert_eq!(
        oidc["token_endpoint"],
        "https://id.example.com/tessera/oauth2/token"
    );
    let response = app
        .get("/.well-known/oauth-authorization-server/tessera")
        .await;
    assert_eq!(response.status(), 200);
    let oauth: Value = response.json().await.unwrap();
    assert_eq!(oauth["issuer"], "https://id.example.com/tessera");
    assert_eq!(
        app.get("/tessera/.well-known/jwks.json").await.status(),
        200
    );
    assert_eq!(app.get("/tessera/healthz").await.status(), 200);
}

#[tokio::test]
async fn jwks_publishes_public_rsa_keys_only() {
    let app = TestApp::spawn().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    // 2048-bit modulus: 256 bytes, 342 base64url characters.
    assert!(key["n"].as_str().unwrap().len() >= 342);
    assert!(!key["kid"].as_str().unwrap().is_empty());
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        assert!(
            !key.contains_key(private),
            "private member {private} published"
        );
    }
}

#[tokio::test]
async fn jwks_answers_not_modified_to_a_matching_etag() {
    let app = TestApp::spawn().await;
    let first = app.get("/.well-known/jwks.json").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let second = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 304);
    assert_eq!(second.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn jwks_for_a_client_requires_that_the_client_exists() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let account_id = first_account_id(&app).await;
    let client = deployment.cli(&[
        "clients",
        "create",
        "--account",
        &account_id,
        "--name",
        "Service",
        "--grant",
        "client_credentials",
    ]);
    let client_id = client.json()["client_id"].as_str().unwrap().to_owned();

    let all: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .get(&format!("/.well-known/jwks.json?client_id={client_id}"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), all);

    for unknown in ["cli_01J00000000000000000000000", "nonsense"] {
        let response = app
            .get(&format!("/.well-known/jwks.json?client_id={unknown}"))
            .await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "not_found");
        assert_eq!(problem["status"], 404);
    }
}

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.state.store.close().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(response.headers().contains_key("referrer-policy"));
}

pub async fn first_account_id(app: &TestApp) -> String {
    sqlx::query_scalar::<_, String>("select id from accounts order by created_at limit 1")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}
