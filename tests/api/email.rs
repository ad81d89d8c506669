//! Mail over SMTP: a tiny SMTP sink on 127.0.0.1 receives the invitation and the password
//! reset (plain text and HTML); the reset link works once. Users created without a password
//! get a set-password link that the reset page serves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{ADMIN_EMAIL, Deployment, TestApp};

/// One message the sink accepted.
#[derive(Clone, Debug)]
struct Mail {
    recipients: Vec<String>,
    data: String,
}

impl Mail {
    /// The decoded body of the MIME part of `content_type`.
    fn part(&self, content_type: &str) -> Option<String> {
        let header = format!("Content-Type: {content_type}");
        let start = self.data.find(&header)?;
        let rest = &self.data[start..];
        let body_start = rest.find("\r\n\r\n")? + 4;
        let body = &rest[body_start..];
        let end = body.find("\r\n--").unwrap_or(body.len());
        Some(decode_quoted_printable(&body[..end]))
    }
}

/// RFC 2045 §6.7 quoted-printable: soft line breaks and `=XX` escapes.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// An SMTP server on 127.0.0.1:0 that accepts every message and keeps it.
struct SmtpSink {
    port: u16,
    mail: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mail = Arc::new(Mutex::new(Vec::new()));
        let kept = mail.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, kept.clone()));
            }
        });
        SmtpSink { port, mail }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?from=tessera@example.com", self.port)
    }

    /// Waits (at most 20 s) for a message to `recipient`.
    async fn wait_for(&self, recipient: &str) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .mail
                .lock()
                .unwrap()
                .iter()
                .find(|mail| {
                    mail.recipients
                        .iter()
                        .any(|to| *to == format!("<{recipient}>"))
                })
                .cloned();
            if let Some(mail) = found {
                return mail;
            }
            assert!(Instant::now() < deadline, "no mail to {recipient}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn converse(stream: tokio::net::TcpStream, kept: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            recipients.push(line.trim_end()[8..].to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n").await.unwrap();
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            kept.lock().unwrap().push(Mail {
                recipients: std::mem::take(&mut recipients),
                data,
            });
            b"250 queued\r\n"
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else if command == "RSET" || command == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await.unwrap();
    }
}

/// The first `http…` link in `text` that contains `needle`.
fn link_containing(text: &str, needle: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .find(|word| word.starts_with("http") && word.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle} in {text}"))
        .to_owned()
}

#[tokio::test]
async fn invites_and_resets_arrive_over_smtp_in_text_and_html_and_the_link_works_once() {
    let sink = SmtpSink::start().await;
    let deployment = Deployment::new().await;
    let mut config = deployment.config();
    config.smtp_url = Some(sink.url());
    let app = TestApp::start(config).await;
    let team = app.team("mail").await;

    let response = app
        .api(
            Method::POST,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.admin.token,
        )
        .json(&json!({"email": "guest@example.com", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invite: Value = response.json().await.unwrap();
    let accept_url = invite["accept_url"].as_str().unwrap();

    let mail = sink.wait_for("guest@example.com").await;
    assert!(
        mail.data.contains("From: tessera@example.com"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("Subject: You are invited to join mail Inc")
    );
    assert!(mail.data.contains("multipart/alternative"));
    let text = mail.part("text/plain").expect("a text part");
    let html = mail.part("text/html").expect("an HTML part");
    assert_eq!(link_containing(&text, "/invites/"), accept_url);
    assert!(html.contains(&format!("href=\"{accept_url}\"")), "{html}");
    assert!(html.contains("<html lang=\"en\">"));

    let forgot = app
        .submit_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", ADMIN_EMAIL)],
        )
        .await;
    assert_eq!(forgot.status(), StatusCode::OK);
    let mail = sink.wait_for(ADMIN_EMAIL).await;
    let text = mail.part("text/plain").unwrap();
    let html = mail.part("text/html").unwrap();
    let link = link_containing(&text, "/reset-password?token=");
    assert!(html.contains(&link), "{html}");
    let path = link
        .strip_prefix(&app.address)
        .expect("a link on the issuer");

    let response = app
        .submit_form(
            path,
            "/reset-password",
            &[("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("Password changed"), "{page}");
    assert_eq!(
        app.get(path).await.status(),
        StatusCode::BAD_REQUEST,
        "used"
    );
    assert_eq!(
        app.log_in(ADMIN_EMAIL, "a brand new passphrase")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let unsent: i64 = sqlx::query_scalar("select count(*) from emails where sent_at is null")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn a_user_created_without_a_password_is_mailed_a_link_to_set_one() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let created = deployment
        .cli(&["users", "create", "--email", "newcomer@example.com"])
        .json();
    assert_eq!(created["email"], "newcomer@example.com");
    let owner = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Fresh",
            "--owner",
            "fresh-owner@example.com",
        ])
        .json();
    assert_eq!(owner["name"], "Fresh");
    assert_eq!(app.emails_to("fresh-owner@example.com").await.len(), 1);

    let bodies = app.emails_to("newcomer@example.com").await;
    assert_eq!(bodies.len(), 1);
    let link = link_containing(&bodies[0], "/reset-password?token=");
    let path = &link[link.find("/reset-password").unwrap()..];
    let response = app
        .submit_form(
            path,
            "/reset-password",
            &[("password", "my very first passphrase")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get(path).await.status(),
        StatusCode::BAD_REQUEST,
        "used"
    );
    assert_eq!(
        app.log_in("newcomer@example.com", "my very first passphrase")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}
