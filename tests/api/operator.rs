//! Operator behaviour through the real binary: the access log and what it must never show,
//! start-up refusing a new key-encryption key beside sealed data, the operator commands
//! (users, accounts, clients, invites, backup, migrate) and the errors an operator reads.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, LOGIN_SCOPE, expect_problem};

/// A `tessera` server process on a deployment's database, and every line it wrote to stderr.
struct Served {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Served {
    fn start(deployment: &Deployment, env: &[(&str, &str)]) -> Served {
        use std::io::BufRead;
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .current_dir(deployment.keys_dir.path())
            .env_clear()
            .env("DATABASE_URL", &deployment.database.url)
            .env("TESSERA_KEYS_DIR", deployment.keys_dir.path())
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .env("TESSERA_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start tessera");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        let mut served = Served {
            child,
            lines,
            base: String::new(),
        };
        let listening = served.wait_for(|line| line.contains("tessera is listening"));
        let address = listening
            .split("address")
            .nth(1)
            .unwrap()
            .trim_start_matches(['=', '"', ':'])
            .split(['"', ' ', ','])
            .next()
            .unwrap()
            .to_owned();
        served.base = format!("http://{address}");
        served
    }

    /// The first line that satisfies `wanted`, waiting up to a minute for it.
    fn wait_for(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.lines().into_iter().find(|line| wanted(line)) {
                return line;
            }
            assert!(Instant::now() < deadline, "not logged: {:#?}", self.lines());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tessera` on the deployment's database with `keys_dir` and no configured KEK.
fn tessera_with_kek_file(deployment: &Deployment, keys_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(keys_dir)
        .env_clear()
        .env("DATABASE_URL", &deployment.database.url)
        .env("TESSERA_KEYS_DIR", keys_dir)
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tessera")
}

fn url_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[tokio::test]
async fn the_access_log_names_routes_and_never_the_secrets_in_urls() {
    let deployment = Deployment::new().await;
    // Debug everywhere: no layer may print a request's URI, whatever the filter.
    let served = Served::start(
        &deployment,
        &[
            ("TESSERA_LOG_FORMAT", "json"),
            ("TESSERA_KEY_ENCRYPTION_KEY", &{
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(deployment.key_encryption_key)
            }),
            (
                "RUST_LOG",
                "debug,sqlx=warn,hyper=info,hyper_util=info,h2=info",
            ),
        ],
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();

    // A set-password link, mailed to the log (no SMTP): the one place its token belongs.
    deployment
        .cli(&["users", "create", "--email", "ada@example.com"])
        .json();
    let mail = served.wait_for(|line| line.contains("ada@example.com") && line.contains("token="));
    let mail: Value = serde_json::from_str(&mail).expect("the mail record is one JSON line");
    let body = mail["body"].as_str().unwrap();
    let token: String = body[body.find("token=").unwrap() + "token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 43, "{body}");
    let page = http
        .get(format!("{}/reset-password?token={token}", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let request_id = page.headers()["x-request-id"].to_str().unwrap().to_owned();

    // Invitation tokens travel in paths.
    let invitation = url_token();
    let response = http
        .get(format!("{}/invites/{invitation}", served.base))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let response = http
        .post(format!("{}/v1/invites/{invitation}/accept", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let code = url_token();
    http.get(format!(
        "{}/no-such-page?code={code}&client_secret={code}",
        served.base
    ))
    .send()
    .await
    .unwrap();

    let accept = served.wait_for(|line| line.contains("/v1/invites/{token}/accept"));
    served.wait_for(|line| line.contains("\"route\":\"unmatched\""));
    let lines = served.lines();
    for line in &lines {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not one JSON object: {line}"));
        assert!(
            !line.contains(&invitation),
            "invitation token logged: {line}"
        );
        assert!(!line.contains(&code), "code logged: {line}");
        if line.contains(&token) {
            assert_eq!(
                record["target"], "tessera::mail",
                "the reset token outside its mail: {line}"
            );
        }
    }
    let access: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["target"] == "tessera::access")
        .collect();
    let reset = access
        .iter()
        .find(|record| record["route"] == "/reset-password")
        .unwrap_or_else(|| panic!("no access line for the reset page: {lines:#?}"));
    assert_eq!(reset["level"], "INFO");
    assert_eq!(reset["method"], "GET");
    assert_eq!(reset["status"], 200);
    assert_eq!(reset["request_id"], request_id.as_str());
    assert!(reset["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(
        access
            .iter()
            .any(|record| record["route"] == "/invites/{token}"),
        "{lines:#?}"
    );
    let accept: Value = serde_json::from_str(&accept).unwrap();
    assert_eq!(accept["status"], 401);
}

#[tokio::test]
async fn access_log_lines_are_at_info_by_default_in_text() {
    let deployment = Deployment::new().await;
    let served = Served::start(
        &deployment,
        &[("TESSERA_KEY_ENCRYPTION_KEY", &{
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(deployment.key_encryption_key)
        })],
    );
    let invitation = url_token();
    reqwest::get(format!("{}/invites/{invitation}", served.base))
        .await
        .unwrap();
    let line = served.wait_for(|line| line.contains("tessera::access"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("route=\"/invites/{token}\""), "{line}");
    assert!(line.contains("request_id="), "{line}");
    assert!(!served.lines().iter().any(|line| line.contains(&invitation)));

    // Mail to the log: the whole message on one line, its newlines escaped.
    deployment
        .cli(&["users", "create", "--email", "ada@example.com"])
        .json();
    let mail = served.wait_for(|line| line.contains("ada@example.com"));
    assert!(mail.contains("token="), "{mail}");
    assert!(mail.contains("ignore this message"), "{mail}");
}

#[tokio::test]
async fn start_up_refuses_a_new_key_encryption_key_beside_sealed_data() {
    let deployment = Deployment::new().await;
    let keys = tempfile::tempdir().unwrap();
    // First start of a deployment: the KEK file is made, and a signing key sealed under it.
    let rotated = tessera_with_kek_file(&deployment, keys.path(), &["keys", "rotate"]);
    assert_eq!(rotated.status.code(), Some(0), "{rotated:?}");
    let kek = keys.path().join("kek");
    assert!(kek.exists());

    // A restore that forgot the file.
    std::fs::remove_file(&kek).unwrap();
    for args in [&[][..], &["serve"][..], &["keys", "rotate"][..]] {
        let output = tessera_with_kek_file(&deployment, keys.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("key-encryption key"), "{stderr}");
        assert!(stderr.contains("restore"), "{stderr}");
        assert!(!kek.exists(), "{args:?} wrote a new kek file");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn a_fresh_database_still_gets_its_key_encryption_key() {
    let deployment = Deployment::new().await;
    let keys = tempfile::tempdir().unwrap();
    let output = tessera_with_kek_file(&deployment, keys.path(), &["keys", "rotate"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(keys.path().join("kek").exists());
}

// Two threads: the server's own tasks go on while the test waits for a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_shown_disabled_and_enabled() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let password = "correct horse battery";
    let created = deployment
        .cli(&[
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--password",
            password,
            "--superadmin",
        ])
        .json();
    assert_eq!(created["superadmin"], true);
    assert_eq!(created["disabled_at"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();
    let plain = deployment
        .cli(&["users", "create", "--email", "bob@example.com"])
        .json();
    assert_eq!(plain["superadmin"], false);

    let listed = deployment.cli(&["users", "list"]).json();
    let emails: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["bob@example.com", "ada@example.com", ADMIN_EMAIL],
        "newest first"
    );
    assert_eq!(listed["next_cursor"], Value::Null);
    let shown = deployment.cli(&["users", "show", "ADA@example.com"]).json();
    assert_eq!(shown, created);
    assert_eq!(deployment.cli(&["users", "show", &id]).json(), created);

    // Two tokens from before: one used now, one kept for after (each answer is cached).
    let before = app.login_token(&id, LOGIN_SCOPE).await;
    let kept = app.login_token(&id, LOGIN_SCOPE).await;
    let me = app
        .api(Method::GET, "/v1/me", &before)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(app.log_in("ada@example.com", password).await.status(), 303);

    let disabled = deployment.cli(&["users", "disable", &id]).json();
    assert!(disabled["disabled_at"].as_str().unwrap().ends_with('Z'));
    for token in [&kept, &app.login_token(&id, LOGIN_SCOPE).await] {
        let response = app.api(Method::GET, "/v1/me", token).send().await.unwrap();
        assert_eq!(response.status(), 401, "a disabled user's token");
    }
    let login = fresh_login(&app, "ada@example.com", password).await;
    assert_eq!(login.status(), 401);
    assert!(login.text().await.unwrap().contains("disabled"));

    let enabled = deployment
        .cli(&["users", "enable", "ada@example.com"])
        .json();
    assert_eq!(enabled["disabled_at"], Value::Null);
    assert_eq!(
        fresh_login(&app, "ada@example.com", password)
            .await
            .status(),
        303
    );
    let after = app.login_token(&id, LOGIN_SCOPE).await;
    let me = app.api(Method::GET, "/v1/me", &after).send().await.unwrap();
    assert_eq!(me.status(), 200, "enabled again");
    let response = app.api(Method::GET, "/v1/me", &kept).send().await.unwrap();
    assert_eq!(
        response.status(),
        401,
        "what disabling revoked stays revoked"
    );

    let events: Vec<(String, String)> = sqlx::query_as(
        "select action, actor_type from audit_events where target_id = $1 order by id",
    )
    .bind(&id)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    for action in ["user.created", "user.disabled", "user.enabled"] {
        assert!(
            events
                .iter()
                .any(|(recorded, actor)| recorded == action && actor == "system"),
            "{action}: {events:?}"
        );
    }

    for args in [
        &["users", "show", "nobody@example.com"][..],
        &["users", "disable", "usr_01J00000000000000000000000"][..],
    ] {
        let output = deployment.cli(args);
        assert_eq!(output.code(), Some(1), "{args:?}");
        assert!(output.stderr().contains("not found"), "{}", output.stderr());
    }
}

/// A login from a browser with no session yet.
async fn fresh_login(
    app: &crate::helpers::TestApp,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = crate::helpers::hidden_inputs(&page);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    http.post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

// Two threads: the server's own tasks go on while the test waits for a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_passwords_follow_the_web_policy() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    for password in ["password", "short", "ada@example.com"] {
        let output = deployment.cli(&[
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--password",
            password,
        ]);
        assert_eq!(output.code(), Some(2), "{password}: {}", output.stderr());
        assert!(output.stderr().contains("password"), "{}", output.stderr());
    }
    let user = deployment
        .cli(&["users", "create", "--email", "ada@example.com"])
        .json();
    assert_eq!(user["has_password"], false);
    let id = user["id"].as_str().unwrap();
    let output = deployment.cli(&["users", "set-password", id, "--password", "password"]);
    assert_eq!(output.code(), Some(2), "{}", output.stderr());

    let token = app.login_token(id, LOGIN_SCOPE).await;
    let set = deployment
        .cli(&[
            "users",
            "set-password",
            "ada@example.com",
            "--password",
            "a much better secret",
        ])
        .json();
    assert_eq!(set["has_password"], true);
    assert_eq!(
        fresh_login(&app, "ada@example.com", "a much better secret")
            .await
            .status(),
        303
    );
    let response = app.api(Method::GET, "/v1/me", &token).send().await.unwrap();
    assert_eq!(
        response.status(),
        401,
        "a new password revokes earlier tokens"
    );
}

// Two threads: the server's own tasks go on while the test waits for a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_clients_and_invites_are_listed_shown_and_changed() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let ada = app.user("ada@example.com").await;
    let account = app.create_account(&ada, json!({"name": "Acme"})).await;
    let account_id = account["id"].as_str().unwrap().to_owned();

    let listed = deployment.cli(&["accounts", "list"]).json();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|shown| shown == &account)
    );
    assert_eq!(
        deployment.cli(&["accounts", "show", &account_id]).json(),
        account
    );
    let missing = deployment.cli(&["accounts", "show", "acc_01J00000000000000000000000"]);
    assert_eq!(missing.code(), Some(1));
    assert_eq!(deployment.cli(&["accounts", "show", "x"]).code(), Some(2));

    let mut created = deployment
        .cli(&[
            "clients",
            "create",
            "--account",
            &account_id,
            "--name",
            "Backend",
        ])
        .json();
    let old_secret = created
        .as_object_mut()
        .unwrap()
        .remove("client_secret")
        .unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let rest_path = format!("/v1/accounts/{account_id}/clients/{client_id}");
    let rest = |path: String| {
        let request = app.api(Method::GET, &path, &ada.token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(
        deployment.cli(&["clients", "show", &client_id]).json(),
        created
    );
    let listed = deployment
        .cli(&["clients", "list", "--account", &account_id])
        .json();
    assert_eq!(listed["data"], json!([created.clone()]));
    let everywhere = deployment.cli(&["clients", "list"]).json();
    assert!(
        everywhere["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|shown| shown == &created),
        "{everywhere}"
    );

    let updated = deployment
        .cli(&[
            "clients",
            "update",
            &client_id,
            "--name",
            "Backend v2",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--third-party",
        ])
        .json();
    assert_eq!(updated["name"], "Backend v2");
    assert_eq!(updated["first_party"], false);
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://app.example.com/cb"])
    );
    assert!(updated.get("client_secret").is_none());
    assert_eq!(updated, rest(rest_path.clone()).await);
    let refused = deployment.cli(&[
        "clients",
        "update",
        &client_id,
        "--redirect-uri",
        "https://*.example.com/cb",
    ]);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());
    assert!(
        refused.stderr().contains("redirect_uris"),
        "{}",
        refused.stderr()
    );

    let mut rotated = deployment
        .cli(&["clients", "rotate-secret", &client_id])
        .json();
    let new_secret = rotated
        .as_object_mut()
        .unwrap()
        .remove("client_secret")
        .unwrap();
    assert_ne!(new_secret, old_secret);
    let token = |secret: Value| {
        let request = app
            .http
            .post(app.url("/oauth2/token"))
            .basic_auth(&client_id, Some(secret.as_str().unwrap().to_owned()))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(token(new_secret).await, 200);
    assert_eq!(token(old_secret).await, 401);
    assert_eq!(
        deployment.cli(&["clients", "show", &client_id]).json(),
        rest(rest_path).await
    );
    let actions = app.audit_actions(&account_id).await;
    for action in ["client.created", "client.updated", "client.secret_rotated"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }

    let invited = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{account_id}/invites"),
            &ada.token,
        )
        .json(&json!({"email": "bob@example.com", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 201);
    let mut invited: Value = invited.json().await.unwrap();
    invited.as_object_mut().unwrap().remove("accept_url");
    let invites = deployment
        .cli(&["invites", "list", "--account", &account_id])
        .json();
    assert_eq!(invites["data"], json!([invited]));
    let rest_invites = rest(format!("/v1/accounts/{account_id}/invites")).await;
    assert_eq!(invites["data"], rest_invites["data"]);
    assert_eq!(deployment.cli(&["invites", "list"]).code(), Some(2));
}

// Two threads: the server's own tasks go on while the test waits for a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_serving_sqlite_database_and_points_postgres_to_pg_dump() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    app.user("ada@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.db");
    let path_text = path.to_str().unwrap();
    let output = deployment.cli(&["backup", path_text]);
    if deployment.database.is_postgres() {
        assert_eq!(output.code(), Some(1));
        assert!(output.stderr().contains("pg_dump"), "{}", output.stderr());
        assert!(!path.exists());
        return;
    }
    let report = output.json();
    assert_eq!(report["path"], path_text);
    assert!(report["bytes"].as_u64().unwrap() > 0);
    let copy = tessera::store::Store::connect(&format!("sqlite://{path_text}"))
        .await
        .unwrap();
    let emails: Vec<String> = sqlx::query_scalar("select email from users order by email")
        .fetch_all(copy.pool())
        .await
        .unwrap();
    assert_eq!(emails, ["ada@example.com", ADMIN_EMAIL]);
    copy.close().await;
    let again = deployment.cli(&["backup", path_text]);
    assert_eq!(
        again.code(),
        Some(2),
        "never overwrites: {}",
        again.stderr()
    );
}

#[tokio::test]
async fn migrate_prints_the_migrations_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("new.db").to_str().unwrap()
    );
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("migrate")
            .current_dir(dir.path())
            .env_clear()
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let first: Value = serde_json::from_slice(&run().stdout).unwrap();
    let applied = first["applied"].as_array().unwrap();
    assert_eq!(applied[0], "0001_users_accounts");
    assert!(applied.iter().any(|name| name == "0045_user_disabled_at"));
    let second: Value = serde_json::from_slice(&run().stdout).unwrap();
    assert_eq!(second, json!({"applied": []}));
}

#[tokio::test]
async fn database_errors_are_said_once_with_the_likely_fix() {
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str| {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("migrate")
            .current_dir(dir.path())
            .env_clear()
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        (output, started.elapsed())
    };
    let missing_dir = format!(
        "sqlite://{}/no/such/dir/t.db?mode=rwc",
        dir.path().to_str().unwrap()
    );
    for (url, fix) in [
        ("sqlite://absent.db", "?mode=rwc"),
        (missing_dir.as_str(), "directory"),
        (
            "postgres://postgres@127.0.0.1:1/tessera",
            "PostgreSQL running",
        ),
    ] {
        let (output, took) = run(url);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{url}: said once: {stderr}"
        );
        assert!(stderr.contains(fix), "{url}: {stderr}");
        assert!(took < Duration::from_secs(5), "{url}: took {took:?}");
    }
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let mut absent = url::Url::parse(&url).unwrap();
        absent.set_path("/tessera_no_such_database");
        let (output, _) = run(absent.as_str());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("create the database first"), "{stderr}");
    }
}

#[tokio::test]
async fn validation_messages_are_ours_and_wildcard_redirect_uris_are_refused() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let team = app.team("val").await;
    let bob = app.user("bob@example.com").await;
    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/members", team.account),
            &team.owner.token,
        )
        .json(&json!({"user_id": bob.id, "role": "god"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(
        problem["errors"],
        json!([{"field": "role", "message": "must be one of viewer, member, admin, owner"}]),
        "{problem}"
    );
    assert!(!problem.to_string().contains("line 1"), "{problem}");

    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.owner.token,
        )
        .json(&json!({"email": 5, "role": "member"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(
        problem["errors"],
        json!([{"field": "email", "message": "must be a string"}])
    );

    for uri in [
        "https://*.example.com/cb",
        "https://app.example.com/*",
        "https://app.example.com/cb?next=*",
    ] {
        let response = app
            .api(
                Method::POST,
                &format!("/v1/accounts/{}/clients", team.account),
                &team.owner.token,
            )
            .json(&json!({
                "name": "Wild",
                "redirect_uris": [uri],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "none"
            }))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "redirect_uris", "{problem}");
    }
}
