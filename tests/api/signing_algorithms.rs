//! Signing algorithms (API.md §14): servers on RS256, ES256 and EdDSA, a client asking for
//! another algorithm than the server's, and a rotation of one algorithm among several. Every
//! token is checked by josekit against the published JWKS: an independent JOSE library, not
//! the `jsonwebtoken` crate the server verifies with.

use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{ES256, EdDSA, JwsVerifier, RS256};
use oauth2::TokenResponse;
use reqwest::Method;
use serde_json::{Value, json};
use tessera::keys::SigningAlg;
use tessera::oauth::id_token::at_hash_for;

use crate::admin::superadmin;
use crate::authorization_code::{Rp, introspect, log_in_through_code_flow};
use crate::client_credentials::register;
use crate::clients::create_client;
use crate::discovery::first_account_id;
use crate::helpers::{Deployment, TestApp, TestUser, expect_problem};

/// A server of a deployment of its own whose key is of `alg` (`TESSERA_SIGNING_ALG`).
async fn spawn_on(alg: SigningAlg) -> (Deployment, TestApp) {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.signing_alg = alg;
    let app = TestApp::start(config).await;
    (deployment, app)
}

async fn jwks(app: &TestApp, query: &str) -> JwkSet {
    let response = app.get(&format!("/.well-known/jwks.json{query}")).await;
    assert_eq!(response.status(), 200);
    JwkSet::from_bytes(response.bytes().await.unwrap()).unwrap()
}

/// The `alg` of each published key, in JWKS order.
async fn published_algs(app: &TestApp, query: &str) -> Vec<String> {
    jwks(app, query)
        .await
        .keys()
        .iter()
        .map(|jwk| jwk.algorithm().unwrap().to_owned())
        .collect()
}

/// What a token's header says, read by josekit.
fn header_of(token: &str) -> (String, String, String) {
    let header = josekit::jwt::decode_header(token).unwrap();
    let text = |name: &str| {
        header
            .claim(name)
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    };
    (text("alg"), text("kid"), text("typ"))
}

/// What a relying party or resource server does with josekit alone: find the key by `kid` in
/// the published JWKS, check that its `kty`/`crv` fit the header's `alg`, verify the signature,
/// then `typ`, `iss`, `aud` and `exp`. Returns the header's `alg`, its `kid` and the claims.
async fn jose_verify(
    app: &TestApp,
    token: &str,
    typ: &str,
    audience: &str,
) -> (String, String, Value) {
    let (alg, kid, token_typ) = header_of(token);
    assert_eq!(token_typ, typ);
    let set = jwks(app, "").await;
    let keys = set.get(&kid);
    let jwk: &Jwk = keys.first().expect("the kid is published");
    assert_eq!(jwk.algorithm(), Some(alg.as_str()));
    assert_eq!(jwk.key_use(), Some("sig"));
    assert!(jwk.parameter("d").is_none(), "no private part is published");
    let verifier: Box<dyn JwsVerifier> = match alg.as_str() {
        "RS256" => {
            assert_eq!(jwk.key_type(), "RSA");
            Box::new(RS256.verifier_from_jwk(jwk).unwrap())
        }
        "ES256" => {
            assert_eq!(jwk.key_type(), "EC");
            assert_eq!(jwk.curve(), Some("P-256"));
            Box::new(ES256.verifier_from_jwk(jwk).unwrap())
        }
        "EdDSA" => {
            assert_eq!(jwk.key_type(), "OKP");
            assert_eq!(jwk.curve(), Some("Ed25519"));
            Box::new(EdDSA.verifier_from_jwk(jwk).unwrap())
        }
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &*verifier).unwrap();
    assert_eq!(payload.issuer(), Some(app.address.as_str()));
    assert_eq!(payload.audience(), Some(vec![audience]));
    assert!(payload.expires_at().unwrap() > std::time::SystemTime::now());
    (alg, kid, Value::Object(payload.claims_set().clone()))
}

async fn client_credentials_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A confidential client-credentials client registered through REST with `extra` fields.
async fn service_client(app: &TestApp, admin: &TestUser, extra: Value) -> (String, String) {
    let account = first_account_id(app).await;
    let mut body = json!({
        "name": "Service",
        "redirect_uris": [],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["read:invoices"],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let client = create_client(app, admin, &account, &body).await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A server on `alg` issues client-credentials tokens and code-flow access and ID tokens of
/// `alg` that josekit verifies against the JWKS, which publishes one key, of `alg`; the
/// server itself accepts them (introspection, userinfo).
async fn a_server_signs_everything_with(alg: SigningAlg) {
    let (deployment, app) = spawn_on(alg).await;
    assert_eq!(published_algs(&app, "").await, [alg.as_str()]);

    let service = register(
        &deployment,
        &app,
        &["--grant", "client_credentials", "--scope", "read:invoices"],
    )
    .await;
    let secret = service.secret.as_deref().unwrap();
    let token = client_credentials_token(&app, &service.client_id, secret).await;
    let (token_alg, _, claims) = jose_verify(&app, &token, "at+jwt", &service.client_id).await;
    assert_eq!(token_alg, alg.as_str());
    assert_eq!(claims["client_id"], service.client_id.as_str());

    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid", "email"], &[]).await;
    let access_token = tokens.access_token().secret();
    let client_id = rp.registered.client_id.as_str();
    let (access_alg, _, _) = jose_verify(&app, access_token, "at+jwt", client_id).await;
    assert_eq!(access_alg, alg.as_str());
    let id_token = tokens.extra_fields().id_token.as_deref().unwrap();
    let (id_alg, _, id_claims) = jose_verify(&app, id_token, "JWT", client_id).await;
    assert_eq!(id_alg, alg.as_str());
    assert_eq!(
        id_claims["at_hash"],
        at_hash_for(access_token, alg).as_str()
    );

    assert_eq!(introspect(&app, &rp, access_token).await["active"], true);
    let userinfo = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
}

#[tokio::test]
async fn an_rs256_server_signs_tokens_an_independent_library_verifies() {
    a_server_signs_everything_with(SigningAlg::Rs256).await;
}

#[tokio::test]
async fn an_es256_server_signs_tokens_an_independent_library_verifies() {
    a_server_signs_everything_with(SigningAlg::Es256).await;
}

#[tokio::test]
async fn an_eddsa_server_signs_tokens_an_independent_library_verifies() {
    a_server_signs_everything_with(SigningAlg::EdDsa).await;
}

#[tokio::test]
async fn a_client_may_ask_for_another_algorithm_than_the_servers() {
    let (deployment, app) = spawn_on(SigningAlg::Rs256).await;
    let admin = superadmin(&app).await;
    assert_eq!(published_algs(&app, "").await, ["RS256"]);

    // Registering a client that asks for ES256 makes and publishes an ES256 key at once.
    let (es_client, es_secret) =
        service_client(&app, &admin, json!({"access_token_signing_alg": "ES256"})).await;
    let mut algs = published_algs(&app, "").await;
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    let (plain_client, plain_secret) = service_client(&app, &admin, json!({})).await;

    let token = client_credentials_token(&app, &es_client, &es_secret).await;
    assert_eq!(
        jose_verify(&app, &token, "at+jwt", &es_client).await.0,
        "ES256"
    );
    let token = client_credentials_token(&app, &plain_client, &plain_secret).await;
    assert_eq!(
        jose_verify(&app, &token, "at+jwt", &plain_client).await.0,
        "RS256"
    );

    // `?client_id=`: the keys that verify that client's tokens (its access tokens ES256,
    // its ID tokens the server's RS256).
    let mut algs = published_algs(&app, &format!("?client_id={es_client}")).await;
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    assert_eq!(
        published_algs(&app, &format!("?client_id={plain_client}")).await,
        ["RS256"]
    );

    // The view shows the choice; null gives the server's algorithm back.
    let account = first_account_id(&app).await;
    let path = format!("/v1/accounts/{account}/clients/{es_client}");
    let view: Value = app
        .api(Method::GET, &path, &admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["access_token_signing_alg"], "ES256");
    assert_eq!(view["id_token_signed_response_alg"], Value::Null);
    let response = app
        .api(Method::PATCH, &path, &admin.token)
        .json(&json!({"access_token_signing_alg": "HS256"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "access_token_signing_alg");
    let response = app
        .api(Method::PATCH, &path, &admin.token)
        .json(&json!({"access_token_signing_alg": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = client_credentials_token(&app, &es_client, &es_secret).await;
    assert_eq!(
        jose_verify(&app, &token, "at+jwt", &es_client).await.0,
        "RS256"
    );
    // The ES256 key stays published: tokens it signed are still valid.
    assert!(published_algs(&app, "").await.contains(&"ES256".to_owned()));

    // The CLI: ID tokens in EdDSA for one relying party, access tokens the server's.
    let rp = Rp::register(
        &deployment,
        &app,
        &["--id-token-signed-response-alg", "EdDSA"],
    )
    .await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let client_id = rp.registered.client_id.as_str();
    let access_token = tokens.access_token().secret();
    assert_eq!(
        jose_verify(&app, access_token, "at+jwt", client_id).await.0,
        "RS256"
    );
    let id_token = tokens.extra_fields().id_token.as_deref().unwrap();
    let (id_alg, _, id_claims) = jose_verify(&app, id_token, "JWT", client_id).await;
    assert_eq!(id_alg, "EdDSA");
    assert_eq!(
        id_claims["at_hash"],
        at_hash_for(access_token, SigningAlg::EdDsa).as_str()
    );
    let mut algs = published_algs(&app, &format!("?client_id={client_id}")).await;
    algs.sort();
    assert_eq!(algs, ["EdDSA", "RS256"]);
    assert_eq!(introspect(&app, &rp, access_token).await["active"], true);
    // The ID token is a hint logout accepts.
    let logout = app
        .get(&format!("/oauth2/logout?id_token_hint={id_token}"))
        .await;
    assert!(logout.status().is_success() || logout.status().is_redirection());

    // Discovery lists all three.
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn registration_metadata_names_the_algorithms() {
    let app = TestApp::spawn().await;
    let admin = superadmin(&app).await;
    let account = first_account_id(&app).await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{account}/api-keys"),
            &admin.token,
        )
        .json(&json!({"name": "registrar", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    let api_key = key["token"].as_str().unwrap();
    let register = |metadata: Value| {
        app.http
            .post(app.url("/oauth2/register"))
            .bearer_auth(api_key)
            .json(&metadata)
            .send()
    };
    let refused = register(json!({
        "grant_types": ["client_credentials"],
        "response_types": [],
        "id_token_signed_response_alg": "none",
    }))
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");

    let registered = register(json!({
        "grant_types": ["client_credentials"],
        "response_types": [],
        "scope": "read:invoices",
        "access_token_signing_alg": "EdDSA",
        "id_token_signed_response_alg": "ES256",
    }))
    .await
    .unwrap();
    assert_eq!(registered.status(), 201);
    let client: Value = registered.json().await.unwrap();
    assert_eq!(client["access_token_signing_alg"], "EdDSA");
    assert_eq!(client["id_token_signed_response_alg"], "ES256");
    let mut algs = published_algs(&app, "").await;
    algs.sort();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    let client_id = client["client_id"].as_str().unwrap();
    let token =
        client_credentials_token(&app, client_id, client["client_secret"].as_str().unwrap()).await;
    assert_eq!(
        jose_verify(&app, &token, "at+jwt", client_id).await.0,
        "EdDSA"
    );
}

#[tokio::test]
async fn rotating_one_algorithm_leaves_the_others_and_keeps_old_tokens_valid() {
    let (deployment, app) = spawn_on(SigningAlg::Rs256).await;
    let admin = superadmin(&app).await;
    let (es_client, es_secret) =
        service_client(&app, &admin, json!({"access_token_signing_alg": "ES256"})).await;
    let (rs_client, rs_secret) = service_client(&app, &admin, json!({})).await;
    let old_es = client_credentials_token(&app, &es_client, &es_secret).await;
    let old_rs = client_credentials_token(&app, &rs_client, &rs_secret).await;
    let (_, old_es_kid, _) = header_of(&old_es);
    let (_, rs_kid, _) = header_of(&old_rs);

    let response = app
        .api(Method::POST, "/v1/admin/keys/rotate", &admin.token)
        .json(&json!({"alg": "ES256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    assert_eq!(rotated["alg"], "ES256");
    assert_eq!(rotated["kty"], "EC");
    assert_eq!(rotated["active"], true);
    let new_es_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_es_kid, old_es_kid);

    // New ES256 tokens carry the new kid; RS256 signing goes on with the same key.
    let new_es = client_credentials_token(&app, &es_client, &es_secret).await;
    let (alg, kid, _) = jose_verify(&app, &new_es, "at+jwt", &es_client).await;
    assert_eq!((alg.as_str(), kid.as_str()), ("ES256", new_es_kid.as_str()));
    let new_rs = client_credentials_token(&app, &rs_client, &rs_secret).await;
    assert_eq!(
        jose_verify(&app, &new_rs, "at+jwt", &rs_client).await.1,
        rs_kid
    );

    // The old ES256 key stays published until its tokens expire: its token still verifies,
    // for josekit and for the server.
    let kids: Vec<String> = jwks(&app, "")
        .await
        .keys()
        .iter()
        .map(|jwk| jwk.key_id().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 3);
    for kid in [&old_es_kid, &new_es_kid, &rs_kid] {
        assert!(kids.contains(kid), "{kid} is published");
    }
    jose_verify(&app, &old_es, "at+jwt", &es_client).await;
    assert!(app.state.keys.verify_access_token(&old_es).is_ok());
    assert!(app.state.keys.verify_access_token(&old_rs).is_ok());

    // An unknown algorithm is a validation error, not a rotation.
    let response = app
        .api(Method::POST, "/v1/admin/keys/rotate", &admin.token)
        .json(&json!({"alg": "HS256"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "validation_failed").await;

    // The CLI rotates one algorithm too; the server picks the key up (at the latest when it
    // next signs with that algorithm).
    let rotated = deployment.cli(&["keys", "rotate", "--alg", "ES256"]).json();
    assert_eq!(rotated["alg"], "ES256");
    let newest_kid = rotated["kid"].as_str().unwrap();
    app.state.keys.refresh(&app.state.store).await.unwrap();
    let token = client_credentials_token(&app, &es_client, &es_secret).await;
    assert_eq!(header_of(&token).1, newest_kid);
    assert_eq!(
        jose_verify(&app, &new_rs, "at+jwt", &rs_client).await.1,
        rs_kid
    );
    let invalid = deployment.cli(&["keys", "rotate", "--alg", "HS256"]);
    assert_ne!(invalid.code(), Some(0));
}
