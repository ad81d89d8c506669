use tessera::store::{memberships, users};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Database, Deployment};

#[tokio::test]
async fn first_start_creates_a_superadmin_who_owns_a_first_account_once() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let store = &app.state.store;
    let admin = users::find_by_email(store.pool(), &ADMIN_EMAIL.to_uppercase())
        .await
        .unwrap()
        .unwrap();
    assert!(admin.superadmin);
    let stored = admin.password_hash.clone().unwrap();
    assert!(stored.starts_with("$argon2id$"));
    assert!(
        app.state
            .hasher
            .verify(ADMIN_PASSWORD.into(), Some(stored))
            .await
            .unwrap()
    );
    let account_id = crate::discovery::first_account_id(&app).await;
    let account_id = tessera::ids::AccountId::parse(&account_id).unwrap();
    let role = memberships::role(store.pool(), &account_id, &admin.id)
        .await
        .unwrap();
    assert_eq!(role, Some(tessera::role::Builtin::Owner.into()));
    let actions = tessera::store::audit_events::actions_for_account(store.pool(), &account_id)
        .await
        .unwrap();
    assert_eq!(actions.len(), 2);
    assert!(
        actions.contains(&"account.created".to_owned())
            && actions.contains(&"member.added".to_owned())
    );
    app.stop().await;

    let again = deployment.spawn().await;
    assert_eq!(users::count(again.state.store.pool()).await.unwrap(), 1);
    let accounts: i64 = sqlx::query_scalar("select count(*) from accounts")
        .fetch_one(again.state.store.pool())
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn suite_runs_on_the_configured_database() {
    let database = Database::create().await;
    let store = database.store().await;
    let expected = if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        tessera::store::Backend::Postgres
    } else {
        tessera::store::Backend::Sqlite
    };
    assert_eq!(store.backend(), expected);
    assert_eq!(
        database.is_postgres(),
        expected == tessera::store::Backend::Postgres
    );
}

/// A `tessera` process started with no arguments in `dir`, and the lines it logged until it
/// was listening.
struct Served {
    child: std::process::Child,
    lines: Vec<String>,
}

impl Served {
    fn start(dir: &std::path::Path) -> Served {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .current_dir(dir)
            .env_clear()
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tessera");
        let (sender, received) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = sender.send(line);
                }
            });
        }
        // Owned before anything can fail, so that `Drop` stops the process on every path.
        let mut served = Served {
            child,
            lines: Vec::new(),
        };
        loop {
            let line = received
                .recv_timeout(std::time::Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("tessera did not start: {:#?}", served.lines));
            let listening = line.contains("tessera is listening");
            served.lines.push(line);
            if listening {
                return served;
            }
        }
    }

    /// `http://host:port`, from the `address=` of the listening line.
    fn base_url(&self) -> String {
        let line = self.lines.last().unwrap();
        let address = line.split("address=").nth(1).unwrap();
        format!("http://{}", address.split_whitespace().next().unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn tessera_without_arguments_serves_and_prints_a_first_login_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Served::start(dir.path());
    let base = first.base_url();
    let announcement = first
        .lines
        .iter()
        .find(|line| line.contains("with password "))
        .unwrap_or_else(|| panic!("no first login printed: {:#?}", first.lines));
    assert!(
        announcement.contains(&format!("{base}/login")),
        "{announcement}"
    );
    let email = announcement
        .split("superadmin ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let password = announcement
        .split("with password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    // API.md §1: generated secrets are URL-safe with at least 256 bits of entropy.
    assert!(password.len() >= 43, "{password}");
    assert!(
        password
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{password}"
    );

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = crate::helpers::hidden_inputs(&page);
    form.push(("email".into(), email));
    form.push(("password".into(), password));
    let login = http
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "the printed password logs in");
    assert!(dir.path().join("tessera.db").exists(), "embedded SQLite");
    let kek = std::fs::metadata(dir.path().join("keys").join("kek")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&kek.permissions()) & 0o777,
        0o600
    );
    drop(first);

    let again = Served::start(dir.path());
    assert!(
        !again.lines.iter().any(|line| line.contains("password")),
        "printed only once: {:#?}",
        again.lines
    );
}
