//! Brute-force policy for the hosted pages: which counters a login attempt or a mail request
//! hits, and their limits. Counters live in the database (`store::rate_limits`), so the
//! limits hold across every instance of a deployment.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Executor};

use crate::ids::AccountId;
use crate::secret;
use crate::store::{Store, rate_limits};

/// Failed logins allowed per email address per window.
pub const LOGIN_FAILURES_PER_EMAIL: i64 = 10;
/// Failed logins allowed per client IP address per window.
pub const LOGIN_FAILURES_PER_IP: i64 = 100;
/// Reset links mailed per email address per window; beyond it requests are quietly dropped.
pub const RESET_EMAILS_PER_ADDRESS: i64 = 5;
/// Accounts created per client IP address per hour: each one costs a password hash.
pub const SIGNUPS_PER_IP: i64 = 20;
/// Invitations sent per account per hour: each one mails someone who did not ask for it.
pub const INVITATIONS_PER_ACCOUNT: i64 = 50;
/// DNS verifications per account per hour: each one is a lookup of up to 5 s made on the
/// caller's word.
pub const DOMAIN_CHECKS_PER_ACCOUNT: i64 = 30;
pub const WINDOW_SECONDS: i64 = 15 * 60;

/// A limit was reached; try again after this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: i64,
}

/// The counters one login attempt holds (each key with the window it was counted in), to be
/// handed back if the login succeeds. A password step that a second factor must follow
/// keeps its attempt in the login session until that step passes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoginAttempt {
    hits: Vec<(String, i64)>,
}

impl LoginAttempt {
    /// The counters of both attempts, refunded together when the login they are steps of
    /// succeeds.
    pub fn and(mut self, other: LoginAttempt) -> LoginAttempt {
        self.hits.extend(other.hits);
        self
    }
}

fn email_key(prefix: &str, email: &str) -> String {
    // Hashed so that the table does not list who was attacked.
    format!("{prefix}:{}", secret::hash(&email.trim().to_lowercase()))
}

fn ip_key(prefix: &str, ip: IpAddr) -> String {
    // An IPv4 client reached over an IPv6 socket counts as the IPv4 address. An IPv6 client
    // counts per /64: one subscriber usually holds a whole /64 and can rotate within it.
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("{prefix}:{v4}"),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(v6.to_bits() & (u128::MAX << 64));
            format!("{prefix}:{network}/64")
        }
    }
}

fn over(window: rate_limits::Window, limit: i64, now: i64) -> Option<Limited> {
    (window.count > limit).then(|| Limited {
        retry_after: (window.started_at + WINDOW_SECONDS - now).max(1),
    })
}

/// Counts a login attempt against the email and the client IP before the password is
/// checked. Counting first (and refunding on success) keeps parallel guesses from slipping
/// past the limit between a check and an increment. `Err` means refuse without checking.
pub async fn begin_login(
    store: &Store,
    email: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Result<LoginAttempt, Limited>, sqlx::Error> {
    let limits = [
        (email_key("login-email", email), LOGIN_FAILURES_PER_EMAIL),
        (ip_key("login-ip", ip), LOGIN_FAILURES_PER_IP),
    ];
    begin(store, limits, now).await
}

/// Counts a second-factor guess (a code, a passkey after the password) against the email
/// alone, like [`begin_login`] counts a password: API.md §10 counts wrong codes toward the
/// per-email limit. The IP's counter has already seen the password step that had to pass
/// before any code can be tried, so it is not counted again.
pub async fn begin_second_step(
    store: &Store,
    email: &str,
    now: i64,
) -> Result<Result<LoginAttempt, Limited>, sqlx::Error> {
    let limits = [(email_key("login-email", email), LOGIN_FAILURES_PER_EMAIL)];
    begin(store, limits, now).await
}

/// Hits each `(key, limit)` counter; `Err` with the longest wait when any is over its limit.
async fn begin<const N: usize>(
    store: &Store,
    limits: [(String, i64); N],
    now: i64,
) -> Result<Result<LoginAttempt, Limited>, sqlx::Error> {
    let mut hits = Vec::with_capacity(N);
    let mut limited: Option<Limited> = None;
    for (key, limit) in limits {
        let window = rate_limits::hit(store.pool(), &key, now, WINDOW_SECONDS).await?;
        if let Some(this) = over(window, limit, now) {
            let longest = limited.map_or(this.retry_after, |l| l.retry_after.max(this.retry_after));
            limited = Some(Limited {
                retry_after: longest,
            });
        }
        hits.push((key, window.started_at));
    }
    Ok(match limited {
        Some(limited) => Err(limited),
        None => Ok(LoginAttempt { hits }),
    })
}

/// The login succeeded: it was not a failure, so it does not count (`db`: the change that
/// records the login, or any connection).
pub async fn login_succeeded(
    db: &mut AnyConnection,
    attempt: LoginAttempt,
) -> Result<(), sqlx::Error> {
    for (key, started_at) in attempt.hits {
        rate_limits::refund(&mut *db, &key, started_at).await?;
    }
    Ok(())
}

/// Whether another reset link may be mailed to `email` now (counts the request).
pub async fn allow_reset_email(store: &Store, email: &str, now: i64) -> Result<bool, sqlx::Error> {
    let key = email_key("reset-email", email);
    let window = rate_limits::hit(store.pool(), &key, now, 60 * 60).await?;
    Ok(window.count <= RESET_EMAILS_PER_ADDRESS)
}

/// Counts a sign-up from `ip`; `Err` when this address has made too many this hour.
pub async fn begin_signup(
    store: &Store,
    ip: IpAddr,
    now: i64,
) -> Result<Result<(), Limited>, sqlx::Error> {
    hourly(store.pool(), &ip_key("signup-ip", ip), SIGNUPS_PER_IP, now).await
}

/// Counts an invitation of `account_id`; `Err` when the account has sent too many this hour.
/// Run it in the transaction that creates the invitation, so that a refused or failed
/// invitation does not count.
pub async fn begin_invitation<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    now: i64,
) -> Result<Result<(), Limited>, sqlx::Error> {
    let key = format!("invite-account:{account_id}");
    hourly(db, &key, INVITATIONS_PER_ACCOUNT, now).await
}

/// Counts a DNS verification of one of `account_id`'s domains; `Err` past the hour's limit.
pub async fn begin_domain_check(
    store: &Store,
    account_id: &AccountId,
    now: i64,
) -> Result<Result<(), Limited>, sqlx::Error> {
    let key = format!("domain-check-account:{account_id}");
    hourly(store.pool(), &key, DOMAIN_CHECKS_PER_ACCOUNT, now).await
}

/// One more hit on the hourly counter `key`; `Err` once it passes `limit`.
async fn hourly<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    limit: i64,
    now: i64,
) -> Result<Result<(), Limited>, sqlx::Error> {
    let window = rate_limits::hit(db, key, now, 60 * 60).await?;
    Ok(if window.count > limit {
        Err(Limited {
            retry_after: (window.started_at + 60 * 60 - now).max(1),
        })
    } else {
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::{email_key, ip_key, over};
    use crate::store::rate_limits::Window;

    #[test]
    fn email_keys_ignore_case_and_spaces() {
        assert_eq!(
            email_key("login-email", " Ada@Example.com"),
            email_key("login-email", "ada@example.com")
        );
        assert!(!email_key("login-email", "ada@example.com").contains("ada"));
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(ip_key("login-ip", mapped), "login-ip:10.0.0.1");
        assert_eq!(
            ip_key("login-ip", IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "login-ip:::/64"
        );
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let key = |text: &str| ip_key("login-ip", text.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "login-ip:2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
    }

    #[test]
    fn the_hit_past_the_limit_is_refused_until_the_window_ends() {
        let window = Window {
            count: 10,
            started_at: 1000,
        };
        assert_eq!(over(window, 10, 1100), None);
        let window = Window {
            count: 11,
            ..window
        };
        assert_eq!(over(window, 10, 1100).map(|l| l.retry_after), Some(800));
    }
}
