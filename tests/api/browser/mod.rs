//! The real-browser harness: headless Chromium driven through chromedriver (WebDriver), one
//! browser per test, with JavaScript off (the hosted pages must work without it) or on (for
//! axe, and for passkeys through chromedriver's virtual authenticator). A test finds fields
//! by their labels and buttons by their text, like a person; screenshots go to
//! `target/tmp/screenshots/`; `assert_accessible` runs axe-core in the page.
//!
//! Never "ok" without a browser: `build.rs` marks these tests ignored, with the reason, when
//! Chromium or chromedriver (or, for the axe check, `tests/browser/node_modules`) is missing
//! at build time, except with `CI=true`, where they run and a missing piece fails them
//! (`.ci/run` installs Debian's chromium and chromium-driver and runs
//! `npm ci --prefix tests/browser` first).
//!
//! Everything else WebDriver offers is at hand through `Deref` to the fantoccini client
//! (`source`, `current_url`, `find`, `execute` …), and `extension` sends chromedriver's own
//! commands. A passkey test adds a virtual authenticator to a `JavaScript::On` browser with
//! `extension("webauthn/authenticator", json!({"protocol": "ctap2", "transport":
//! "internal", "hasResidentKey": true, "hasUserVerification": true, "isUserVerified":
//! true}))`, and opens the server as `http://localhost:{port}`: WebAuthn refuses an IP
//! address as the relying party id ("This is an invalid domain"), so the test's issuer
//! names `localhost` too.

mod account_picker;
mod passkeys;
mod two_step;
mod upstream_sign_in;
mod walkthrough;

use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);
/// How long a page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JavaScript {
    Off,
    On,
}

/// A headless Chromium of one test, and the chromedriver that drives it.
pub struct Browser {
    client: Client,
    javascript: JavaScript,
    // Declared last: dropped after the client, however the test ends.
    _driver: Driver,
}

/// Kills chromedriver and the Chromium it started when the test ends, however it ends: a
/// test that panics never closes its session, and Chromium outlives a killed chromedriver.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads a process group of its own, which Chromium joins.
        let group = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.0.wait();
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    pub async fn start(javascript: JavaScript) -> Browser {
        // Built with a browser (or under CI) but none here: a failure, never a silent pass.
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: apt-get install chromium chromium-driver"
            );
        }
        let port = free_port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(port).await;
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        });
        if javascript == JavaScript::Off {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let capabilities = json!({"goog:chromeOptions": options});
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        // Tall enough for most pages; `screenshot` grows it for a longer one.
        client.set_window_size(800, 1700).await.unwrap();
        Browser {
            client,
            javascript,
            _driver: driver,
        }
    }

    /// Ends the WebDriver session (chromedriver closes Chromium).
    pub async fn close(self) {
        self.client.close().await.unwrap();
    }

    /// Types `value` into the input that the label reading `label` names.
    pub async fn fill(&self, label: &str, value: &str) {
        let label = self
            .find(Locator::XPath(&format!(
                "//label[normalize-space()='{label}']"
            )))
            .await
            .unwrap_or_else(|error| panic!("no label {label:?}: {error}"));
        let input_id = label.attr("for").await.unwrap().expect("label has for=");
        self.find(Locator::Id(&input_id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }

    /// Clicks the button or link reading `text`, and waits for the page with a heading
    /// (`h1` or `h2`) reading `then`, which the page clicked on must not have.
    pub async fn click(&self, text: &str, then: &str) {
        self.press(text).await;
        self.heading(then).await;
    }

    /// Clicks the button or link reading `text`, and waits for nothing.
    pub async fn press(&self, text: &str) {
        self.find(Locator::XPath(&format!(
            "//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|error| panic!("nothing to click reading {text:?}: {error}"))
        .click()
        .await
        .unwrap();
    }

    /// Waits until the page shows a heading (`h1` or `h2`) reading `text`.
    pub async fn heading(&self, text: &str) {
        self.wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(&format!(
                "//*[self::h1 or self::h2][normalize-space()=\"{text}\"]"
            )))
            .await
            .unwrap_or_else(|error| panic!("no heading {text:?}: {error}"));
    }

    /// Waits for the page's alert (`role="alert"`: the error a form shows) and returns it.
    pub async fn alert(&self) -> String {
        self.wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("[role=alert]"))
            .await
            .unwrap_or_else(|error| panic!("no alert: {error}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits until the address bar shows a URL starting with `prefix`, and returns it.
    pub async fn lands_on(&self, prefix: &str) -> url::Url {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.current_url().await.unwrap();
            if url.as_str().starts_with(prefix) {
                return url;
            }
            assert!(Instant::now() < deadline, "stuck at {url}, not {prefix}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot of the page as `target/tmp/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        // WebDriver shoots the viewport: a longer page grows the window first. (WebDriver's
        // own scripts run even where the page's may not.)
        let overflow = self
            .execute(
                "return document.documentElement.scrollHeight - window.innerHeight",
                Vec::new(),
            )
            .await
            .unwrap();
        if let Some(overflow) = overflow.as_u64().filter(|overflow| *overflow > 0) {
            let (width, height) = self.get_window_size().await.unwrap();
            let height = height + overflow;
            self.set_window_size(width.try_into().unwrap(), height.try_into().unwrap())
                .await
                .unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core (its default rules: WCAG 2 A and AA, and best practices) on the page,
    /// in the light and the dark color scheme (the stylesheet has both), and fails on any
    /// violation of impact `serious` or `critical`, listing them; lesser ones are printed
    /// (shown when the test fails).
    pub async fn assert_accessible(&self, page: &str) {
        assert!(
            self.javascript == JavaScript::On,
            "axe checks pages as they run with scripts: start the browser with JavaScript::On"
        );
        let source = std::fs::read_to_string(AXE)
            .unwrap_or_else(|error| panic!("{AXE}: {error}: run `npm ci --prefix tests/browser`"));
        // WebDriver runs the source as a function body, outside the page's CSP (which allows no
        // inline script); axe sets `window.axe`.
        self.execute(&source, Vec::new()).await.unwrap();
        let mut grave = Vec::new();
        for scheme in ["light", "dark"] {
            self.prefer_color_scheme(scheme).await;
            for violation in self.axe_violations(page).await {
                let described = format!("{page} ({scheme}): {}", describe(&violation));
                if matches!(violation["impact"].as_str(), Some("serious" | "critical")) {
                    grave.push(described);
                } else {
                    eprintln!("{described}");
                }
            }
        }
        self.prefer_color_scheme("").await;
        assert!(
            grave.is_empty(),
            "axe finds serious or critical violations:\n{}",
            grave.join("\n")
        );
    }

    async fn axe_violations(&self, page: &str) -> Vec<Value> {
        let outcome = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(results => done(results.violations))
                   .catch(error => done({error: String(error)}));",
                Vec::new(),
            )
            .await
            .unwrap();
        match outcome {
            Value::Array(violations) => violations,
            other => panic!("{page}: axe did not run: {other}"),
        }
    }

    /// Emulates the `prefers-color-scheme` a person's system asks for ("" for none).
    async fn prefer_color_scheme(&self, scheme: &str) {
        let features = [json!({"name": "prefers-color-scheme", "value": scheme})];
        self.extension(
            "goog/cdp/execute",
            json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": features}}),
        )
        .await;
    }

    /// Sends a WebDriver extension command of this session, `POST session/{id}/{path}`, and
    /// returns its value. chromedriver's include `goog/cdp/execute` (a DevTools Protocol
    /// command) and `webauthn/authenticator` (adds a virtual authenticator).
    pub async fn extension(&self, path: &'static str, body: Value) -> Value {
        self.issue_cmd(Extension { path, body })
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"))
    }
}

#[derive(Debug)]
struct Extension {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session.expect("a session");
        base.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(self.body.to_string()))
    }
}

/// One axe violation on a few lines: rule, impact, what it means, and the elements at fault
/// with what would fix each.
fn describe(violation: &Value) -> String {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut lines = vec![format!(
        "{} [{}]: {} ({})",
        text(&violation["id"]),
        text(&violation["impact"]),
        text(&violation["help"]),
        text(&violation["helpUrl"]),
    )];
    for node in violation["nodes"].as_array().into_iter().flatten() {
        lines.push(format!("    {}", text(&node["html"])));
        lines.extend(
            text(&node["failureSummary"])
                .lines()
                .map(|line| format!("      {line}")),
        );
    }
    lines.join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
