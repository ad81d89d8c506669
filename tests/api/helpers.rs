//! Test harness: a real server on 127.0.0.1:0 over a fresh database (a SQLite file in a temp
//! dir, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set), driven over HTTP.
//! The database, the deployment, the server and the seeding below HTTP are the kit's
//! (`tests/kit/`), shared with the benchmark; what drives them over HTTP is here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use serde_json::{Value, json};
use tessera::audit::Origin;
use tessera::clock;
use tessera::config::Config;
use tessera::ids::{AccountId, ClientId, UserId};
use tessera::manage::clients::{self, Patch};
use tessera::manage::users::{self, NewUser};
use tessera::oauth::client::ClientSettings;
use tessera::state::AppState;
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use crate::kit::{self, ConfidentialClient, Server};
pub use crate::kit::{ADMIN_EMAIL, ADMIN_PASSWORD, Database, Deployment};

/// The PostgreSQL server the suite runs on when `TEST_DATABASE_URL` names one.
fn postgres_server() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

impl Database {
    /// A database of its own for one test, on the suite's backend.
    pub async fn create() -> Database {
        Database::fresh(postgres_server().as_deref()).await
    }
}

impl Deployment {
    /// A deployment of its own for one test, on the suite's backend.
    pub async fn new() -> Deployment {
        Deployment::fresh(postgres_server().as_deref()).await
    }

    pub async fn spawn(&self) -> TestApp {
        TestApp::start(self.config()).await
    }

    /// Runs the `tessera` binary against this deployment's database and keys.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .current_dir(self.keys_dir.path())
            .env_clear()
            .env("DATABASE_URL", &self.database.url)
            .env("TESSERA_KEYS_DIR", self.keys_dir.path())
            .env(
                "TESSERA_KEY_ENCRYPTION_KEY",
                base64_standard(&self.key_encryption_key),
            )
            .env("RUST_LOG", "warn")
            .output()
            .expect("run tessera binary");
        CliOutput(output)
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct CliOutput(pub Output);

impl CliOutput {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The JSON the command printed; panics with its stderr when it failed.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code(), Some(0), "command failed: {}", self.stderr());
        serde_json::from_slice(&self.0.stdout).expect("stdout is JSON")
    }
}

/// A running server and a client that talks to it like a browser would: cookies kept,
/// redirects not followed.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub state: AppState,
    login_client: OnceCell<ConfidentialClient>,
    // Before the deployment: the server is told to stop before its database goes.
    server: Server,
    _owned: Option<Deployment>,
}

impl TestApp {
    /// A server on a deployment of its own.
    pub async fn spawn() -> TestApp {
        let deployment = Deployment::new().await;
        let mut app = deployment.spawn().await;
        app._owned = Some(deployment);
        app
    }

    /// A server on a deployment of its own, with `configure` applied to its configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let deployment = Deployment::new().await;
        let mut config = deployment.config();
        configure(&mut config);
        let mut app = TestApp::start(config).await;
        app._owned = Some(deployment);
        app
    }

    pub async fn start(config: Config) -> TestApp {
        let server = Server::start(config).await;
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        TestApp {
            address: format!("http://{}", server.address),
            http,
            state: server.state.clone(),
            login_client: OnceCell::new(),
            server,
            _owned: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Steps of the hosted pages, taken the way a browser takes them: load the page, read its
/// form, post it back.
impl TestApp {
    /// Loads `page_path`, then posts its form to `action_path` with `fields` and the page's
    /// hidden fields (CSRF token, return_to …) unless `fields` sets them.
    pub async fn submit_form(
        &self,
        page_path: &str,
        action_path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let page = self.get(page_path).await;
        assert!(
            page.status().is_success(),
            "GET {page_path} answered {}",
            page.status()
        );
        let html = page.text().await.expect("page body");
        let mut form: Vec<(String, String)> = form_hidden_inputs(&html, action_path)
            .into_iter()
            .filter(|(name, _)| !fields.iter().any(|(field, _)| field == name))
            .collect();
        form.extend(
            fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        self.http
            .post(self.url(action_path))
            .form(&form)
            .send()
            .await
            .expect("request")
    }

    /// Signs in through the login page; the client keeps the session cookie.
    pub async fn log_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit_form(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Posts a form without loading its page first.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("request")
    }

    /// The text bodies of the emails queued for `recipient`, oldest first.
    pub async fn emails_to(&self, recipient: &str) -> Vec<String> {
        sqlx::query_scalar(
            "select text_body from emails where recipient = $1 order by created_at, id",
        )
        .bind(recipient)
        .fetch_all(self.state.store.pool())
        .await
        .expect("read emails")
    }
}

/// The `name` and `value` of every `<input type="hidden">` in a page, entities decoded.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .into_iter()
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The hidden inputs of the form that posts to `action` (as a browser submits one form of a
/// page that has several), or of the whole page when no form names that action.
pub fn form_hidden_inputs(html: &str, action: &str) -> Vec<(String, String)> {
    let wanted = format!(" action=\"{action}\"");
    html.split("<form")
        .skip(1)
        .find(|form| {
            form.split_once('>')
                .is_some_and(|(tag, _)| tag.contains(&wanted))
        })
        .and_then(|form| form.split("</form>").next())
        .map_or_else(|| hidden_inputs(html), hidden_inputs)
}

/// The value of one hidden input of a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    hidden_inputs(html)
        .into_iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value)
}

/// The opening tags `<name …>` of a page.
pub fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    html.match_indices(&open)
        .filter_map(|(start, _)| {
            let rest = &html[start..];
            let after = rest.as_bytes().get(open.len()).copied();
            if !matches!(after, Some(b' ' | b'>' | b'\n' | b'/')) {
                return None;
            }
            rest.find('>').map(|end| &rest[..=end])
        })
        .collect()
}

/// A double-quoted attribute of one tag, entities decoded.
pub fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(decode_entities(&tag[start..end]))
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(semi) = rest[amp..].find(';') else {
            out.push_str(&rest[amp..]);
            return out;
        };
        let entity = &rest[amp + 1..amp + semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[amp..=amp + semi]),
        }
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    out
}

/// The scope of the login tokens tests sign.
pub const LOGIN_SCOPE: &str = "openid profile email tessera:manage";

/// A user of the deployment and a login access token of theirs.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// The client login tokens are issued to: registered once per server in the first
    /// account, with the `tessera clients create` defaults (token exchange included).
    pub async fn login_client(&self) -> ConfidentialClient {
        self.login_client
            .get_or_init(|| async {
                let store = &self.state.store;
                let mut settings = ClientSettings::with_defaults("Test login client".into(), false);
                settings.redirect_uris = vec!["http://127.0.0.1/callback".into()];
                kit::confidential_client(store, &kit::first_account(store).await, settings).await
            })
            .await
            .clone()
    }

    /// A user's login access token (no `acc`), as `/oauth2/token` would issue after the
    /// authorization-code flow (see [`kit::user_token`]).
    pub async fn login_token(&self, user_id: &str, scope: &str) -> String {
        let client = self.login_client().await;
        let user_id = UserId::parse(user_id).expect("a user id");
        kit::user_token(&self.state, &client.client_id, &user_id, scope, 900)
    }

    /// A new user (no password: creating one costs an argon2 hash) with a login token.
    pub async fn user(&self, email: &str) -> TestUser {
        self.user_with(email, None).await
    }

    pub async fn user_with(&self, email: &str, password: Option<&str>) -> TestUser {
        let user = users::create(
            &self.state.store,
            &self.state.issuer,
            NewUser {
                email: email.into(),
                name: Some(email.split('@').next().unwrap_or(email).to_owned()),
                password: password.map(str::to_owned),
                superadmin: false,
            },
        )
        .await
        .expect("create user");
        TestUser {
            id: user.id.to_string(),
            email: user.email,
            token: self.login_token(user.id.as_str(), LOGIN_SCOPE).await,
        }
    }

    /// A `/v1` request with a bearer token.
    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }

    /// Marks a user's email verified, as following the emailed link would.
    pub async fn verify_email(&self, user: &TestUser) {
        tessera::store::users::mark_email_verified(
            self.state.store.pool(),
            &UserId::parse(&user.id).unwrap(),
            clock::now(),
        )
        .await
        .unwrap();
    }

    /// `POST /v1/accounts` as `owner` (whose email is verified first: unverified users may
    /// not create accounts); the new account's JSON.
    pub async fn create_account(&self, owner: &TestUser, body: Value) -> Value {
        self.verify_email(owner).await;
        let response = self
            .api(reqwest::Method::POST, "/v1/accounts", &owner.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create account");
        response.json().await.unwrap()
    }

    /// Makes `user` a member of `account` the way a person joins: `POST .../members` as `by`
    /// (201), then, when that only invited them, `user` accepts the mailed link.
    pub async fn add_member(&self, by: &TestUser, account: &str, user: &TestUser, role: &str) {
        let response = self
            .api(
                reqwest::Method::POST,
                &format!("/v1/accounts/{account}/members"),
                &by.token,
            )
            .json(&json!({"user_id": user.id, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "add {role}");
        let added: Value = response.json().await.unwrap();
        if added["status"] == "invited" {
            let token = self.invitation_token(&user.email).await;
            let response = self
                .api(
                    reqwest::Method::POST,
                    &format!("/v1/invites/{token}/accept"),
                    &user.token,
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "accept as {role}");
        }
    }

    /// The secret of the latest invitation link mailed to `recipient`.
    pub async fn invitation_token(&self, recipient: &str) -> String {
        let mails = self.emails_to(recipient).await;
        let mail = mails.last().expect("an invitation was mailed");
        let start = mail.find("/invites/").expect("an invitation link") + "/invites/".len();
        mail[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// An account with one user in each role, and a user who is in no account.
    pub async fn team(&self, prefix: &str) -> Team {
        let owner = self.user(&format!("{prefix}-owner@example.com")).await;
        let account = self
            .create_account(&owner, json!({"name": format!("{prefix} Inc")}))
            .await;
        let account = account["id"].as_str().unwrap().to_owned();
        let admin = self.user(&format!("{prefix}-admin@example.com")).await;
        let member = self.user(&format!("{prefix}-member@example.com")).await;
        let viewer = self.user(&format!("{prefix}-viewer@example.com")).await;
        let outsider = self.user(&format!("{prefix}-outsider@example.com")).await;
        self.add_member(&owner, &account, &admin, "admin").await;
        self.add_member(&owner, &account, &member, "member").await;
        self.add_member(&owner, &account, &viewer, "viewer").await;
        // Verified, as people who run accounts are: some tests have them found more.
        for user in [&admin, &member, &viewer, &outsider] {
            self.verify_email(user).await;
        }
        Team {
            account,
            owner,
            admin,
            member,
            viewer,
            outsider,
        }
    }

    /// The audit actions recorded for an account, newest first.
    pub async fn audit_actions(&self, account: &str) -> Vec<String> {
        tessera::store::audit_events::actions_for_account(
            self.state.store.pool(),
            &AccountId::parse(account).unwrap(),
        )
        .await
        .unwrap()
    }
}

/// One account with a user in every role, plus an outsider.
pub struct Team {
    pub account: String,
    pub owner: TestUser,
    pub admin: TestUser,
    pub member: TestUser,
    pub viewer: TestUser,
    pub outsider: TestUser,
}

impl Team {
    /// `(role name, user)` for the four roles and the outsider (`"none"`).
    pub fn everyone(&self) -> [(&'static str, &TestUser); 5] {
        [
            ("owner", &self.owner),
            ("admin", &self.admin),
            ("member", &self.member),
            ("viewer", &self.viewer),
            ("none", &self.outsider),
        ]
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns the problem.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "status; body {body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "content type; body {body}"
    );
    assert_eq!(body["code"], code, "code; body {body}");
    assert_eq!(body["status"], status, "body {body}");
    body
}

/// Sets a client's `refresh_reuse_grace_seconds` the operator's way
/// (`manage::clients::update_for_operator`), which also makes every instance forget the
/// cached client.
pub async fn set_refresh_grace(app: &TestApp, client_id: &ClientId, seconds: i64) {
    let patch = Patch {
        first_party: None,
        settings: |settings: &mut ClientSettings| {
            settings.refresh_reuse_grace_seconds = seconds;
            Ok(())
        },
    };
    clients::update_for_operator(&app.state.store, client_id, patch, Origin::system())
        .await
        .unwrap();
}

/// A DNS server answering TXT queries from the records the test publishes; any other name
/// is NXDOMAIN.
pub struct DnsServer {
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let served = Arc::clone(&records);
        tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                let Ok(query) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                let reply = answer(&query, &served.lock().unwrap());
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        DnsServer { addr, records }
    }

    /// Sets the TXT values at `name` (none: the name no longer exists).
    pub fn publish(&self, name: &str, values: &[&str]) {
        let values = values.iter().map(|value| (*value).to_owned()).collect();
        self.records.lock().unwrap().insert(name.to_owned(), values);
    }
}

fn answer(query: &Message, records: &HashMap<String, Vec<String>>) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    for question in &query.queries {
        reply.add_query(question.clone());
        let name = question
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_lowercase();
        match records.get(&name) {
            Some(values) if !values.is_empty() => {
                if question.query_type() == RecordType::TXT {
                    for value in values {
                        let txt = RData::TXT(TXT::new(vec![value.clone()]));
                        reply.add_answer(Record::from_rdata(question.name().clone(), 60, txt));
                    }
                }
            }
            _ => reply.metadata.response_code = ResponseCode::NXDomain,
        }
    }
    reply
}

impl TestApp {
    /// Claims `domain` for `account` as `token`, publishes its challenge on `dns` (the server
    /// this app asks) and verifies it; the verified domain's JSON.
    pub async fn verified_domain(
        &self,
        dns: &DnsServer,
        token: &str,
        account: &str,
        domain: &str,
    ) -> Value {
        let path = format!("/v1/accounts/{account}/domains");
        let response = self
            .api(reqwest::Method::POST, &path, token)
            .json(&json!({ "domain": domain }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "claim {domain}");
        let claim: Value = response.json().await.unwrap();
        let challenge = &claim["verification"];
        dns.publish(
            challenge["name"].as_str().unwrap(),
            &[challenge["value"].as_str().unwrap()],
        );
        let id = claim["id"].as_str().unwrap();
        let response = self
            .api(reqwest::Method::POST, &format!("{path}/{id}/verify"), token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "verify {domain}");
        response.json().await.unwrap()
    }
}
