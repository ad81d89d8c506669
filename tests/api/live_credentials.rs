//! Credentials already handed out follow what happens to their owner (API.md §5): suspending an
//! account (or an ancestor) stops its account tokens and API keys at once, introspection says
//! so and reports the member's role as it is now, a demoted admin's token acts as what the
//! member now is; a second PostgreSQL instance follows within moments even when its listener
//! connection is killed; and one authorization code, raced, is redeemed once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::PkceCodeVerifier;
use reqwest::Method;
use serde_json::{Value, json};

use crate::account_tokens::account_token;
use crate::api_keys::create_key;
use crate::authorization_code::{Rp, browse_to_callback, query};
use crate::clients::{client_credentials, confidential, create_client};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestApp, TestUser, expect_problem};

/// The redirect URI `Rp::register` registers.
const REDIRECT_URI: &str = "https://app.example.com/callback";

/// A client credential that may introspect.
struct Introspector {
    id: String,
    secret: String,
}

impl Introspector {
    /// A confidential client of `account`, so it may introspect that account's API keys.
    async fn of(app: &TestApp, by: &TestUser, account: &str) -> Introspector {
        let created = create_client(app, by, account, &confidential()).await;
        Introspector {
            id: created["client_id"].as_str().unwrap().to_owned(),
            secret: created["client_secret"].as_str().unwrap().to_owned(),
        }
    }

    /// The login client: account tokens made with `POST /v1/auth/account-token` are its own.
    async fn login(app: &TestApp) -> Introspector {
        let client = app.login_client().await;
        Introspector {
            id: client.client_id.to_string(),
            secret: client.secret,
        }
    }

    async fn introspect(&self, app: &TestApp, token: &str) -> Value {
        let response = app
            .http
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "introspection");
        response.json().await.unwrap()
    }
}

/// An account token of `user` for `account`, through the REST form.
async fn scoped_token(app: &TestApp, user: &TestUser, account: &str) -> String {
    let response = account_token(app, user, json!({"account_id": account})).await;
    assert_eq!(response.status(), 200, "account token");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn status(app: &TestApp, method: Method, path: &str, token: &str) -> u16 {
    app.api(method, path, token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /v1/accounts/{account}`: what any credential of the account may read.
async fn read_account(app: &TestApp, account: &str, token: &str) -> u16 {
    status(app, Method::GET, &format!("/v1/accounts/{account}"), token).await
}

async fn expect_invalid_token(app: &TestApp, account: &str, token: &str) {
    let response = app
        .api(Method::GET, &format!("/v1/accounts/{account}"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    expect_problem(response, 401, "invalid_token").await;
}

async fn set_status(app: &TestApp, owner: &TestUser, account: &str, status: &str) {
    let response = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            &owner.token,
        )
        .header("content-type", "application/merge-patch+json")
        .body(json!({ "status": status }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "set status {status}");
}

async fn set_role(app: &TestApp, owner: &TestUser, account: &str, member: &TestUser, role: &str) {
    let path = format!("/v1/accounts/{account}/members/{}", member.id);
    let response = app
        .api(Method::PATCH, &path, &owner.token)
        .json(&json!({ "role": role }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "set role {role}");
}

#[tokio::test]
async fn suspension_stops_account_tokens_and_api_keys_at_once_and_reactivation_restores_them() {
    let app = TestApp::spawn().await;
    let team = app.team("suspend").await;
    let account = team.account.as_str();
    let token = scoped_token(&app, &team.admin, account).await;
    let key = create_key(&app, &team.admin, account, "admin").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = Introspector::login(&app).await;
    let own = Introspector::of(&app, &team.admin, account).await;
    // Used first, so the token's liveness is held in memory when the suspension comes.
    assert_eq!(read_account(&app, account, &token).await, 200);
    assert_eq!(read_account(&app, account, &key).await, 200);
    assert_eq!(login.introspect(&app, &token).await["active"], true);
    assert_eq!(own.introspect(&app, &key).await["active"], true);

    set_status(&app, &team.owner, account, "suspended").await;
    expect_invalid_token(&app, account, &token).await;
    expect_invalid_token(&app, account, &key).await;
    assert_eq!(
        status(&app, Method::GET, "/v1/api-keys/verify", &key).await,
        401
    );
    assert_eq!(
        login.introspect(&app, &token).await,
        json!({"active": false})
    );
    assert_eq!(own.introspect(&app, &key).await, json!({"active": false}));

    set_status(&app, &team.owner, account, "active").await;
    assert_eq!(read_account(&app, account, &token).await, 200);
    assert_eq!(read_account(&app, account, &key).await, 200);
    assert_eq!(login.introspect(&app, &token).await["active"], true);
    assert_eq!(own.introspect(&app, &key).await["active"], true);
}

#[tokio::test]
async fn a_suspended_parent_stops_the_credentials_of_its_descendants() {
    let app = TestApp::spawn().await;
    let team = app.team("subtree").await;
    let parent = team.account.as_str();
    let child = app
        .create_account(&team.owner, json!({"name": "Child", "parent_id": parent}))
        .await;
    let child = child["id"].as_str().unwrap();
    let grandchild = app
        .create_account(
            &team.owner,
            json!({"name": "Grandchild", "parent_id": child}),
        )
        .await;
    let grandchild = grandchild["id"].as_str().unwrap();
    let token = scoped_token(&app, &team.owner, grandchild).await;
    let key = create_key(&app, &team.owner, grandchild, "admin").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = Introspector::login(&app).await;
    let own = Introspector::of(&app, &team.owner, grandchild).await;
    assert_eq!(read_account(&app, grandchild, &token).await, 200);
    assert_eq!(read_account(&app, grandchild, &key).await, 200);
    assert_eq!(client_credentials(&app, &own.id, &own.secret).await, 200);

    set_status(&app, &team.owner, parent, "suspended").await;
    expect_invalid_token(&app, grandchild, &token).await;
    expect_invalid_token(&app, grandchild, &key).await;
    assert_eq!(login.introspect(&app, &token).await["active"], false);
    assert_eq!(own.introspect(&app, &key).await["active"], false);
    // Nor does the suspended subtree mint new account tokens, for members or its clients.
    let refused = account_token(&app, &team.owner, json!({"account_id": grandchild})).await;
    assert_ne!(refused.status(), 200);
    assert_ne!(client_credentials(&app, &own.id, &own.secret).await, 200);

    set_status(&app, &team.owner, parent, "active").await;
    assert_eq!(read_account(&app, grandchild, &token).await, 200);
    assert_eq!(read_account(&app, grandchild, &key).await, 200);
    assert_eq!(own.introspect(&app, &key).await["active"], true);
    assert_eq!(client_credentials(&app, &own.id, &own.secret).await, 200);
}

#[tokio::test]
async fn a_demoted_admins_old_token_acts_and_introspects_as_the_role_held_now() {
    let app = TestApp::spawn().await;
    let team = app.team("demote").await;
    let account = team.account.as_str();
    let token = scoped_token(&app, &team.admin, account).await;
    let login = Introspector::login(&app).await;
    let keys = format!("/v1/accounts/{account}/api-keys");
    assert_eq!(status(&app, Method::GET, &keys, &token).await, 200);
    assert_eq!(login.introspect(&app, &token).await["role"], "admin");

    set_role(&app, &team.owner, account, &team.admin, "viewer").await;
    let response = app.api(Method::GET, &keys, &token).send().await.unwrap();
    expect_problem(response, 403, "forbidden").await;
    let minted = app
        .api(Method::POST, &keys, &token)
        .json(&json!({"name": "escalation", "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_problem(minted, 403, "forbidden").await;
    assert_eq!(read_account(&app, account, &token).await, 200);
    let seen = login.introspect(&app, &token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["role"], "viewer", "{seen}");

    // Promotion does not raise what an older token carries: the token's role still caps.
    set_role(&app, &team.owner, account, &team.admin, "owner").await;
    let seen = login.introspect(&app, &token).await;
    assert_eq!(seen["role"], "admin", "{seen}");
}

#[tokio::test]
async fn introspection_ends_an_account_token_with_its_membership_or_its_account() {
    let app = TestApp::spawn().await;
    let team = app.team("gone").await;
    let account = team.account.as_str();
    let login = Introspector::login(&app).await;
    let member_token = scoped_token(&app, &team.member, account).await;
    let owner_token = scoped_token(&app, &team.owner, account).await;
    assert_eq!(login.introspect(&app, &member_token).await["active"], true);

    let path = format!("/v1/accounts/{account}/members/{}", team.member.id);
    assert_eq!(
        status(&app, Method::DELETE, &path, &team.owner.token).await,
        204
    );
    assert_eq!(
        login.introspect(&app, &member_token).await,
        json!({"active": false})
    );

    assert_eq!(login.introspect(&app, &owner_token).await["active"], true);
    let account_path = format!("/v1/accounts/{account}");
    assert_eq!(
        status(&app, Method::DELETE, &account_path, &team.owner.token).await,
        204
    );
    assert_eq!(
        login.introspect(&app, &owner_token).await,
        json!({"active": false})
    );
}

/// How long a second instance may take: API.md promises 10 s; the cache's own TTL is 10 s
/// too, so the test asks for well under it: only the listener (or its recovery) explains
/// passing.
const PROPAGATION: Duration = Duration::from_secs(5);

/// Polls `refused` on the second instance until it holds, for at most `PROPAGATION` after
/// `since`.
async fn refuses_within<F, Fut>(what: &str, since: Instant, refused: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    while !refused().await {
        assert!(
            since.elapsed() < PROPAGATION,
            "the other instance still accepts {what} after {PROPAGATION:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many connections this instance's access-change listener has open.
async fn listeners(app: &TestApp, of: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select cast(count(*) as bigint) from pg_stat_activity \
         where datname = current_database() and application_name = $1",
    )
    .bind(of.state.store.listener_name())
    .fetch_one(app.state.store.pool())
    .await
    .unwrap()
}

/// Whether new connections to the test database are let in (existing ones carry on); set
/// from the server's maintenance database, as PostgreSQL wants.
async fn allow_connections(app: &TestApp, allow: bool) {
    let name: String = sqlx::query_scalar("select cast(current_database() as text)")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let server = std::env::var("TEST_DATABASE_URL").unwrap();
    let admin = tessera::store::Store::connect(&server).await.unwrap();
    sqlx::query(&format!("alter database {name} allow_connections {allow}"))
        .execute(admin.pool())
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test]
async fn another_instance_refuses_changed_credentials_even_after_its_listener_was_killed() {
    let deployment = Deployment::new().await;
    if !deployment.database.is_postgres() {
        eprintln!("skipped: two instances need a shared PostgreSQL database (TEST_DATABASE_URL)");
        return;
    }
    let first = deployment.spawn().await;
    // Instances behind one load balancer share the issuer their tokens name.
    let mut config = deployment.config();
    config.issuer = Some((*first.state.issuer).clone());
    let second = TestApp::start(config).await;
    let started = Instant::now();
    while listeners(&first, &second).await != 1 {
        assert!(started.elapsed() < Duration::from_secs(10), "no listener");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let team = first.team("b").await;
    let other = first.team("b2").await;
    let account = team.account.as_str();
    // A revoked token: the viewer's login token.
    let revocable = team.viewer.token.clone();
    // A removed member's account token.
    let removed = scoped_token(&first, &team.member, account).await;
    // A suspended account's account token and API key.
    let suspended_token = scoped_token(&first, &other.admin, &other.account).await;
    let suspended_key = create_key(&first, &other.admin, &other.account, "admin").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A client whose secret is rotated.
    let client = create_client(&first, &team.admin, account, &confidential()).await;
    let (client_id, old_secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    // Warm the second instance's cache with every answer about to go stale.
    assert_eq!(
        status(&second, Method::GET, "/v1/me", &revocable).await,
        200
    );
    assert_eq!(read_account(&second, account, &removed).await, 200);
    assert_eq!(
        read_account(&second, &other.account, &suspended_token).await,
        200
    );
    assert_eq!(
        read_account(&second, &other.account, &suspended_key).await,
        200
    );
    assert_eq!(
        client_credentials(&second, client_id, old_secret).await,
        200
    );

    // Killed while no connection may be opened: the listener stays down through the changes,
    // whose notifications it therefore never gets.
    allow_connections(&first, false).await;
    let killed: Vec<i64> = sqlx::query_scalar(
        "select cast(case when pg_terminate_backend(pid) then 1 else 0 end as bigint) \
         from pg_stat_activity where datname = current_database() and application_name = $1",
    )
    .bind(second.state.store.listener_name())
    .fetch_all(first.state.store.pool())
    .await
    .unwrap();
    assert_eq!(killed, [1], "the second instance's listener is killed");

    let changed = Instant::now();
    let login = first.login_client().await;
    let revoked = first
        .http
        .post(first.url("/oauth2/revoke"))
        .basic_auth(login.client_id.as_str(), Some(&login.secret))
        .form(&[("token", revocable.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let path = format!("/v1/accounts/{account}/members/{}", team.member.id);
    assert_eq!(
        status(&first, Method::DELETE, &path, &team.owner.token).await,
        204
    );
    set_status(&first, &other.owner, &other.account, "suspended").await;
    let rotate = format!("/v1/accounts/{account}/clients/{client_id}/secret");
    assert_eq!(
        status(&first, Method::POST, &rotate, &team.admin.token).await,
        200
    );
    assert_eq!(listeners(&first, &second).await, 0, "still down");
    allow_connections(&first, true).await;

    refuses_within("a revoked token", changed, || async {
        status(&second, Method::GET, "/v1/me", &revocable).await == 401
    })
    .await;
    refuses_within("a removed member's token", changed, || async {
        read_account(&second, account, &removed).await == 401
    })
    .await;
    refuses_within("a suspended account's token", changed, || async {
        read_account(&second, &other.account, &suspended_token).await == 401
    })
    .await;
    refuses_within("a suspended account's API key", changed, || async {
        read_account(&second, &other.account, &suspended_key).await == 401
    })
    .await;
    refuses_within("a rotated client secret", changed, || async {
        client_credentials(&second, client_id, old_secret).await == 401
    })
    .await;

    // The listener came back and hears again: a reactivation is seen within moments, though
    // the second instance just read (and may hold) the suspended answer.
    let back = Instant::now();
    while listeners(&first, &second).await != 1 {
        assert!(
            back.elapsed() < PROPAGATION,
            "the listener did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    set_status(&first, &other.owner, &other.account, "active").await;
    let reactivated = Instant::now();
    while read_account(&second, &other.account, &suspended_token).await != 200 {
        assert!(
            reactivated.elapsed() < PROPAGATION,
            "the reactivation was not heard"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /oauth2/token` redeeming `code`: the status and the body.
async fn redeem(app: &TestApp, rp: &Rp, code: &str, verifier: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn twenty_racing_redemptions_of_one_code_yield_one_token_set_which_is_then_revoked() {
    let deployment = Deployment::new().await;
    let app = Arc::new(deployment.spawn().await);
    let rp = Arc::new(Rp::register(&deployment, &app, &[]).await);
    let (url, _, verifier) = rp.authorize_url(&["openid", "offline_access"], &[]);
    let location = browse_to_callback(&app, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let code = query(&location)["code"].clone();
    let verifier: Arc<str> = PkceCodeVerifier::secret(&verifier).as_str().into();

    let mut race = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, rp, code, verifier) = (app.clone(), rp.clone(), code.clone(), verifier.clone());
        race.spawn(async move { redeem(&app, &rp, &code, &verifier).await });
    }
    let answers = race.join_all().await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(won.len(), 1, "exactly one redemption wins: {statuses:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }

    // The losers were replays: what the winner got is revoked.
    let introspector = Introspector {
        id: rp.registered.client_id.clone(),
        secret: rp.registered.secret.clone().unwrap(),
    };
    let access = won[0]["access_token"].as_str().unwrap();
    let refresh = won[0]["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspector.introspect(&app, access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspector.introspect(&app, refresh).await,
        json!({"active": false})
    );
    assert_eq!(
        status(&app, Method::GET, "/oauth2/userinfo", access).await,
        401
    );
}
