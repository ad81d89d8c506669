//! `/v1/accounts/{acc}/webhook` and delivery: a receiver on 127.0.0.1 checks the Standard
//! Webhooks signature; failures are retried with the same `webhook-id`; the outbox
//! survives a restart, and a crash in the middle of a delivery; rotation signs with both
//! secrets; private addresses can be refused; ancestors may hear their descendants.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};
use tessera::clock;
use tessera::ids::AccountId;
use tessera::store::webhooks;
use tessera::webhooks::Secret;

use crate::helpers::{Deployment, TestApp, TestUser, expect_problem};
use tessera::account::Account;
use tessera::audit::{Action, Actor, NewEvent};
use tessera::keys::KeyEncryptionKey;
use tessera::store::accounts;
use tessera::store::emails::{self, NewEmail};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    id: String,
    timestamp: String,
    signatures: Vec<String>,
    body: String,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Whether one of the signatures is valid under `secret` (`whsec_…`).
    fn signed_by(&self, secret: &str) -> bool {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let signed = format!("{}.{}.{}", self.id, self.timestamp, self.body);
        let expected = format!(
            "v1,{}",
            STANDARD.encode(hmac::sign(&key, signed.as_bytes()).as_ref())
        );
        self.signatures.contains(&expected)
    }
}

#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests still to answer with 500.
    failures: Arc<AtomicUsize>,
}

/// A webhook receiver on 127.0.0.1:0 that records every request.
pub(crate) struct Receiver {
    pub(crate) url: String,
    inbox: Inbox,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        Receiver::failing_first(0).await
    }

    async fn failing_first(failures: usize) -> Receiver {
        let inbox = Inbox::default();
        inbox.failures.store(failures, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver {
            url,
            inbox,
            _server: server,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `count` requests have arrived.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} webhook requests, got {}: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a request of event `kind` has arrived.
    pub(crate) async fn wait_for_event(&self, kind: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self
                .received()
                .into_iter()
                .find(|received| received.json()["type"] == kind)
            {
                return found;
            }
            assert!(Instant::now() < deadline, "no {kind} webhook arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    inbox.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signatures: header("webhook-signature")
            .split(' ')
            .map(str::to_owned)
            .collect(),
        body,
    });
    let failing = inbox
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A server whose webhooks may go to the loopback receivers of these tests: private
/// addresses are refused by default.
pub(crate) async fn spawn_allowing_loopback() -> TestApp {
    TestApp::spawn_with(|config| config.webhook_block_private = false).await
}

fn webhook_path(account: &str) -> String {
    format!("/v1/accounts/{account}/webhook")
}

async fn put_webhook(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    body: Value,
) -> reqwest::Response {
    app.api(Method::PUT, &webhook_path(account), &by.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Creates the account's webhook; returns its secret.
pub(crate) async fn create_webhook(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    body: Value,
) -> String {
    let response = put_webhook(app, by, account, body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["secret"].as_str().unwrap().to_owned()
}

/// Makes every pending delivery due now, as if its backoff had passed.
async fn make_due(app: &TestApp) {
    sqlx::query("update webhook_deliveries set next_attempt_at = 0 where delivered_at is null")
        .execute(app.state.store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn admins_manage_the_webhook_and_never_see_the_secret_again() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("hooks").await;
    let path = webhook_path(&team.account);
    let body = json!({"url": "https://hooks.example.com/tessera"});

    for user in [&team.member, &team.viewer] {
        let response = put_webhook(&app, user, &team.account, body.clone()).await;
        expect_problem(response, 403, "forbidden").await;
        let response = app
            .api(Method::GET, &path, &user.token)
            .send()
            .await
            .unwrap();
        expect_problem(response, 403, "forbidden").await;
    }
    let response = put_webhook(&app, &team.outsider, &team.account, body.clone()).await;
    expect_problem(response, 404, "not_found").await;
    let response = app
        .api(Method::GET, &path, &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;

    let response = put_webhook(&app, &team.admin, &team.account, body.clone()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["url"], "https://hooks.example.com/tessera");
    assert_eq!(created["events"], Value::Null);

    let events = json!(["member.added", "member.removed"]);
    let response = put_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": "https://hooks.example.com/v2", "events": events}),
    )
    .await;
    assert_eq!(response.status(), 200, "a replacement");
    let replaced: Value = response.json().await.unwrap();
    assert!(replaced.get("secret").is_none(), "{replaced}");

    let shown: Value = app
        .api(Method::GET, &path, &team.admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["url"], "https://hooks.example.com/v2");
    assert_eq!(shown["events"], events);
    assert_eq!(shown["created_at"], created["created_at"]);
    assert!(shown["updated_at"].is_string());
    assert!(!shown.to_string().contains("whsec_"), "{shown}");
    let stored: String =
        sqlx::query_scalar("select secret_encrypted from webhooks where account_id = $1")
            .bind(&team.account)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(!stored.contains(secret.trim_start_matches("whsec_")));

    for (invalid, field) in [
        (json!({"url": "/relative"}), "url"),
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "https://example.com/#x"}), "url"),
        (json!({"url": "https://a.example/", "events": []}), "events"),
        (
            json!({"url": "https://a.example/", "events": ["Nope"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://a.example/", "secret": "x"}),
            "secret",
        ),
    ] {
        let response = put_webhook(&app, &team.admin, &team.account, invalid.clone()).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{invalid}");
    }

    let rotate = format!("{path}/rotate-secret");
    let response = app
        .api(Method::POST, &rotate, &team.member.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let response = app
        .api(Method::POST, &rotate, &team.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = app
        .api(Method::DELETE, &path, &team.member.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403, "forbidden").await;
    let response = app
        .api(Method::DELETE, &path, &team.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .api(Method::GET, &path, &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = app
        .api(Method::DELETE, &path, &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    let response = app
        .api(Method::POST, &rotate, &team.admin.token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;

    let actions = app.audit_actions(&team.account).await;
    assert_eq!(
        actions[..4],
        [
            "webhook.deleted",
            "webhook.secret_rotated",
            "webhook.updated",
            "webhook.updated"
        ]
    );
}

#[tokio::test]
async fn events_arrive_signed_and_only_those_the_filter_names() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("signed").await;
    let receiver = Receiver::start().await;
    let secret = create_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": receiver.url, "events": ["member.added", "member.removed"]}),
    )
    .await;

    let newcomer = app.user("newcomer@example.com").await;
    app.add_member(&team.owner, &team.account, &newcomer, "viewer")
        .await;
    let response = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{}/members/{}", team.account, newcomer.id),
            &team.owner.token,
        )
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api(
            Method::DELETE,
            &format!("/v1/accounts/{}/members/{}", team.account, newcomer.id),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let removed = receiver.wait_for_event("member.removed").await;
    receiver.wait_for_event("member.added").await;
    let received = receiver.received();
    // Deliveries run concurrently: no order is promised.
    let mut types: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["member.added", "member.removed"],
        "the filter holds"
    );
    for request in &received {
        assert!(request.id.starts_with("msg_"), "{request:?}");
        assert!(request.signed_by(&secret), "{request:?}");
        assert_eq!(request.signatures.len(), 1);
        let sent_at: i64 = request.timestamp.parse().unwrap();
        assert!((sent_at - clock::now()).abs() < 60);
    }
    assert!(!removed.signed_by("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    let payload = removed.json();
    assert!(payload["timestamp"].is_string());
    let data = &payload["data"];
    assert!(data["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(data["account_id"], team.account.as_str());
    assert_eq!(data["actor"], json!({"type": "user", "id": team.owner.id}));
    assert_eq!(data["target"], json!({"type": "user", "id": newcomer.id}));
    assert_eq!(data["details"]["role"], "member");
    assert!(data["created_at"].is_string());
    let queued: i64 = sqlx::query_scalar(
        "select count(*) from webhook_deliveries where event_type = 'member.role_changed'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_within_ten_seconds_with_the_same_id() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("retry").await;
    let receiver = Receiver::failing_first(1).await;
    let started = Instant::now();
    let secret = create_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": receiver.url}),
    )
    .await;

    // The webhook's own `webhook.updated` event is the first delivery.
    let received = receiver.wait_for(2).await;
    assert!(started.elapsed() < Duration::from_secs(12));
    assert_eq!(received[0].id, received[1].id, "a stable webhook-id");
    assert_eq!(received[0].body, received[1].body);
    assert!(received[1].signed_by(&secret));
    assert_eq!(received[1].json()["type"], "webhook.updated");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (attempts, delivered_at): (i64, Option<i64>) =
            sqlx::query_as("select attempts, delivered_at from webhook_deliveries where id = $1")
                .bind(&received[0].id)
                .fetch_one(app.state.store.pool())
                .await
                .unwrap();
        if delivered_at.is_some() {
            assert_eq!(attempts, 2);
            break;
        }
        assert!(Instant::now() < deadline, "never marked delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart() {
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.webhook_block_private = false;
    let app = TestApp::start(config.clone()).await;
    let team = app.team("restart").await;
    let receiver = Receiver::failing_first(usize::MAX).await;
    let secret = create_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": receiver.url}),
    )
    .await;
    let first = receiver.wait_for(1).await[0].clone();
    app.stop().await;

    receiver.inbox.failures.store(0, Ordering::SeqCst);
    let app = TestApp::start(config).await;
    make_due(&app).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].id, first.id);
    assert!(received[1].signed_by(&secret));
    app.stop().await;
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_for_a_day() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("rotate").await;
    let receiver = Receiver::start().await;
    let old = create_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": receiver.url, "events": ["member.added", "webhook.secret_rotated"]}),
    )
    .await;
    let response = app
        .api(
            Method::POST,
            &format!("{}/rotate-secret", webhook_path(&team.account)),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_"));
    assert_ne!(new, old);
    let expires =
        tessera::clock::Timestamp::parse(rotated["previous_secret_expires_at"].as_str().unwrap())
            .unwrap();
    assert!((expires.0 - clock::now() - 24 * 60 * 60).abs() < 60);

    let newcomer = app.user("rotated@example.com").await;
    app.add_member(&team.owner, &team.account, &newcomer, "viewer")
        .await;
    let added = receiver.wait_for_event("member.added").await;
    assert_eq!(added.signatures.len(), 2, "{added:?}");
    assert!(added.signed_by(new));
    assert!(added.signed_by(&old));
    assert!(added.signatures[0] != added.signatures[1]);

    // Once the day has passed, only the new secret signs.
    sqlx::query("update webhooks set previous_secret_expires_at = $1 where account_id = $2")
        .bind(clock::now() - 1)
        .bind(&team.account)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let later = app.user("later@example.com").await;
    app.add_member(&team.owner, &team.account, &later, "viewer")
        .await;
    let received = receiver.wait_for(3).await;
    let last = received.last().unwrap();
    assert_eq!(last.signatures.len(), 1);
    assert!(last.signed_by(new));
}

#[tokio::test]
async fn a_deleted_account_still_reports_its_deletion() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("gone").await;
    let receiver = Receiver::start().await;
    let secret = create_webhook(
        &app,
        &team.owner,
        &team.account,
        json!({"url": receiver.url, "events": ["account.deleted"]}),
    )
    .await;
    let response = app
        .api(
            Method::DELETE,
            &format!("/v1/accounts/{}", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let deleted = receiver.wait_for_event("account.deleted").await;
    assert!(deleted.signed_by(&secret));
    assert_eq!(deleted.json()["data"]["account_id"], team.account.as_str());
}

#[tokio::test]
async fn by_default_webhooks_to_private_addresses_are_refused() {
    let app = TestApp::spawn().await;
    assert!(app.state.config.webhook_block_private, "the default");
    let team = app.team("private").await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url.clone(),
        "http://127.0.0.1/".to_owned(),
        "http://localhost:9/".to_owned(),
        "http://[::1]:9/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://169.254.169.254/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let response = put_webhook(&app, &team.owner, &team.account, json!({"url": url})).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}");
    }

    // A loopback URL that reached the database anyway (saved before the setting was turned
    // on) is refused again at delivery time.
    let account_id = AccountId::parse(&team.account).unwrap();
    let sealed = Secret::generate().seal(app.state.keys.key_encryption_key(), &account_id);
    webhooks::upsert(
        app.state.store.pool(),
        &account_id,
        &receiver.url,
        None,
        false,
        &sealed,
        clock::now(),
    )
    .await
    .unwrap();
    let newcomer = app.user("private-newcomer@example.com").await;
    app.add_member(&team.owner, &team.account, &newcomer, "viewer")
        .await;
    make_due(&app).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let errors: Vec<Option<String>> =
            sqlx::query_scalar("select last_error from webhook_deliveries")
                .fetch_all(app.state.store.pool())
                .await
                .unwrap();
        if errors.iter().any(|error| {
            error
                .as_deref()
                .is_some_and(|error| error.contains("non-public"))
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "{errors:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_at_delivery_time_is_refused() {
    let app = TestApp::spawn().await;
    let team = app.team("rebind").await;
    let receiver = Receiver::start().await;
    // DNS rebinding: the name passed the check when it was saved (simulated by writing it
    // directly) and now resolves to a loopback address.
    let rebound = receiver.url.replace("127.0.0.1", "localhost");
    let account_id = AccountId::parse(&team.account).unwrap();
    let sealed = Secret::generate().seal(app.state.keys.key_encryption_key(), &account_id);
    webhooks::upsert(
        app.state.store.pool(),
        &account_id,
        &rebound,
        None,
        false,
        &sealed,
        clock::now(),
    )
    .await
    .unwrap();
    let newcomer = app.user("rebind-newcomer@example.com").await;
    app.add_member(&team.owner, &team.account, &newcomer, "viewer")
        .await;
    make_due(&app).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let errors: Vec<Option<String>> =
            sqlx::query_scalar("select last_error from webhook_deliveries")
                .fetch_all(app.state.store.pool())
                .await
                .unwrap();
        if errors.iter().any(|error| {
            error
                .as_deref()
                .is_some_and(|error| error.contains("non-public"))
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "{errors:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver.received().is_empty());
}

/// Renames `account` as `by`, which records `account.updated` in that account's log.
async fn rename(app: &TestApp, by: &TestUser, account: &str, name: &str) {
    let response = app
        .api(Method::PATCH, &format!("/v1/accounts/{account}"), &by.token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "rename {account}");
}

/// Waits until no delivery is pending any more (each was delivered or given up on).
async fn wait_until_settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "select count(*) from webhook_deliveries \
             where delivered_at is null and failed_at is null",
        )
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{pending} deliveries pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(type, data.account_id)` of each request, sorted.
fn events_of(received: &[Received]) -> Vec<(String, String)> {
    let mut events: Vec<(String, String)> = received
        .iter()
        .map(|request| {
            let payload = request.json();
            (
                payload["type"].as_str().unwrap().to_owned(),
                payload["data"]["account_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    events.sort();
    events
}

#[tokio::test]
async fn a_webhook_including_descendants_hears_children_and_grandchildren() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("family").await;
    let parent = team.account.clone();
    let child = app
        .create_account(&team.owner, json!({"name": "Child", "parent_id": parent}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grandchild = app
        .create_account(
            &team.owner,
            json!({"name": "Grandchild", "parent_id": child}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only known audit actions make a filter, and the flag is a boolean.
    for (invalid, field) in [
        (
            json!({"url": receiver_placeholder(), "events": ["member.promoted"]}),
            "events[0]",
        ),
        (
            json!({"url": receiver_placeholder(), "events": ["account.updated", "nope.nope"]}),
            "events[1]",
        ),
    ] {
        let response = put_webhook(&app, &team.admin, &parent, invalid.clone()).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{invalid}");
    }
    let response = put_webhook(
        &app,
        &team.admin,
        &parent,
        json!({"url": receiver_placeholder(), "include_descendants": "yes"}),
    )
    .await;
    expect_problem(response, 400, "validation_failed").await;

    // The parent's webhook takes its descendants' events, filtered; the child's does not.
    let heard_by_parent = Receiver::start().await;
    let heard_by_child = Receiver::start().await;
    let parent_secret = create_webhook(
        &app,
        &team.admin,
        &parent,
        json!({
            "url": heard_by_parent.url,
            "events": ["account.updated"],
            "include_descendants": true,
        }),
    )
    .await;
    let child_secret = create_webhook(
        &app,
        &team.owner,
        &child,
        json!({"url": heard_by_child.url, "events": ["account.updated", "member.added"]}),
    )
    .await;
    let shown: Value = app
        .api(Method::GET, &webhook_path(&parent), &team.admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["include_descendants"], true);
    let shown: Value = app
        .api(Method::GET, &webhook_path(&child), &team.owner.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["include_descendants"], false, "the default");

    rename(&app, &team.owner, &parent, "Parent renamed").await;
    rename(&app, &team.owner, &child, "Child renamed").await;
    rename(&app, &team.owner, &grandchild, "Grandchild renamed").await;
    // member.added in the grandchild: the parent's filter leaves it out.
    let newcomer = app.user("family-newcomer@example.com").await;
    app.add_member(&team.owner, &grandchild, &newcomer, "viewer")
        .await;

    heard_by_parent.wait_for(3).await;
    heard_by_child.wait_for(1).await;
    wait_until_settled(&app).await;
    let updated = |account: &str| ("account.updated".to_owned(), account.to_owned());
    let by_parent = heard_by_parent.received();
    assert_eq!(
        events_of(&by_parent),
        {
            let mut expected = vec![updated(&parent), updated(&child), updated(&grandchild)];
            expected.sort();
            expected
        },
        "its own, its child's and its grandchild's; not member.added (filtered)"
    );
    // Each delivery is signed with the receiving webhook's secret.
    assert!(
        by_parent
            .iter()
            .all(|request| request.signed_by(&parent_secret))
    );
    let by_child = heard_by_child.received();
    assert_eq!(
        events_of(&by_child),
        [updated(&child)],
        "no grandchild events without include_descendants, nor the parent's"
    );
    assert!(
        by_child
            .iter()
            .all(|request| request.signed_by(&child_secret))
    );

    // Turned off again, the parent hears its own events only.
    let response = put_webhook(
        &app,
        &team.admin,
        &parent,
        json!({"url": heard_by_parent.url, "events": ["account.updated"]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    rename(&app, &team.owner, &child, "Child again").await;
    rename(&app, &team.owner, &parent, "Parent again").await;
    heard_by_parent.wait_for(4).await;
    heard_by_child.wait_for(2).await;
    wait_until_settled(&app).await;
    let by_parent = heard_by_parent.received();
    assert_eq!(by_parent.len(), 4, "{:?}", events_of(&by_parent));
    assert_eq!(by_parent[3].json()["data"]["account_id"], parent.as_str());
}

/// A URL for webhooks that are refused before anything is sent.
fn receiver_placeholder() -> &'static str {
    "https://hooks.example.com/tessera"
}

/// A receiver that reads each request's head and leaves the first `hold` connections open
/// without an answer, as a stuck receiver would; later requests get 204.
struct Hanging {
    url: String,
    /// The `webhook-id` of each request, in arrival order.
    ids: Arc<Mutex<Vec<String>>>,
}

impl Hanging {
    async fn start(hold: usize) -> Hanging {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let ids = Arc::new(Mutex::new(Vec::new()));
        let seen = ids.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0; 4096];
                    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => head.extend_from_slice(&buffer[..read]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let id = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("webhook-id").then_some(value)
                        })
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    let index = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(id);
                        seen.len()
                    };
                    if index <= hold {
                        // Keeps the connection open, unanswered, until the sender goes away.
                        let _ = socket.read_to_end(&mut Vec::new()).await;
                    } else {
                        let _ = socket
                            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                });
            }
        });
        Hanging { url, ids }
    }

    /// Waits (at most `within`) until `count` requests have arrived; their `webhook-id`s.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let ids = self.ids.lock().unwrap().clone();
            if ids.len() >= count {
                return ids;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} requests within {within:?}, got {ids:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An SMTP relay that accepts connections and never greets: every one hangs. Counts them.
async fn silent_smtp_relay() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let _ = socket.read_to_end(&mut Vec::new()).await;
            });
        }
    });
    (url, connections)
}

/// Waits (at most `within`) until `counter` reaches `count`.
async fn wait_for_count(counter: &AtomicUsize, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while counter.load(Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "expected {count} connections within {within:?}, got {}",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The real `tessera` binary serving `deployment` and sending mail through `smtp_url`, its
/// log in the keys directory.
fn start_tessera(deployment: &Deployment, smtp_url: &str, log: &str) -> std::process::Child {
    let log = std::fs::File::create(deployment.keys_dir.path().join(log)).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(deployment.keys_dir.path())
        .env_clear()
        .env("DATABASE_URL", &deployment.database.url)
        .env("TESSERA_KEYS_DIR", deployment.keys_dir.path())
        .env(
            "TESSERA_KEY_ENCRYPTION_KEY",
            STANDARD.encode(deployment.key_encryption_key),
        )
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env("TESSERA_WEBHOOK_BLOCK_PRIVATE", "false")
        .env("TESSERA_SMTP_URL", smtp_url)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start tessera")
}

#[tokio::test]
async fn deliveries_in_flight_when_their_instance_dies_are_tried_again_after_the_restart() {
    let deployment = Deployment::new().await;
    let store = deployment.database.store().await;
    let (smtp_url, smtp_connections) = silent_smtp_relay().await;
    let mut server = start_tessera(&deployment, &smtp_url, "first.log");

    // An account whose webhook points at a receiver that never answers the first request.
    let receiver = Hanging::start(1).await;
    let now = clock::now();
    let account = Account::new("Crash Inc".into(), None, now);
    accounts::insert(store.pool(), &account).await.unwrap();
    let kek = KeyEncryptionKey::from_bytes(&deployment.key_encryption_key);
    let sealed = Secret::generate().seal(&kek, &account.id);
    webhooks::upsert(
        store.pool(),
        &account.id,
        &receiver.url,
        None,
        false,
        &sealed,
        now,
    )
    .await
    .unwrap();
    let event = NewEvent {
        account_id: Some(&account.id),
        action: Action::AccountUpdated,
        actor: &Actor::System,
        target_type: "account",
        target_id: account.id.as_str(),
        ip: None,
        user_agent: None,
        details: json!({}),
    };
    store.record_events(&[event], now).await.unwrap();
    // And an email, to a relay that never answers either.
    let email = NewEmail {
        recipient: "crash@example.com".into(),
        subject: "Hello".into(),
        text_body: "Hi".into(),
        html_body: None,
    };
    emails::enqueue(store.pool(), &email, now).await.unwrap();

    // The instance dies (SIGKILL) while the receiver and the relay hold its requests.
    let first = receiver.wait_for(1, Duration::from_secs(30)).await;
    wait_for_count(&smtp_connections, 1, Duration::from_secs(30)).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let mut server = start_tessera(&deployment, &smtp_url, "second.log");
    let restarted = Instant::now();
    let ids = receiver.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(ids[1], first[0], "the same delivery, the same webhook-id");
    wait_for_count(
        &smtp_connections,
        2,
        Duration::from_secs(60).saturating_sub(restarted.elapsed()),
    )
    .await;
    assert!(restarted.elapsed() <= Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delivered: Option<i64> =
            sqlx::query_scalar("select delivered_at from webhook_deliveries where id = $1")
                .bind(&ids[1])
                .fetch_one(store.pool())
                .await
                .unwrap();
        if delivered.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "never marked delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    store.close().await;
}
