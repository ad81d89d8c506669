//! Hosted logins as a browser makes them, each on a fresh connection and session: GET /login
//! for the cookie and CSRF token, POST /login (one argon2 verification), and for a user with
//! a TOTP factor POST /login/mfa with the code the user's app shows now.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, HeaderValue, LOCATION, SET_COOKIE};
use hyper::http::request::Builder as RequestBuilder;
use hyper_util::rt::TokioIo;
use tessera::ids::AccountId;
use tessera::mfa::TOTP_STEP_SECONDS;
use tessera::state::AppState;
use tokio::net::TcpStream;
use totp_rs::{Algorithm, TOTP};

use crate::kit;

/// The password of every pool user.
pub const PASSWORD: &str = "bench-password-1";
/// Where every login goes back to once signed in.
const RETURN_TO: &str = "/account";

/// Users who sign in by turns, each with the same password; all with a TOTP factor or none.
pub struct Pool {
    users: Vec<PoolUser>,
    next: AtomicUsize,
}

struct PoolUser {
    email: String,
    app: Option<Authenticator>,
}

/// A user's authenticator app: its codes, and the last step it showed one for.
struct Authenticator {
    totp: TOTP,
    last_step: AtomicI64,
}

impl Authenticator {
    /// The code for the current step. The server accepts each step once per factor, so a
    /// user must not come round again within one step: the pool must hold at least 30 s of
    /// logins.
    fn code_now(&self) -> String {
        let step = tessera::clock::now().div_euclid(TOTP_STEP_SECONDS);
        let previous = self.last_step.swap(step, Ordering::Relaxed);
        assert!(
            previous < step,
            "a pool user came round twice within one TOTP step: raise BENCH_LOGIN_POOL"
        );
        self.totp
            .generate(u64::try_from(step * TOTP_STEP_SECONDS).unwrap())
    }
}

impl Pool {
    /// Seeds `count` members of `account` named `{prefix}{n}@example.com`, with an active
    /// TOTP factor each when `totp`. `password_hash` is [`password_hash`]'s.
    pub async fn seed(
        state: &AppState,
        account: &AccountId,
        prefix: &str,
        count: usize,
        password_hash: &str,
        totp: bool,
    ) -> Pool {
        let kek = totp.then(|| state.keys.key_encryption_key());
        let members = kit::members(&state.store, account, prefix, count, password_hash, kek).await;
        let users = members
            .into_iter()
            .map(|member| PoolUser {
                email: member.email,
                app: member.totp_secret.map(|secret| Authenticator {
                    totp: TOTP::new_unchecked(
                        Algorithm::SHA1,
                        6,
                        0,
                        TOTP_STEP_SECONDS as u64,
                        secret,
                        None,
                        String::new(),
                    ),
                    last_step: AtomicI64::new(i64::MIN),
                }),
            })
            .collect();
        Pool {
            users,
            next: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> &PoolUser {
        &self.users[self.next.fetch_add(1, Ordering::Relaxed) % self.users.len()]
    }
}

/// The PHC hash of the pool users' password, computed once for all of them.
pub async fn password_hash(state: &AppState) -> String {
    state.hasher.hash(PASSWORD.to_owned()).await.unwrap()
}

/// Logs in users of `pool` one after another until `end`. Returns the latencies (ns) of the
/// whole logins that completed in `[start, end)` and the number that failed, warm-up included.
pub async fn log_in_in_turn(
    server: SocketAddr,
    host: HeaderValue,
    pool: Arc<Pool>,
    start: Instant,
    end: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    while Instant::now() < end {
        let user = pool.take();
        let began = Instant::now();
        let signed_in = log_in(server, &host, &user.email, PASSWORD, user.app.as_ref())
            .await
            .is_some();
        let done = Instant::now();
        if done >= end {
            break;
        }
        if !signed_in {
            errors += 1;
        } else if done >= start {
            latencies.push(u64::try_from((done - began).as_nanos()).unwrap());
        }
    }
    (latencies, errors)
}

/// Signs the bootstrap admin in `per_second` times a second from `start` until `end`, each
/// login a task of its own whether or not the previous ones are done. Returns (completed,
/// failed).
pub async fn log_in_admin_repeatedly(
    server: SocketAddr,
    host: HeaderValue,
    per_second: u32,
    start: Instant,
    end: Instant,
) -> (u64, u64) {
    tokio::time::sleep_until(start.into()).await;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_second)));
    let mut running = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        let host = host.clone();
        running.spawn(async move {
            log_in(server, &host, kit::ADMIN_EMAIL, kit::ADMIN_PASSWORD, None)
                .await
                .is_some()
        });
    }
    let (mut done, mut failed) = (0, 0);
    while let Some(result) = running.join_next().await {
        if result.unwrap() {
            done += 1;
        } else {
            failed += 1;
        }
    }
    (done, failed)
}

/// One login on a fresh connection and session; `Some` if it ended signed in, sent back to
/// [`RETURN_TO`].
async fn log_in(
    server: SocketAddr,
    host: &HeaderValue,
    email: &str,
    password: &str,
    app: Option<&Authenticator>,
) -> Option<()> {
    let mut browser = Browser::open(server, host.clone()).await?;
    let page = browser.get("/login").await?;
    let csrf = csrf_token(&page.body)?;
    let form = encode_form(&[
        ("email", email),
        ("password", password),
        ("csrf_token", &csrf),
        ("return_to", RETURN_TO),
    ]);
    let answer = browser.post_form("/login", form).await?;
    let Some(app) = app else {
        return answer.redirects_to(RETURN_TO);
    };
    let return_to: String = url::form_urlencoded::byte_serialize(RETURN_TO.as_bytes()).collect();
    answer.redirects_to(&format!("/login/mfa?return_to={return_to}"))?;
    let code = app.code_now();
    let form = encode_form(&[
        ("code", &code),
        ("csrf_token", &csrf),
        ("return_to", RETURN_TO),
    ]);
    browser
        .post_form("/login/mfa", form)
        .await?
        .redirects_to(RETURN_TO)
}

fn encode_form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn csrf_token(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker)? + marker.len();
    Some(html[at..].chars().take_while(|c| *c != '"').collect())
}

/// One HTTP/1 connection that keeps the session cookie like a browser.
struct Browser {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    cookie: Option<HeaderValue>,
}

/// A response read whole.
struct Answer {
    status: u16,
    location: Option<HeaderValue>,
    body: String,
}

impl Answer {
    /// `Some` if it is a 303 to `path`.
    fn redirects_to(&self, path: &str) -> Option<()> {
        let location = self.location.as_ref()?;
        (self.status == 303 && location == path).then_some(())
    }
}

impl Browser {
    async fn open(server: SocketAddr, host: HeaderValue) -> Option<Browser> {
        let stream = TcpStream::connect(server).await.ok()?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        Some(Browser {
            sender,
            host,
            cookie: None,
        })
    }

    async fn get(&mut self, path: &str) -> Option<Answer> {
        self.send(Request::get(path), Full::default()).await
    }

    async fn post_form(&mut self, path: &str, form: String) -> Option<Answer> {
        let request = Request::post(path).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Full::from(form)).await
    }

    /// Sends with the session cookie, keeps the one set in answer, reads the body whole.
    async fn send(&mut self, mut request: RequestBuilder, body: Full<Bytes>) -> Option<Answer> {
        request = request.header(HOST, self.host.clone());
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        self.sender.ready().await.ok()?;
        let response = self
            .sender
            .send_request(request.body(body).ok()?)
            .await
            .ok()?;
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().ok()?.split(';').next()?;
            self.cookie = Some(HeaderValue::from_str(pair).ok()?);
        }
        let status = response.status().as_u16();
        let location = response.headers().get(LOCATION).cloned();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(Answer {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
