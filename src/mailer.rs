//! Email delivery: the messages Tessera sends, and the background worker that drains the
//! `emails` outbox through a `Transport`: SMTP (lettre) when `TESSERA_SMTP_URL` is set,
//! else the log. Bodies come from `templates/email/`, plain text and HTML.

use std::time::Duration;

use askama::{DynTemplate, Template};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;
use url::Url;

use crate::clock;
use crate::config::Config;
use crate::store::Store;
use crate::store::emails::{self, Email, NewEmail};
use crate::store::outbox::LEASE_SECONDS;

/// How often the worker looks for due messages.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Messages sent per round at most.
const BATCH: usize = 20;
/// Attempts before a message is given up on (about 12 hours of backoff).
const MAX_ATTEMPTS: i64 = 12;
/// An SMTP relay has this long for each command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("TESSERA_SMTP_URL: {0}")]
    Config(String),
    #[error("delivery failed: {0}")]
    Delivery(String),
}

/// How messages leave the server.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Writes each message to the log (development, and deployments without SMTP).
    Log,
    /// Sends through an SMTP relay (`TESSERA_SMTP_URL`).
    Smtp(Box<SmtpRelay>),
}

/// An SMTP relay and the sender it sends as.
#[derive(Clone, Debug)]
pub struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Transport {
    /// SMTP when `TESSERA_SMTP_URL` is set, else the log. The URL is `smtp://` (plain, or
    /// STARTTLS with `?tls=required` or `?tls=opportunistic`) or `smtps://` (TLS from the
    /// start), with optional `user:password@` and `?from=` (the sender; by default
    /// `tessera@` the issuer's host).
    pub fn from_config(config: &Config) -> Result<Transport, MailError> {
        let Some(text) = config.smtp_url.as_deref() else {
            return Ok(Transport::Log);
        };
        let url = Url::parse(text).map_err(|error| MailError::Config(error.to_string()))?;
        let from = match url.query_pairs().find(|(key, _)| key == "from") {
            Some((_, from)) => from.into_owned(),
            None => {
                let host = config
                    .issuer
                    .as_ref()
                    .and_then(|issuer| Url::parse(issuer.as_str()).ok())
                    .and_then(|issuer| issuer.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "localhost".to_owned());
                format!("Tessera <tessera@{host}>")
            }
        };
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::Config(format!("from: {from:?} is not a mailbox")))?;
        let relay = AsyncSmtpTransport::<Tokio1Executor>::from_url(text)
            .map_err(|error| MailError::Config(error.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Transport::Smtp(Box::new(SmtpRelay {
            transport: relay,
            from,
        })))
    }

    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        match self {
            Transport::Log => {
                // The whole message on one log line: the body quoted, its newlines escaped.
                tracing::info!(
                    target: "tessera::mail",
                    to = %email.recipient,
                    subject = ?email.subject,
                    body = ?email.text_body,
                    "email (no SMTP configured, logged instead of sent)"
                );
                Ok(())
            }
            Transport::Smtp(relay) => {
                let message = message(&relay.from, email)?;
                relay
                    .transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|error| MailError::Delivery(error.to_string()))
            }
        }
    }
}

/// The MIME message of an outbox row: plain text, with an HTML alternative when it has one.
fn message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to: Mailbox = email
        .recipient
        .parse()
        .map_err(|_| MailError::Delivery(format!("bad recipient {:?}", email.recipient)))?;
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(email.text_body.clone());
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone());
    let built = match &email.html_body {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .header(ContentTransferEncoding::QuotedPrintable)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    built.map_err(|error| MailError::Delivery(error.to_string()))
}

/// Delivers due messages until `shutdown` changes.
pub async fn run(store: Store, transport: Transport, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A committed change that queued work wakes it at once; the ticker finds work
        // queued by other instances and retries that fell due.
        tokio::select! {
            _ = ticker.tick() => {}
            _ = store.mail_queued() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = deliver_due(&store, &transport).await {
            tracing::warn!(%error, "could not deliver queued email");
        }
    }
}

/// One round: claims due messages one at a time (so none waits behind a slow relay while
/// its short lease runs out) and tries each once, renewing its lease meanwhile. Returns how
/// many were sent.
pub async fn deliver_due(store: &Store, transport: &Transport) -> Result<usize, sqlx::Error> {
    let mut sent = 0;
    for _ in 0..BATCH {
        let now = clock::now();
        let Some(email) = emails::claim_due(store.pool(), now, now + LEASE_SECONDS, 1)
            .await?
            .pop()
        else {
            break;
        };
        let outcome = emails::OUTBOX
            .while_held(
                store.pool(),
                &email.id,
                email.attempts,
                transport.send(&email),
            )
            .await;
        match outcome {
            Ok(()) => {
                emails::OUTBOX
                    .mark_done(store.pool(), &email.id, clock::now())
                    .await?;
                sent += 1;
            }
            Err(error) if email.attempts >= MAX_ATTEMPTS => {
                tracing::error!(id = %email.id, %error, "giving up on email");
                emails::OUTBOX
                    .mark_failed(store.pool(), &email.id, clock::now(), &error.to_string())
                    .await?;
            }
            Err(error) => {
                tracing::warn!(id = %email.id, %error, "email delivery failed; will retry");
                let next = clock::now() + backoff_seconds(email.attempts);
                emails::OUTBOX
                    .schedule_retry(store.pool(), &email.id, next, &error.to_string())
                    .await?;
            }
        }
    }
    Ok(sent)
}

/// Wait before attempt `attempts + 1`: 30 s doubling, at most 4 h.
fn backoff_seconds(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    (30_i64 << exponent).min(4 * 60 * 60)
}

#[derive(Template)]
#[template(path = "email/email_verification.txt")]
struct EmailVerificationText<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/email_verification.html")]
struct EmailVerificationHtml<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/email_change.txt")]
struct EmailChangeText<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/email_change.html")]
struct EmailChangeHtml<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/factor_changed.txt")]
struct FactorChangedText<'a> {
    what: &'a str,
    factor: &'a str,
}

#[derive(Template)]
#[template(path = "email/factor_changed.html")]
struct FactorChangedHtml<'a> {
    what: &'a str,
    factor: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct PasswordResetText<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct PasswordResetHtml<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/invite.txt")]
struct InviteText<'a> {
    account_name: &'a str,
    role: &'a str,
    link: &'a str,
    expires_at: &'a str,
}

#[derive(Template)]
#[template(path = "email/invite.html")]
struct InviteHtml<'a> {
    account_name: &'a str,
    role: &'a str,
    link: &'a str,
    expires_at: &'a str,
}

#[derive(Template)]
#[template(path = "email/set_password.txt")]
struct SetPasswordText<'a> {
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "email/set_password.html")]
struct SetPasswordHtml<'a> {
    link: &'a str,
    valid_for: &'a str,
}

fn compose(
    recipient: &str,
    subject: String,
    text: &dyn DynTemplate,
    html: &dyn DynTemplate,
) -> NewEmail {
    // Our templates only interpolate strings, so rendering cannot fail; should it anyway,
    // the message still goes out with what rendered.
    NewEmail {
        recipient: recipient.to_owned(),
        subject,
        text_body: text.dyn_render().unwrap_or_default(),
        html_body: html.dyn_render().ok(),
    }
}

/// The link that proves a new user receives mail at their address.
pub fn email_verification(recipient: &str, link: &str) -> NewEmail {
    compose(
        recipient,
        "Confirm your email address".to_owned(),
        &EmailVerificationText { link },
        &EmailVerificationHtml { link },
    )
}

/// The link that moves a user to a new address; it goes to the new address.
pub fn email_change(recipient: &str, link: &str) -> NewEmail {
    compose(
        recipient,
        "Confirm your new email address".to_owned(),
        &EmailChangeText { link },
        &EmailChangeHtml { link },
    )
}

/// A password reset link; it works once, within 30 minutes.
pub fn password_reset(recipient: &str, link: &str) -> NewEmail {
    compose(
        recipient,
        "Reset your password".to_owned(),
        &PasswordResetText { link },
        &PasswordResetHtml { link },
    )
}

/// A second factor was added or removed (`what`: "A second factor was added" …), so that a
/// user whose password leaked hears of it.
pub fn factor_changed(recipient: &str, what: &str, factor: &str) -> NewEmail {
    compose(
        recipient,
        what.to_owned(),
        &FactorChangedText { what, factor },
        &FactorChangedHtml { what, factor },
    )
}

/// An invitation to join an account, with its single-use accept link.
pub fn invitation(
    recipient: &str,
    account_name: &str,
    role: &str,
    link: &str,
    expires_at: &str,
) -> NewEmail {
    compose(
        recipient,
        format!("You are invited to join {account_name}"),
        &InviteText {
            account_name,
            role,
            link,
            expires_at,
        },
        &InviteHtml {
            account_name,
            role,
            link,
            expires_at,
        },
    )
}

/// The first password of a user created without one (by an operator or an admin).
pub fn set_password(recipient: &str, link: &str, valid_for: &str) -> NewEmail {
    compose(
        recipient,
        "Choose your Tessera password".to_owned(),
        &SetPasswordText { link, valid_for },
        &SetPasswordHtml { link, valid_for },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{SmtpRelay, Transport, backoff_seconds};
    use crate::config::Config;

    fn smtp(config: &Config) -> SmtpRelay {
        match Transport::from_config(config).unwrap() {
            Transport::Smtp(relay) => *relay,
            Transport::Log => unreachable!("an SMTP transport"),
        }
    }

    #[test]
    fn the_smtp_url_names_the_relay_and_the_sender() {
        let mut config = Config::from_sources(|_| None, &BTreeMap::new()).unwrap();
        assert!(matches!(
            Transport::from_config(&config),
            Ok(Transport::Log)
        ));
        config.smtp_url = Some(
            "smtps://user:p%40ss@smtp.example.com?from=Tessera%20%3Cid%40example.com%3E".into(),
        );
        let relay = smtp(&config);
        assert_eq!(relay.from.email.to_string(), "id@example.com");
        assert_eq!(relay.from.name.as_deref(), Some("Tessera"));
        config.smtp_url = Some("smtp://127.0.0.1:25".into());
        let relay = smtp(&config);
        assert_eq!(relay.from.email.to_string(), "tessera@localhost");
        config.smtp_url = Some("smtp://smtp.example.com?from=nobody".into());
        assert!(Transport::from_config(&config).is_err());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_seconds(1), 30);
        assert_eq!(backoff_seconds(2), 60);
        assert_eq!(backoff_seconds(3), 120);
        assert_eq!(backoff_seconds(30), 4 * 60 * 60);
    }
}
