//! The authorization-code flow end to end: a browser-like client through the hosted login,
//! the `oauth2` crate as the relying party, tokens verified against the JWKS.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client_credentials::{Registered, register};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp};

const REDIRECT_URI: &str = "https://app.example.com/callback";

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

pub type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
pub type OidcClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A relying party registered in the first account, and the user it logs in.
pub struct Rp {
    pub registered: Registered,
    pub oauth: OidcClient,
    pub http: reqwest::Client,
}

impl Rp {
    pub async fn register(deployment: &Deployment, app: &TestApp, extra: &[&str]) -> Rp {
        let mut args = vec!["--redirect-uri", REDIRECT_URI];
        args.extend_from_slice(extra);
        let registered = register(deployment, app, &args).await;
        let mut oauth: OidcClient = oauth2::Client::<
            BasicErrorResponse,
            OidcTokenResponse,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
        >::new(ClientId::new(registered.client_id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
        if let Some(secret) = &registered.secret {
            oauth = oauth.set_client_secret(ClientSecret::new(secret.clone()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Rp {
            registered,
            oauth,
            http,
        }
    }

    /// The authorization URL for `scopes` with PKCE, a state and a nonce.
    pub fn authorize_url(
        &self,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> (String, CsrfToken, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        for (name, value) in extra {
            request = request.add_extra_param(*name, *value);
        }
        let (url, state) = request.url();
        (url.to_string(), state, verifier)
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<OidcTokenResponse, String> {
        self.oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|error| format!("{error:?}"))
    }

    pub async fn refresh(&self, token: &str) -> Result<OidcTokenResponse, String> {
        self.oauth
            .exchange_refresh_token(&RefreshToken::new(token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|error| format!("{error:?}"))
    }
}

/// Follows an authorization URL the way a browser does: log in when sent to the login page,
/// then return the final redirect's `Location`.
pub async fn browse_to_callback(
    app: &TestApp,
    authorize_url: &str,
    email: &str,
    password: &str,
) -> String {
    let response = app.http.get(authorize_url).send().await.unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let mut location = response.headers()["location"].to_str().unwrap().to_owned();
    if location.starts_with("/login") {
        let login = app
            .submit_form(
                &location,
                "/login",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(login.status(), 303);
        let back = login.headers()["location"].to_str().unwrap().to_owned();
        assert!(back.starts_with("/oauth2/authorize?"), "{back}");
        let response = app.get(&back).await;
        assert_eq!(response.status(), 303);
        location = response.headers()["location"].to_str().unwrap().to_owned();
    }
    location
}

/// The query parameters of a redirect.
pub fn query(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub async fn verify(app: &TestApp, token: &str, typ: &str, audience: &str) -> Value {
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ));
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// Logs the admin in through a full code flow and returns the token response.
pub async fn log_in_through_code_flow(
    app: &TestApp,
    rp: &Rp,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> OidcTokenResponse {
    let (url, state, verifier) = rp.authorize_url(scopes, extra);
    let location = browse_to_callback(app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let params = query(&location);
    assert_eq!(params.get("state"), Some(state.secret()), "{location}");
    rp.exchange(&params["code"], verifier).await.unwrap()
}

pub async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    app.http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_logs_in_and_the_client_gets_verified_tokens() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let (url, state, verifier) = rp.authorize_url(
        &["openid", "email", "profile", "offline_access"],
        &[("nonce", "n-0S6_WzA2Mj")],
    );

    let first = app.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let login = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(login.starts_with("/login?return_to="), "{login}");

    let location = browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let params = query(&location);
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], app.address, "RFC 9207 iss");
    let tokens = rp.exchange(&params["code"], verifier).await.unwrap();
    assert_eq!(*tokens.token_type(), BasicTokenType::Bearer);
    assert!(tokens.refresh_token().is_some());
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 900);

    let access = verify(
        &app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    let admin_id = access["sub"].as_str().unwrap().to_owned();
    assert!(admin_id.starts_with("usr_"));
    assert_eq!(access["uid"], admin_id.as_str());
    assert_eq!(access["client_id"], rp.registered.client_id.as_str());
    assert_eq!(access["scope"], "openid email profile offline_access");
    assert!(
        access.get("acc").is_none(),
        "a login token is not account-scoped"
    );

    let id_token = tokens
        .extra_fields()
        .id_token
        .clone()
        .expect("id_token for openid");
    let id = verify(&app, &id_token, "JWT", &rp.registered.client_id).await;
    assert_eq!(id["sub"], admin_id.as_str());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["email"], ADMIN_EMAIL);
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Administrator");
    assert!(id["auth_time"].as_i64().unwrap() > 0);
    assert_eq!(
        id["at_hash"],
        tessera::oauth::id_token::at_hash(tokens.access_token().secret())
    );

    let userinfo: Value = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], admin_id.as_str());
    assert_eq!(userinfo["email"], ADMIN_EMAIL);
    assert_eq!(userinfo["name"], "Administrator");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let (url, _, verifier) = rp.authorize_url(&["openid", "offline_access"], &[]);
    let location = browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let code = query(&location)["code"].clone();
    let verifier_again = PkceCodeVerifier::new(verifier.secret().clone());
    let tokens = rp.exchange(&code, verifier).await.unwrap();
    assert_eq!(
        introspect(&app, &rp, tokens.access_token().secret()).await["active"],
        true
    );

    let replay = rp.exchange(&code, verifier_again).await.unwrap_err();
    assert!(replay.contains("invalid_grant"), "{replay}");
    assert_eq!(
        introspect(&app, &rp, tokens.access_token().secret()).await["active"],
        false
    );
    let refresh = tokens.refresh_token().unwrap().secret();
    assert_eq!(introspect(&app, &rp, refresh).await["active"], false);
    assert!(rp.refresh(refresh).await.is_err());
}

#[tokio::test]
async fn codes_are_bound_to_verifier_redirect_uri_and_lifetime() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;

    let (url, _, _) = rp.authorize_url(&["openid"], &[]);
    let code =
        query(&browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await)["code"].clone();
    let wrong = PkceCodeVerifier::new("x".repeat(43));
    assert!(
        rp.exchange(&code, wrong)
            .await
            .unwrap_err()
            .contains("invalid_grant")
    );

    let (url, _, verifier) = rp.authorize_url(&["openid"], &[]);
    let code =
        query(&browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await)["code"].clone();
    let other_redirect = rp
        .oauth
        .clone()
        .set_redirect_uri(RedirectUrl::new("https://app.example.com/other".into()).unwrap());
    let error = other_redirect
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&rp.http)
        .await
        .unwrap_err();
    assert!(format!("{error:?}").contains("invalid_grant"));

    let (url, _, verifier) = rp.authorize_url(&["openid"], &[]);
    let code =
        query(&browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await)["code"].clone();
    sqlx::query("update authorization_codes set expires_at = $1")
        .bind(tessera::clock::now() - 1)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert!(
        rp.exchange(&code, verifier)
            .await
            .unwrap_err()
            .contains("invalid_grant")
    );
}

#[tokio::test]
async fn unverified_clients_and_redirect_uris_get_an_error_page_never_a_redirect() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for query in [
        "response_type=code&client_id=cli_01J00000000000000000000000&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback".to_owned(),
        format!("response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcallback", rp.registered.client_id),
        format!("response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback%2F", rp.registered.client_id),
        format!("response_type=code&client_id={}", rp.registered.client_id),
        "response_type=code".to_owned(),
    ] {
        let response = app.get(&format!("/oauth2/authorize?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("<h1>"));
    }
}

#[tokio::test]
async fn request_errors_after_verification_go_back_to_the_client() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let public = Rp::register(&deployment, &app, &["--public"]).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let base = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=s1",
        public.registered.client_id
    );
    for (extra, error) in [
        ("", "invalid_request"),
        (
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=plain",
            "invalid_request",
        ),
        (
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=admin",
            "invalid_scope",
        ),
    ] {
        let response = app.get(&format!("{base}{extra}")).await;
        assert_eq!(response.status(), 303, "{extra}");
        let params = query(response.headers()["location"].to_str().unwrap());
        assert_eq!(params["error"], error, "{extra}");
        assert_eq!(params["state"], "s1");
        assert_eq!(params["iss"], app.address);
    }
    let response = app
        .get(&base.replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(
        query(response.headers()["location"].to_str().unwrap())["error"],
        "unsupported_response_type"
    );

    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (url, _, _) = public.authorize_url(&["openid"], &[("prompt", "none")]);
    let response = anonymous.get(url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        query(response.headers()["location"].to_str().unwrap())["error"],
        "login_required"
    );
}

#[tokio::test]
async fn a_public_client_completes_the_flow_with_pkce_and_no_secret() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &["--public"]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    assert!(tokens.extra_fields().id_token.is_some());
    let access = verify(
        &app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(access["client_id"], rp.registered.client_id.as_str());
}

#[tokio::test]
async fn an_account_scoped_login_carries_acc_and_role_for_members_only() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let account_id = rp.registered.account_id.clone();
    let tokens =
        log_in_through_code_flow(&app, &rp, &["openid"], &[("account_id", &account_id)]).await;
    let access = verify(
        &app,
        tokens.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(access["acc"], account_id.as_str());
    assert_eq!(access["role"], "owner");
    let refreshed = rp
        .refresh(tokens.refresh_token().unwrap().secret())
        .await
        .unwrap();
    let access = verify(
        &app,
        refreshed.access_token().secret(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(
        access["acc"],
        account_id.as_str(),
        "the account stays bound to the refresh family"
    );

    let elsewhere = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Elsewhere",
            "--owner",
            "someone@example.com",
        ])
        .json();
    let (url, _, _) = rp.authorize_url(
        &["openid"],
        &[("account_id", elsewhere["id"].as_str().unwrap())],
    );
    let location = browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(query(&location)["error"], "access_denied");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(
        &app,
        &rp,
        &["openid", "offline_access"],
        &[("nonce", "abc")],
    )
    .await;
    let first_id = verify(
        &app,
        tokens.extra_fields().id_token.as_deref().unwrap(),
        "JWT",
        &rp.registered.client_id,
    )
    .await;
    let first_refresh = tokens.refresh_token().unwrap().secret().clone();

    let rotated = rp.refresh(&first_refresh).await.unwrap();
    let second_refresh = rotated.refresh_token().unwrap().secret().clone();
    assert_ne!(first_refresh, second_refresh);
    let id = verify(
        &app,
        rotated.extra_fields().id_token.as_deref().unwrap(),
        "JWT",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
    assert!(id.get("nonce").is_none(), "no nonce on refresh");
    assert_eq!(
        introspect(&app, &rp, &second_refresh).await["token_type"],
        "refresh_token"
    );

    let reuse = rp.refresh(&first_refresh).await.unwrap_err();
    assert!(reuse.contains("invalid_grant"), "{reuse}");
    assert!(
        rp.refresh(&second_refresh).await.is_err(),
        "the whole family is revoked"
    );
    assert_eq!(
        introspect(&app, &rp, rotated.access_token().secret()).await["active"],
        false
    );
}

#[tokio::test]
async fn a_retry_within_the_grace_period_gets_a_fresh_pair() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    sqlx::query("update clients set refresh_reuse_grace_seconds = 30 where id = $1")
        .bind(&rp.registered.client_id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let first = rp.refresh(&refresh).await.unwrap();
    let retry = rp
        .refresh(&refresh)
        .await
        .expect("a retry within the grace period succeeds");
    assert_ne!(
        first.refresh_token().unwrap().secret(),
        retry.refresh_token().unwrap().secret()
    );
    assert!(
        rp.refresh(retry.refresh_token().unwrap().secret())
            .await
            .is_ok()
    );

    // Past the grace period it is reuse again.
    sqlx::query("update refresh_tokens set used_at = used_at - 31 where used_at is not null")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert!(rp.refresh(&refresh).await.is_err());
    assert!(
        rp.refresh(first.refresh_token().unwrap().secret())
            .await
            .is_err(),
        "family revoked"
    );
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_yields_at_most_one_pair() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let attempts = futures_join(&rp, &refresh).await;
    assert!(
        attempts.iter().filter(|ok| **ok).count() <= 1,
        "{attempts:?}"
    );
}

async fn futures_join(rp: &Rp, refresh: &str) -> Vec<bool> {
    let (a, b, c, d) = tokio::join!(
        rp.refresh(refresh),
        rp.refresh(refresh),
        rp.refresh(refresh),
        rp.refresh(refresh)
    );
    [a, b, c, d].iter().map(Result::is_ok).collect()
}

#[tokio::test]
async fn userinfo_demands_a_live_user_token_with_openid() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let missing = app.get("/oauth2/userinfo").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer"
    );
    let garbage = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let tokens = log_in_through_code_flow(&app, &rp, &["email"], &[]).await;
    let no_openid = app
        .http
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(no_openid.status(), 403);

    let tokens = log_in_through_code_flow(&app, &rp, &["openid"], &[]).await;
    let ok: Value = app
        .http
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ok.get("email").is_none(),
        "no email claim without the email scope"
    );
    app.http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
        .form(&[("token", tokens.refresh_token().unwrap().secret())])
        .send()
        .await
        .unwrap();
    let revoked = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoked.status(),
        401,
        "revoking the refresh token ends the family's access tokens"
    );
}

#[tokio::test]
async fn token_exchange_scopes_a_login_to_one_account() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let login = log_in_through_code_flow(&app, &rp, &["openid", "email"], &[]).await;
    let subject = login.access_token().secret().clone();
    let exchange = |account_id: String, scope: Option<&'static str>, subject: String| {
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token".to_owned(),
            ),
            ("account_id", account_id),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_owned()));
        }
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
            .form(&form)
            .send()
    };
    let response = exchange(
        rp.registered.account_id.clone(),
        Some("email"),
        subject.clone(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(body.get("refresh_token").is_none());
    let claims = verify(
        &app,
        body["access_token"].as_str().unwrap(),
        "at+jwt",
        &rp.registered.client_id,
    )
    .await;
    assert_eq!(claims["acc"], rp.registered.account_id.as_str());
    assert_eq!(claims["role"], "owner");
    assert_eq!(claims["scope"], "email");

    let wider = exchange(
        rp.registered.account_id.clone(),
        Some("email profile"),
        subject.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        wider.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let other = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Other",
            "--owner",
            "x@example.com",
        ])
        .json();
    let not_member = exchange(
        other["id"].as_str().unwrap().to_owned(),
        None,
        subject.clone(),
    )
    .await
    .unwrap();
    assert_eq!(not_member.status(), 400);
    assert_eq!(
        not_member.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
}
