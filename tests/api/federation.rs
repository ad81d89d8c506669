//! Two Tessera servers, one signing users in through the other (API.md §12): the upstream
//! is a real OpenID provider (its own hosted login page, its own keys), the downstream the
//! relying party under test. Browsers are cookie-keeping clients that follow redirects by
//! hand and sign in on the upstream's login page when they land on it. The upstream
//! listens on 127.0.0.2 so that the two servers' cookies stay apart (cookies ignore ports),
//! as two hosts' do in a real browser.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera::config::Config;
use tessera::upstream::IdentityProvider;

use crate::helpers::{TestApp, form_hidden_inputs};
use crate::kit::{self, ConfidentialClient};

/// The operator provider's id on the downstream.
pub const PROVIDER: &str = "upstream";
pub const PASSWORD: &str = "upstream-password-1";

/// The upstream server and the downstream's client there.
pub struct Upstream {
    pub app: TestApp,
    pub client: ConfidentialClient,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let app = TestApp::spawn_with(|config| {
            config.listen = "127.0.0.2:0".parse().unwrap();
        })
        .await;
        let store = &app.state.store;
        let mut settings =
            tessera::oauth::client::ClientSettings::with_defaults("Downstream".into(), false);
        settings.redirect_uris = vec!["http://127.0.0.1/placeholder".into()];
        let client =
            kit::confidential_client(store, &kit::first_account(store).await, settings).await;
        Upstream { app, client }
    }
}

pub struct Federation {
    pub upstream: TestApp,
    pub downstream: TestApp,
}

impl Federation {
    /// An upstream, and a downstream whose provider `PROVIDER` is it (or, with `issuer`,
    /// whatever that names: an address nobody answers).
    pub async fn start(issuer: Option<String>, configure: impl FnOnce(&mut Config)) -> Federation {
        Federation::on(Upstream::start().await, issuer, configure).await
    }

    /// A downstream whose provider `PROVIDER` is `upstream`, reached at `issuer` (a
    /// tampering proxy in front of it) or at its own address.
    pub async fn on(
        upstream: Upstream,
        issuer: Option<String>,
        configure: impl FnOnce(&mut Config),
    ) -> Federation {
        let Upstream { app, client } = upstream;
        let provider = IdentityProvider {
            id: PROVIDER.into(),
            name: "Upstream".into(),
            issuer: issuer.unwrap_or_else(|| app.address.clone()),
            client_id: client.client_id.to_string(),
            client_secret: client.secret.clone(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
        };
        let downstream = TestApp::spawn_with(|config| {
            config.identity_providers = vec![provider];
            configure(config);
        })
        .await;
        let callback = downstream.url(&format!("/login/idp/{PROVIDER}/callback"));
        sqlx::query("update clients set redirect_uris = $1 where id = $2")
            .bind(json!([callback]).to_string())
            .bind(client.client_id.as_str())
            .execute(app.state.store.pool())
            .await
            .unwrap();
        Federation {
            upstream: app,
            downstream,
        }
    }

    /// A user of the upstream with a password, its address verified or not.
    pub async fn upstream_user(&self, email: &str, verified: bool) -> String {
        let user = self.upstream.user_with(email, Some(PASSWORD)).await;
        if verified {
            self.upstream.verify_email(&user).await;
        }
        user.id
    }

    /// The downstream user with an address, if any.
    pub async fn downstream_user(&self, email: &str) -> Option<tessera::user::User> {
        tessera::store::users::find_by_email(self.downstream.state.store.pool(), email)
            .await
            .unwrap()
    }
}

/// A new browser: its own cookies, redirects followed by hand.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Where a browser went and where it stopped.
pub struct Journey {
    /// Every URL requested, in order.
    pub visited: Vec<String>,
    /// The first answer that was neither a redirect nor the upstream's login page.
    pub end: reqwest::Response,
}

impl Journey {
    /// The callback URL the upstream sent the browser to.
    pub fn callback(&self) -> &str {
        self.visited
            .iter()
            .find(|url| url.contains("/callback?"))
            .expect("the browser reached the callback")
    }
}

/// Opens `url` in `browser` and follows redirects; on the upstream's login page, signs in as
/// `email` with `PASSWORD`.
pub async fn travel(
    browser: &reqwest::Client,
    upstream: &TestApp,
    url: &str,
    email: &str,
) -> Journey {
    travel_until(browser, upstream, url, email, false).await
}

/// The callback URL a sign-in as `email` started in `browser` is sent to, not followed.
pub async fn callback_of(
    browser: &reqwest::Client,
    upstream: &TestApp,
    url: &str,
    email: &str,
) -> String {
    let journey = travel_until(browser, upstream, url, email, true).await;
    journey.visited.last().unwrap().clone()
}

async fn travel_until(
    browser: &reqwest::Client,
    upstream: &TestApp,
    url: &str,
    email: &str,
    stop_at_callback: bool,
) -> Journey {
    let mut url = url.to_owned();
    let mut visited = Vec::new();
    for _ in 0..20 {
        visited.push(url.clone());
        let response = browser.get(&url).send().await.unwrap();
        let on_upstream_login = response.status() == StatusCode::OK
            && response.url().as_str().starts_with(&upstream.address)
            && response.url().path() == "/login";
        let response = if on_upstream_login {
            let html = response.text().await.unwrap();
            let mut form = form_hidden_inputs(&html, "/login");
            form.push(("email".into(), email.into()));
            form.push(("password".into(), PASSWORD.into()));
            let posted = browser
                .post(upstream.url("/login"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(posted.status(), StatusCode::SEE_OTHER, "upstream login");
            posted
        } else {
            response
        };
        if !response.status().is_redirection() {
            return Journey {
                visited,
                end: response,
            };
        }
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        url = response.url().join(location).unwrap().to_string();
        if stop_at_callback && url.contains("/callback?") {
            visited.push(url);
            return Journey {
                visited,
                end: response,
            };
        }
    }
    panic!("too many redirects: {visited:?}");
}

/// Signs in on the downstream through the upstream as `email`; the journey ends on the
/// downstream's page after the callback (its home page when all went well).
pub async fn sign_in(federation: &Federation, browser: &reqwest::Client, email: &str) -> Journey {
    let start = federation.downstream.url(&format!("/login/idp/{PROVIDER}"));
    travel(browser, &federation.upstream, &start, email).await
}

/// The page at `url`, as `browser` sees it.
pub async fn page(browser: &reqwest::Client, url: &str) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}

/// Posts `app`'s login form with `fields` beside its hidden ones; the answer, not followed.
pub async fn post_login(
    app: &TestApp,
    browser: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let login = page(browser, &app.url("/login")).await;
    let mut form = form_hidden_inputs(&login, "/login");
    form.extend(
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Asserts that `journey` ended well and left `browser` signed in on `downstream` as `email`.
pub async fn assert_signed_in(
    journey: &Journey,
    downstream: &TestApp,
    browser: &reqwest::Client,
    email: &str,
) {
    assert_eq!(
        journey.end.status(),
        StatusCode::OK,
        "{:?}",
        journey.visited
    );
    assert_eq!(
        signed_in_as(downstream, browser).await.as_deref(),
        Some(email)
    );
}

/// Whom the downstream's home page says the browser is signed in as.
pub async fn signed_in_as(downstream: &TestApp, browser: &reqwest::Client) -> Option<String> {
    let page = browser.get(downstream.url("/")).send().await.unwrap();
    if page.status() != StatusCode::OK {
        return None;
    }
    let html = page.text().await.unwrap();
    let rest = html.split("You are signed in as ").nth(1)?;
    let sentence = rest.split('<').next()?.trim();
    Some(sentence.trim_end_matches('.').to_owned())
}

/// How the tampering proxy misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// Passes the upstream's answers on, re-signed with its own key under its own issuer:
    /// a sign-in through it works (so a refusal in another mode is the tampering's doing).
    Honest,
    /// Its metadata names another issuer.
    DiscoveryIssuer,
    /// ID tokens keep the upstream's `iss`, not the proxy's.
    TokenIssuer,
    /// ID tokens' signatures are broken.
    Signature,
    /// ID tokens carry another nonce.
    Nonce,
    /// ID tokens are for another client.
    Audience,
    /// ID tokens are HMAC-signed with the client secret.
    Symmetric,
}

struct Proxy {
    base: String,
    upstream: String,
    client_secret: String,
    mode: Tamper,
    key: Ed25519KeyPair,
    encoding: EncodingKey,
}

/// A provider in front of the upstream that re-signs its ID tokens with a key of its own and
/// tampers with them as `mode` says; its address is the issuer to configure.
pub async fn tampering_proxy(upstream: &TestApp, client_secret: &str, mode: Tamper) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.3:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let proxy = Arc::new(Proxy {
        base: base.clone(),
        upstream: upstream.address.clone(),
        client_secret: client_secret.to_owned(),
        mode,
        key: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(proxy_metadata))
        .route("/oauth2/authorize", get(proxy_authorize))
        .route("/oauth2/token", post(proxy_token))
        .route("/jwks", get(proxy_jwks))
        .with_state(proxy);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

async fn proxy_metadata(State(proxy): State<Arc<Proxy>>) -> Response {
    let url = format!("{}/.well-known/openid-configuration", proxy.upstream);
    let mut metadata: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    metadata["issuer"] = json!(proxy.base);
    metadata["authorization_endpoint"] = json!(format!("{}/oauth2/authorize", proxy.base));
    metadata["token_endpoint"] = json!(format!("{}/oauth2/token", proxy.base));
    metadata["jwks_uri"] = json!(format!("{}/jwks", proxy.base));
    if proxy.mode == Tamper::DiscoveryIssuer {
        metadata["issuer"] = json!("https://someone-else.example");
    }
    axum::Json(metadata).into_response()
}

async fn proxy_authorize(State(proxy): State<Arc<Proxy>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    Redirect::to(&format!("{}/oauth2/authorize?{query}", proxy.upstream)).into_response()
}

async fn proxy_jwks(State(proxy): State<Arc<Proxy>>) -> Response {
    let x = URL_SAFE_NO_PAD.encode(proxy.key.public_key().as_ref());
    axum::Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "proxy-key", "alg": "EdDSA", "use": "sig"
    }]}))
    .into_response()
}

async fn proxy_token(State(proxy): State<Arc<Proxy>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", proxy.upstream))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, authorization.to_str().unwrap());
    }
    let answered = request.send().await.unwrap();
    let status = answered.status();
    let mut tokens: Value = answered.json().await.unwrap();
    if !status.is_success() {
        return (StatusCode::BAD_REQUEST, axum::Json(tokens)).into_response();
    }
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    if proxy.mode != Tamper::TokenIssuer {
        claims["iss"] = json!(proxy.base);
    }
    if proxy.mode == Tamper::Nonce {
        claims["nonce"] = json!("another-login");
    }
    if proxy.mode == Tamper::Audience {
        claims["aud"] = json!("cli_someone_else");
    }
    let signed = if proxy.mode == Tamper::Symmetric {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("proxy-key".into());
        let key = EncodingKey::from_secret(proxy.client_secret.as_bytes());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    } else {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("proxy-key".into());
        jsonwebtoken::encode(&header, &claims, &proxy.encoding).unwrap()
    };
    let signed = if proxy.mode == Tamper::Signature {
        let (content, signature) = signed.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[10] ^= 0x01;
        format!("{content}.{}", URL_SAFE_NO_PAD.encode(bytes))
    } else {
        signed
    };
    tokens["id_token"] = json!(signed);
    axum::Json(tokens).into_response()
}
