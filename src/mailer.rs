//! Email delivery: the messages Tessera sends, and the background worker that drains the
//! `emails` outbox through a `Transport`. Without `TESSERA_SMTP_URL` mail is written to the
//! log; SMTP is a second `Transport` variant to come (issue: SMTP delivery).

use std::time::Duration;

use tokio::sync::watch;

use crate::clock;
use crate::config::Config;
use crate::store::Store;
use crate::store::emails::{self, Email, NewEmail};

/// How often the worker looks for due messages.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Messages claimed per round.
const BATCH: i64 = 20;
/// A claimed message that was neither sent nor rescheduled (the instance died) is retried
/// after this long.
const LEASE_SECONDS: i64 = 5 * 60;
/// Attempts before a message is given up on (about 12 hours of backoff).
const MAX_ATTEMPTS: i64 = 12;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("delivery failed: {0}")]
    Delivery(String),
}

/// How messages leave the server.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Writes each message to the log (development, and deployments without SMTP).
    Log,
}

impl Transport {
    pub fn from_config(config: &Config) -> Transport {
        if config.smtp_url.is_some() {
            tracing::warn!(
                "TESSERA_SMTP_URL is set but SMTP delivery is not built yet; mail is logged"
            );
        }
        Transport::Log
    }

    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        match self {
            Transport::Log => {
                tracing::info!(
                    to = %email.recipient,
                    subject = %email.subject,
                    body = %email.text_body,
                    "email (no SMTP configured, logged instead of sent)"
                );
                Ok(())
            }
        }
    }
}

/// Delivers due messages until `shutdown` changes.
pub async fn run(store: Store, transport: Transport, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(error) = deliver_due(&store, &transport).await {
                    tracing::warn!(%error, "could not deliver queued email");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// One round: claims due messages and tries each once. Returns how many were sent.
pub async fn deliver_due(store: &Store, transport: &Transport) -> Result<usize, sqlx::Error> {
    let now = clock::now();
    let claimed = emails::claim_due(store.pool(), now, now + LEASE_SECONDS, BATCH).await?;
    let mut sent = 0;
    for email in claimed {
        match transport.send(&email).await {
            Ok(()) => {
                emails::mark_sent(store.pool(), &email.id, clock::now()).await?;
                sent += 1;
            }
            Err(error) if email.attempts >= MAX_ATTEMPTS => {
                tracing::error!(id = %email.id, %error, "giving up on email");
                emails::mark_failed(store.pool(), &email.id, clock::now(), &error.to_string())
                    .await?;
            }
            Err(error) => {
                tracing::warn!(id = %email.id, %error, "email delivery failed; will retry");
                let next = clock::now() + backoff_seconds(email.attempts);
                emails::schedule_retry(store.pool(), &email.id, next, &error.to_string()).await?;
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

/// The link that proves a new user receives mail at their address.
pub fn email_verification(recipient: &str, link: &str) -> NewEmail {
    NewEmail {
        recipient: recipient.to_owned(),
        subject: "Confirm your email address".to_owned(),
        text_body: format!(
            "Welcome to Tessera.\n\n\
             Confirm that this is your email address by opening this link:\n\n{link}\n\n\
             If you did not create an account, ignore this message.\n"
        ),
        html_body: None,
    }
}

/// A password reset link; it works once, within 30 minutes.
pub fn password_reset(recipient: &str, link: &str) -> NewEmail {
    NewEmail {
        recipient: recipient.to_owned(),
        subject: "Reset your password".to_owned(),
        text_body: format!(
            "Someone asked to reset the password of your Tessera account.\n\n\
             Choose a new password here (the link works once, for 30 minutes):\n\n{link}\n\n\
             If it was not you, ignore this message: your password stays as it is.\n"
        ),
        html_body: None,
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_seconds;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_seconds(1), 30);
        assert_eq!(backoff_seconds(2), 60);
        assert_eq!(backoff_seconds(3), 120);
        assert_eq!(backoff_seconds(30), 4 * 60 * 60);
    }
}
