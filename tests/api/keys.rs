use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tessera::clock;
use tessera::keys::{SigningKey, VerifyError};
use tessera::oauth::claims::AccessTokenClaims;

use crate::helpers::{Deployment, TestApp};

fn claims(issuer: &str) -> AccessTokenClaims {
    let now = clock::now();
    AccessTokenClaims {
        iss: issuer.to_owned(),
        sub: "usr_01J00000000000000000000000".into(),
        aud: "cli_01J00000000000000000000000".into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: ulid::Ulid::new().to_string(),
        client_id: "cli_01J00000000000000000000000".into(),
        azp: Some("cli_01J00000000000000000000000".into()),
        scope: "openid".into(),
        uid: Some("usr_01J00000000000000000000000".into()),
        acc: Some("acc_01J00000000000000000000000".into()),
        role: Some("admin".into()),
        permissions: None,
        inherited_from: None,
        gid: None,
        amr: None,
        acr: None,
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signed_access_tokens_verify_with_only_the_published_jwks() {
    let app = TestApp::spawn().await;
    let claims = claims(&app.address);
    let token = app.state.keys.sign_access_token(&claims).unwrap();
    assert_eq!(app.state.keys.verify_access_token(&token).unwrap(), claims);

    // What a downstream service does: fetch the JWKS, check signature, typ, iss, aud, exp.
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::RS256);
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[&claims.aud]);
    let verified =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    assert_eq!(verified.claims["acc"], "acc_01J00000000000000000000000");
    assert_eq!(verified.claims["role"], "admin");
}

#[tokio::test]
async fn verification_rejects_forged_and_foreign_tokens() {
    let app = TestApp::spawn().await;
    let keys = &app.state.keys;
    let good = claims(&app.address);
    let kid = keys.signing_key().kid().to_owned();

    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        b64(&json!(good))
    );
    assert!(keys.verify_access_token(&unsigned).is_err());

    // HS256 keyed with the public modulus: the classic algorithm-confusion attack.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.clone());
    let modulus = keys.signing_key().public_jwk().n.clone();
    let confused = jsonwebtoken::encode(
        &header,
        &good,
        &EncodingKey::from_secret(modulus.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        keys.verify_access_token(&confused),
        Err(VerifyError::Algorithm)
    );

    let (stranger, _) = SigningKey::generate().unwrap();
    let foreign = stranger.sign("at+jwt", &good).unwrap();
    assert_eq!(
        keys.verify_access_token(&foreign),
        Err(VerifyError::UnknownKey)
    );

    // A stranger's signature under our kid.
    let mut parts: Vec<String> = foreign.split('.').map(str::to_owned).collect();
    parts[0] = b64(&json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}));
    let resigned = stranger.sign("at+jwt", &good).unwrap();
    let spliced = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        resigned.split('.').nth(2).unwrap()
    );
    assert!(matches!(
        keys.verify_access_token(&spliced),
        Err(VerifyError::Invalid(_))
    ));

    let id_token_typ = keys.signing_key().sign("JWT", &good).unwrap();
    assert_eq!(
        keys.verify_access_token(&id_token_typ),
        Err(VerifyError::Type)
    );

    let mut wrong_issuer = good.clone();
    wrong_issuer.iss = "https://evil.example.com".into();
    let token = keys.sign_access_token(&wrong_issuer).unwrap();
    assert!(matches!(
        keys.verify_access_token(&token),
        Err(VerifyError::Invalid(_))
    ));

    let mut expired = good.clone();
    expired.exp = clock::now() - 61;
    let token = keys.sign_access_token(&expired).unwrap();
    assert!(matches!(
        keys.verify_access_token(&token),
        Err(VerifyError::Invalid(_))
    ));

    let mut within_skew = good.clone();
    within_skew.exp = clock::now() - 30;
    let token = keys.sign_access_token(&within_skew).unwrap();
    assert!(
        keys.verify_access_token(&token).is_ok(),
        "60 s of clock skew is allowed"
    );

    let token = keys.sign_access_token(&good).unwrap();
    let tampered = token.replacen('.', ".e", 1);
    assert!(keys.verify_access_token(&tampered).is_err());
    assert_eq!(
        keys.verify_access_token("not a token"),
        Err(VerifyError::Malformed)
    );
}

#[tokio::test]
async fn rotation_switches_signing_at_once_and_keeps_old_keys_published() {
    let app = TestApp::spawn().await;
    let old_kid = app.state.keys.signing_key().kid().to_owned();
    let old_token = app
        .state
        .keys
        .sign_access_token(&claims(&app.address))
        .unwrap();

    let new = app.state.keys.rotate(&app.state.store).await.unwrap();
    assert_ne!(new.kid, old_kid);
    assert_eq!(app.state.keys.signing_key().kid(), new.kid);
    let published = kids(&app).await;
    assert_eq!(published.len(), 2);
    assert!(published.contains(&old_kid) && published.contains(&new.kid));
    assert!(
        app.state.keys.verify_access_token(&old_token).is_ok(),
        "old tokens stay valid"
    );
}

#[tokio::test]
async fn retired_keys_leave_the_jwks_once_their_tokens_have_expired() {
    let app = TestApp::spawn().await;
    let old_kid = app.state.keys.signing_key().kid().to_owned();
    app.state.keys.rotate(&app.state.store).await.unwrap();
    // Pretend the rotation happened longer ago than any token lives.
    sqlx::query("update signing_keys set retired_at = $1 where id = $2")
        .bind(clock::now() - 2 * 86_400)
        .bind(&old_kid)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert!(app.state.keys.refresh(&app.state.store).await.unwrap());
    assert!(!kids(&app).await.contains(&old_kid));
}

#[tokio::test]
async fn instances_sharing_a_database_sign_alike_and_see_rotations_within_ten_seconds() {
    let deployment = Deployment::new().await;
    let first = deployment.spawn().await;
    let second = deployment.spawn().await;
    assert_eq!(
        kids(&first).await,
        kids(&second).await,
        "one key set for the deployment"
    );
    assert_eq!(
        first.state.keys.signing_key().kid(),
        second.state.keys.signing_key().kid()
    );

    let rotated = deployment.cli(&["keys", "rotate"]).json();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen_by_first = kids(&first).await.contains(&new_kid);
        let seen_by_second = kids(&second).await.contains(&new_kid);
        if seen_by_first && seen_by_second {
            break;
        }
        assert!(Instant::now() < deadline, "rotation not seen within 10 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(first.state.keys.signing_key().kid(), new_kid);
    assert_eq!(second.state.keys.signing_key().kid(), new_kid);
}

#[tokio::test]
async fn private_keys_are_stored_encrypted() {
    let app = TestApp::spawn().await;
    let sealed: Vec<String> = sqlx::query_scalar("select private_key_encrypted from signing_keys")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].starts_with("v1."));
    assert!(!sealed[0].contains("PRIVATE KEY"));
    // The 2048-bit PKCS#8 DER starts with this; the sealed form must not reveal it.
    let raw = URL_SAFE_NO_PAD.decode(&sealed[0][3..]).unwrap();
    assert!(
        !raw.windows(4)
            .any(|w| w == [0x30, 0x82, 0x04, 0xbd] || w == [0x30, 0x82, 0x04, 0xbe])
    );
}
