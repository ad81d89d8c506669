//! Load benchmark: the real server in-process on 127.0.0.1:0 over a temp SQLite file, driven
//! by keep-alive HTTP/1 connections on loopback, and the CPU cost of signing tokens. Every
//! figure is printed next to the limit it is bounded by, measured in the same run.
//!
//! `cargo bench --bench http`; environment (all optional):
//! `BENCH_SECONDS` measured seconds per scenario (8), `BENCH_WARMUP_SECONDS` (2),
//! `BENCH_ROUNDS` (4: the scenarios take turns, each measured for a quarter of its time per
//! round), `BENCH_CONNECTIONS` (`32,128`), `BENCH_SCENARIOS` (e.g. `healthz,jwks,rs256_raw`),
//! `BENCH_REFRESH_POOL` (refresh tokens minted for `token_refresh`, 120000),
//! `BENCH_LOGIN_POOL` (users seeded for each of `login_password` and `login_totp`, 3000 per
//! core),
//! `BENCH_DATABASE_URL` (a PostgreSQL server where the bench may create, use and drop a
//! database of its own, instead of SQLite in a temp dir).
//!
//! The database, the deployment, the server and the seeding below HTTP are the test kit's
//! (`tests/kit/`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark binary: failing loudly and printing a table is its whole job"
)]

#[path = "../tests/kit/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the kit serves the tests too; the bench uses a part of it"
)]
mod kit;
#[path = "http/logins.rs"]
mod logins;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use tessera::api_key::ApiKey;
use tessera::ids::GrantId;
use tessera::keys::{KeyRing, SigningAlg, SigningKey};
use tessera::oauth::claims::AccessTokenClaims;
use tessera::oauth::client::{ClientSettings, GrantType};
use tessera::role::Builtin;
use tessera::state::AppState;
use tessera::store::api_keys;
use tessera::store::grants::{self, Grant};
use tessera::store::{refresh_tokens, users};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Thread names of the two runtimes, so CPU time can be split between server and load.
const SERVER_THREAD: &str = "bench-server";
const LOAD_THREAD: &str = "bench-load";
/// Warm-up before the later rounds of a scenario: enough to open its connections again.
const REWARM: Duration = Duration::from_millis(500);

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let settings = Settings::from_env(cores);
    let server_runtime = runtime(SERVER_THREAD, cores);
    let load_runtime = runtime(LOAD_THREAD, cores);

    // Dropped after the server (declared before it): the database goes once it is told to stop.
    let deployment =
        server_runtime.block_on(kit::Deployment::fresh(settings.postgres_server.as_deref()));
    let (server, seed) = server_runtime.block_on(async {
        let server = kit::Server::start(deployment.config()).await;
        // Minting refresh tokens and seeding users take a while: only for the scenarios
        // that spend them.
        let pool_for =
            |scenario: &str, size: usize| if settings.wants(scenario) { size } else { 0 };
        let pools = Pools {
            refresh_tokens: pool_for("token_refresh", settings.refresh_pool),
            password_logins: pool_for("login_password", settings.login_pool),
            totp_logins: pool_for("login_totp", settings.login_pool),
        };
        let seed = Seed::plant(&server.state, &pools).await;
        (server, seed)
    });
    let (address, keys) = (server.address, server.state.keys.clone());
    println!(
        "tessera on {address}; {cores} cores; {} s warm-up, then {} s measured per scenario \
         in {} interleaved rounds",
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
        settings.rounds
    );

    // Twice the argon2 slots: every slot stays busy while the other logins are between
    // requests, and none waits anywhere near long enough for the server to turn it away.
    let logins_in_flight = 2 * server.state.config.password_hash_concurrency;
    // Issue 16: refresh at 0.25 of its limit on SQLite, 0.3 on PostgreSQL.
    let refresh_target = match server.state.store.backend() {
        tessera::store::Backend::Sqlite => 0.25,
        tessera::store::Backend::Postgres => 0.3,
    };
    let http: Vec<Scenario> = http_scenarios(
        &seed,
        &address.to_string(),
        logins_in_flight,
        refresh_target,
    )
    .into_iter()
    .filter(|scenario| settings.wants(scenario.name))
    .collect();
    let cpu: Vec<_> = cpu_scenarios(&keys, &seed.password_hash)
        .into_iter()
        .filter(|(name, _, _)| settings.wants(name))
        .collect();
    let mut rows: Vec<Row> = http
        .iter()
        .flat_map(|scenario| {
            let concurrencies = scenario.concurrencies(&settings.connections);
            concurrencies.map(|count| Row {
                target: scenario.target,
                limit_per_op: scenario.limit_per_op,
                ..Row::new(scenario.name, scenario.limit, count)
            })
        })
        .chain(
            cpu.iter()
                .map(|&(name, limit, _)| Row::new(name, limit, cores)),
        )
        .collect();
    // Each scenario runs a slice of its time in every round, so load from other processes
    // that comes and goes falls on a figure and on its limit alike.
    let measure = settings.measure / settings.rounds;
    for round in 0..settings.rounds {
        let warmup = if round == 0 {
            settings.warmup
        } else {
            settings.warmup.min(REWARM)
        };
        let mut row = rows.iter_mut();
        for scenario in &http {
            for connections in scenario.concurrencies(&settings.connections) {
                let stats =
                    load_runtime.block_on(load(address, scenario, connections, warmup, measure));
                row.next().unwrap().stats.add(stats);
            }
        }
        for (_, _, work) in &cpu {
            let stats = on_threads(cores, warmup, measure, &**work);
            row.next().unwrap().stats.add(stats);
        }
    }

    print_table(&rows, cores);
    let errors: u64 = rows.iter().map(|row| row.stats.errors).sum();
    assert_eq!(errors, 0, "every request must succeed");
}

/// One kind of load, kept up on every connection (or by every login in flight).
struct Scenario {
    name: &'static str,
    /// The scenario whose rate bounds this one's (same connection count if it has one).
    limit: Option<&'static str>,
    /// The least ratio of its rate to its limit's that the issue behind it asks for.
    target: Option<f64>,
    /// How many of its limit's operations one of its own takes (a refresh signs twice): the
    /// limit's rate is divided by it.
    limit_per_op: u32,
    load: Load,
    /// Browser logins per second (argon2 each) running beside the load, from other clients.
    logins_per_second: u32,
}

enum Load {
    /// One request sent over and over on keep-alive connections, as many as
    /// `BENCH_CONNECTIONS` says: it builds each request (path-only URI, any method, headers
    /// and body; `load` adds `Host`).
    Requests(Arc<BuildRequest>),
    /// Whole hosted logins by the users of a pool, each on a fresh connection, this many at
    /// once.
    Logins {
        pool: Arc<logins::Pool>,
        in_flight: usize,
    },
}

/// Builds each request as it goes on the wire.
type BuildRequest = dyn Fn() -> Bytes + Send + Sync;

impl Scenario {
    fn new(
        name: &'static str,
        limit: Option<&'static str>,
        request: impl Fn() -> Bytes + Send + Sync + 'static,
    ) -> Scenario {
        Scenario {
            name,
            limit,
            target: None,
            limit_per_op: 1,
            load: Load::Requests(Arc::new(request)),
            logins_per_second: 0,
        }
    }

    /// The least ratio to its limit the issue behind it asks for: the table says whether it
    /// was met.
    fn at_least(self, target: f64) -> Scenario {
        Scenario {
            target: Some(target),
            ..self
        }
    }

    fn logins(
        name: &'static str,
        limit: Option<&'static str>,
        pool: &Arc<logins::Pool>,
        in_flight: usize,
    ) -> Scenario {
        Scenario {
            name,
            limit,
            target: None,
            limit_per_op: 1,
            load: Load::Logins {
                pool: pool.clone(),
                in_flight,
            },
            logins_per_second: 0,
        }
    }

    /// The concurrencies it runs at: the connection counts asked for, or its logins in flight.
    fn concurrencies(&self, connections: &[usize]) -> impl Iterator<Item = usize> {
        match self.load {
            Load::Requests(_) => connections.to_vec(),
            Load::Logins { in_flight, .. } => vec![in_flight],
        }
        .into_iter()
    }

    fn get(name: &'static str, host: &str, path: &str, limit: Option<&'static str>) -> Scenario {
        let request = wire("GET", path, host, &[], "");
        Scenario::new(name, limit, move || request.clone())
    }
}

/// An HTTP/1.1 request as it goes on the wire; `Content-Length` is added for a body.
fn wire(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &str) -> Bytes {
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" {
        text.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Bytes::from(text)
}

/// How many of each thing used up (or used once per TOTP step) to seed.
struct Pools {
    refresh_tokens: usize,
    password_logins: usize,
    totp_logins: usize,
}

/// What the scenarios need in the database before they run: a confidential client for
/// client credentials, a pool of refresh tokens (each one rotates away when used, so every
/// request takes the next) in grants of their own, and members who log in, without and with
/// a TOTP factor.
struct Seed {
    account_id: String,
    /// A user-level login token of the admin, issued to the app client.
    login_token: String,
    client_credentials_auth: String,
    /// A client-credentials client whose access tokens are ES256 (API.md §14).
    client_credentials_es256_auth: String,
    refresh_auth: String,
    refresh_tokens: Arc<Vec<String>>,
    next_refresh: Arc<AtomicUsize>,
    /// `Bearer tsk_…`: an admin API key of the first account.
    api_key_auth: String,
    /// The PHC hash of the login pools' password.
    password_hash: String,
    password_logins: Arc<logins::Pool>,
    totp_logins: Arc<logins::Pool>,
}

impl Seed {
    async fn plant(state: &AppState, pools: &Pools) -> Seed {
        let store = &state.store;
        let account_id = kit::first_account(store).await;
        let service = ClientSettings {
            grant_types: vec![GrantType::ClientCredentials],
            ..ClientSettings::with_defaults("bench service".into(), false)
        };
        let service_es256 = ClientSettings {
            access_token_signing_alg: Some(SigningAlg::Es256),
            ..service.clone()
        };
        let service = kit::confidential_client(store, &account_id, service).await;
        let service_es256 = kit::confidential_client(store, &account_id, service_es256).await;
        // All three algorithms published, as the JWKS scenario asks.
        state
            .keys
            .publish(store, [SigningAlg::Es256, SigningAlg::EdDsa])
            .await;
        let app = ClientSettings {
            redirect_uris: vec!["https://app.example.com/callback".into()],
            ..ClientSettings::with_defaults("bench app".into(), false)
        };
        let app = kit::confidential_client(store, &account_id, app).await;
        let admin = users::find_by_email(store.pool(), kit::ADMIN_EMAIL)
            .await
            .unwrap()
            .unwrap();

        let now = tessera::clock::now();
        let mut refresh_tokens = Vec::with_capacity(pools.refresh_tokens);
        let mut change = store.change().await.unwrap();
        for _ in 0..pools.refresh_tokens {
            let grant = Grant {
                id: GrantId::generate(),
                client_id: app.client_id.clone(),
                user_id: Some(admin.id.clone()),
                account_id: Some(account_id.clone()),
                scope: "openid email".into(),
                auth_time: Some(now),
                amr: vec!["pwd".to_owned()],
                session_id: None,
                created_at: now,
                expires_at: now + 86_400,
                revoked_at: None,
            };
            grants::insert(&mut *change, &grant).await.unwrap();
            let token = tessera::secret::generate();
            refresh_tokens::insert(
                &mut *change,
                &tessera::secret::hash(&token),
                &grant.id,
                None,
                now,
                now + 86_400,
            )
            .await
            .unwrap();
            refresh_tokens.push(token);
        }
        change
            .commit_unaudited(tessera::store::Unaudited::Issuance)
            .await
            .unwrap();
        let api_key_token = tessera::api_key::generate();
        let api_key = ApiKey::new(
            account_id.clone(),
            "bench key".into(),
            Builtin::Admin.into(),
            None,
            None,
            tessera::clock::now(),
        );
        api_keys::insert(
            store.pool(),
            &api_key,
            &tessera::secret::hash(&api_key_token),
        )
        .await
        .unwrap();
        let password_hash = logins::password_hash(state).await;
        let pool = |prefix, count, totp| {
            logins::Pool::seed(state, &account_id, prefix, count, &password_hash, totp)
        };
        let password_logins = pool("login-password-", pools.password_logins, false).await;
        let totp_logins = pool("login-totp-", pools.totp_logins, true).await;
        Seed {
            account_id: account_id.to_string(),
            login_token: kit::user_token(state, &app.client_id, &admin.id, "openid email", 86_400),
            api_key_auth: format!("Bearer {api_key_token}"),
            client_credentials_auth: basic(service.client_id.as_str(), &service.secret),
            client_credentials_es256_auth: basic(
                service_es256.client_id.as_str(),
                &service_es256.secret,
            ),
            refresh_auth: basic(app.client_id.as_str(), &app.secret),
            refresh_tokens: Arc::new(refresh_tokens),
            next_refresh: Arc::new(AtomicUsize::new(0)),
            password_hash,
            password_logins: Arc::new(password_logins),
            totp_logins: Arc::new(totp_logins),
        }
    }
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

fn token_request(host: &str, auth: &str, body: &str) -> Bytes {
    let headers = [
        ("authorization", auth),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    wire("POST", "/oauth2/token", host, &headers, body)
}

/// The HTTP scenarios, in the order they run. Token scenarios are bounded by `rs256_raw`
/// (one signature per token); read their `cpu us/op` ratio, the server's CPU per token over
/// one signature's, whatever the load generator took.
fn http_scenarios(
    seed: &Seed,
    host: &str,
    logins_in_flight: usize,
    refresh_target: f64,
) -> Vec<Scenario> {
    let client_credentials = token_request(
        host,
        &seed.client_credentials_auth,
        "grant_type=client_credentials",
    );
    let client_credentials_es256 = token_request(
        host,
        &seed.client_credentials_es256_auth,
        "grant_type=client_credentials",
    );
    let exchange = token_request(
        host,
        &seed.refresh_auth,
        &format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token={}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type\
             %3Aaccess_token&account_id={}",
            seed.login_token, seed.account_id
        ),
    );
    let bearer = format!("Bearer {}", seed.login_token);
    let account_token = wire(
        "POST",
        "/v1/auth/account-token",
        host,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        &format!("{{\"account_id\":\"{}\"}}", seed.account_id),
    );
    let api_key_verify = wire(
        "GET",
        "/v1/api-keys/verify",
        host,
        &[("authorization", &seed.api_key_auth)],
        "",
    );
    let current_account = wire(
        "GET",
        "/v1/account",
        host,
        &[("authorization", &seed.api_key_auth)],
        "",
    );
    let file_presign = wire(
        "POST",
        &format!("/v1/accounts/{}/files/uploads", seed.account_id),
        host,
        &[
            ("authorization", &seed.api_key_auth),
            ("content-type", "application/json"),
        ],
        r#"{"key":"bench/report.pdf","content_type":"application/pdf"}"#,
    );
    let (host_owned, refresh_auth) = (host.to_owned(), seed.refresh_auth.clone());
    let (pool, next) = (seed.refresh_tokens.clone(), seed.next_refresh.clone());
    let refresh = move || {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let token = pool
            .get(index)
            .expect("refresh pool exhausted: raise BENCH_REFRESH_POOL");
        let body = format!("grant_type=refresh_token&refresh_token={token}");
        token_request(&host_owned, &refresh_auth, &body)
    };
    vec![
        Scenario::get("healthz", host, "/healthz", None),
        // Issue 16: built in memory, with keys of all three algorithms published.
        Scenario::get("jwks", host, "/.well-known/jwks.json", Some("healthz")).at_least(0.9),
        Scenario {
            logins_per_second: 20,
            ..Scenario::get(
                "jwks_during_logins",
                host,
                "/.well-known/jwks.json",
                Some("jwks"),
            )
        },
        Scenario::new("token_client_credentials", Some("rs256_raw"), move || {
            client_credentials.clone()
        })
        .at_least(0.8),
        // Issue 16: the same grant for a client whose tokens are ES256, against the RS256
        // figure of the same run.
        Scenario::new(
            "token_client_credentials_es256",
            Some("token_client_credentials"),
            move || client_credentials_es256.clone(),
        )
        .at_least(3.0),
        Scenario::new("token_exchange", Some("rs256_raw"), move || {
            exchange.clone()
        }),
        Scenario::new("account_token_rest", Some("rs256_raw"), move || {
            account_token.clone()
        }),
        // Issue 16: a refresh signs an access token and an ID token, so its limit is half the
        // raw signing rate.
        Scenario {
            target: Some(refresh_target),
            limit_per_op: 2,
            ..Scenario::new("token_refresh", Some("rs256_raw"), refresh)
        },
        // Issue 5: authenticating a /v1 call with an API key is one indexed lookup.
        Scenario::new("api_key_verify", Some("healthz"), move || {
            api_key_verify.clone()
        }),
        // Issue 15: the current account is the API key's account, read as its `{acc}` form.
        Scenario::new("account_current", Some("healthz"), move || {
            current_account.clone()
        })
        .at_least(0.5),
        // Issue 15: presigning an upload on the local store is the caller's standing and an HMAC.
        Scenario::new("file_presign", Some("healthz"), move || {
            file_presign.clone()
        })
        .at_least(0.5),
        // Issue 12: a login with TOTP costs one argon2 verification plus microseconds.
        Scenario::logins(
            "login_password",
            Some("argon2_verify"),
            &seed.password_logins,
            logins_in_flight,
        ),
        Scenario {
            target: Some(0.95),
            ..Scenario::logins(
                "login_totp",
                Some("login_password"),
                &seed.totp_logins,
                logins_in_flight,
            )
        },
    ]
}

type Work = Box<dyn Fn() + Send + Sync>;

/// CPU-only scenarios: (name, limit, one operation), run on every core at once.
fn cpu_scenarios(
    keys: &Arc<KeyRing>,
    password_hash: &str,
) -> Vec<(&'static str, Option<&'static str>, Work)> {
    let claims = sample_claims();
    let token = keys.sign_access_token(&claims).unwrap();
    // The raw signature covers exactly the bytes a token's signature covers: header.claims.
    let (signing_input, _) = token.rsplit_once('.').unwrap();
    let signing_input = signing_input.as_bytes().to_vec();
    println!(
        "signing: {}-byte input (header.claims of a sample access token), RSA-2048",
        signing_input.len()
    );
    let (_, pkcs8) = SigningKey::generate().unwrap();
    let pair = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    let rng = SystemRandom::new();
    let raw = move || {
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, &signing_input, &mut signature)
            .unwrap();
        std::hint::black_box(signature);
    };
    // The same input under P-256, with the key pair the server would parse once.
    let es256_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let es256_pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let es256_pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, es256_pkcs8.as_ref()).unwrap();
    let es256_rng = SystemRandom::new();
    let es256_raw = move || {
        std::hint::black_box(es256_pair.sign(&es256_rng, &es256_input).unwrap());
    };
    let keys = keys.clone();
    let full = move || {
        std::hint::black_box(keys.sign_access_token(&claims).unwrap());
    };
    // What `POST /login` computes for a right password (`password::Hasher::verify`).
    let password_hash = password_hash.to_owned();
    let argon2 = move || {
        let parsed = PasswordHash::new(&password_hash).unwrap();
        let password = logins::PASSWORD.as_bytes();
        assert!(Argon2::default().verify_password(password, &parsed).is_ok());
    };
    vec![
        ("rs256_raw", None, Box::new(raw) as Work),
        ("es256_raw", None, Box::new(es256_raw) as Work),
        (
            "sign_access_token",
            Some("rs256_raw"),
            Box::new(full) as Work,
        ),
        ("argon2_verify", None, Box::new(argon2) as Work),
    ]
}

/// A typical account-scoped user token.
fn sample_claims() -> AccessTokenClaims {
    let now = tessera::clock::now();
    AccessTokenClaims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "usr_01JD5Q7Z3M4K8X2N6P9R1T0VWY".into(),
        aud: "https://api.example.com".into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: "01JD5Q80A7B3C5D9E2F4G6H8J0".into(),
        client_id: "cli_01JD5Q7ZK2M4N6P8Q0R3S5T7VW".into(),
        azp: Some("cli_01JD5Q7ZK2M4N6P8Q0R3S5T7VW".into()),
        scope: "openid profile email accounts:read members:write".into(),
        uid: Some("usr_01JD5Q7Z3M4K8X2N6P9R1T0VWY".into()),
        acc: Some("acc_01JD5Q7ZB1C3D5E7F9G2H4J6KM".into()),
        role: Some("admin".into()),
        permissions: Some(Builtin::Admin.permissions().ids()),
        inherited_from: None,
        gid: None,
        amr: Some(vec!["pwd".into()]),
        acr: Some("urn:tessera:acr:pwd".into()),
    }
}

#[derive(Default)]
struct Stats {
    /// Requests (or operations) completed inside the measured window.
    completed: u64,
    errors: u64,
    seconds: f64,
    /// Latency of each completed request, nanoseconds, sorted.
    latencies: Vec<u64>,
    /// CPU time used in the measured window; `None` where the kernel does not tell.
    cpu: Option<CpuTime>,
    /// Background logins completed during the scenario, when it has them.
    side_work: Option<u64>,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.cpu = self.cpu.zip(other.cpu).map(|(mine, theirs)| mine + theirs);
        self.completed += other.completed;
        self.errors += other.errors;
        self.seconds += other.seconds;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.side_work = match (self.side_work, other.side_work) {
            (None, None) => None,
            (mine, theirs) => Some(mine.unwrap_or(0) + theirs.unwrap_or(0)),
        };
    }

    fn rate(&self) -> f64 {
        self.completed as f64 / self.seconds
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] as f64 / 1e6
    }
}

/// CPU seconds used by the threads doing the measured work (for HTTP, every thread but the
/// load generator's: the server's runtime, SQLite's connection threads, the blocking pool;
/// for CPU scenarios, their threads), by the load generator's, and by the whole process.
#[derive(Clone, Copy, Default)]
struct CpuTime {
    work: f64,
    load: f64,
    process: f64,
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            work: self.work + other.work,
            load: self.load + other.load,
            process: self.process + other.process,
        }
    }
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, other: CpuTime) -> CpuTime {
        CpuTime {
            work: self.work - other.work,
            load: self.load - other.load,
            process: self.process - other.process,
        }
    }
}

/// CPU time used so far by each of this process's threads (by thread id), from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU; absent without `CONFIG_SCHED_INFO`).
type ThreadTimes = BTreeMap<String, CpuTime>;

fn cpu_time() -> Option<ThreadTimes> {
    let mut threads = ThreadTimes::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        // A thread that ended between listing and reading is simply not counted.
        let (Ok(name), Ok(schedstat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        let seconds = schedstat.split_whitespace().next()?.parse::<f64>().ok()? / 1e9;
        let load = name.trim_end() == LOAD_THREAD;
        let time = CpuTime {
            work: if load { 0.0 } else { seconds },
            load: if load { seconds } else { 0.0 },
            process: seconds,
        };
        threads.insert(path.file_name()?.to_string_lossy().into_owned(), time);
    }
    Some(threads)
}

/// The CPU time used between two readings, thread by thread: a thread that exited meanwhile
/// (an idle blocking-pool thread, a closed connection's) takes its whole past with it, which
/// must not count as negative time.
fn cpu_between(before: Option<ThreadTimes>, after: Option<ThreadTimes>) -> Option<CpuTime> {
    let (before, after) = (before?, after?);
    let used = after.iter().map(|(thread, now)| match before.get(thread) {
        Some(then) => *now - *then,
        None => *now,
    });
    Some(used.fold(CpuTime::default(), |total, time| total + time))
}

/// Drives `scenario` over `connections` keep-alive connections (one task each, one request
/// in flight per connection) for `warmup` then `measure`; counts what completes in `measure`.
async fn load(
    server: SocketAddr,
    scenario: &Scenario,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> Stats {
    let start = Instant::now() + warmup;
    let end = start + measure;
    let host = HeaderValue::from_str(&server.to_string()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        match &scenario.load {
            Load::Requests(request) => {
                tasks.spawn(connection(server, request.clone(), start, end));
            }
            Load::Logins { pool, .. } => {
                let (host, pool) = (host.clone(), pool.clone());
                tasks.spawn(logins::log_in_in_turn(server, host, pool, start, end));
            }
        }
    }
    let logins = (scenario.logins_per_second > 0).then(|| {
        tokio::spawn(logins::log_in_admin_repeatedly(
            server,
            host.clone(),
            scenario.logins_per_second,
            start,
            end,
        ))
    });
    tokio::time::sleep_until(start.into()).await;
    let before = cpu_time();
    tokio::time::sleep_until(end.into()).await;
    let mut stats = Stats {
        seconds: measure.as_secs_f64(),
        cpu: cpu_between(before, cpu_time()),
        ..Stats::default()
    };
    if let Some(logins) = logins {
        let (done, failed) = logins.await.unwrap();
        stats.errors += failed;
        stats.side_work = Some(done);
    }
    while let Some(result) = tasks.join_next().await {
        let (latencies, errors) = result.unwrap();
        stats.completed += latencies.len() as u64;
        stats.latencies.extend(latencies);
        stats.errors += errors;
    }
    stats.latencies.sort_unstable();
    stats
}

/// One client connection: sends requests back to back until `end`, reconnecting after a
/// transport error. Returns the latencies (ns) of the 2xx responses that completed in
/// `[start, end)` and the number of failures (transport errors and non-2xx), warm-up included.
///
/// It speaks HTTP/1.1 itself, as wrk does: the request bytes are built in advance and only the
/// response head is parsed, so the generator takes as little as possible of the cores it
/// shares with the server.
async fn connection(
    server: SocketAddr,
    build: Arc<BuildRequest>,
    start: Instant,
    end: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut buffer = Vec::with_capacity(16 * 1024);
    while Instant::now() < end {
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.set_nodelay(true).unwrap();
        loop {
            let request = build();
            let sent = Instant::now();
            let outcome = round_trip(&mut stream, &request, &mut buffer).await;
            let done = Instant::now();
            if done >= end {
                break;
            }
            let in_window = done >= start;
            match outcome {
                Ok(status) if (200..300).contains(&status) => {
                    if in_window {
                        latencies.push(u64::try_from((done - sent).as_nanos()).unwrap());
                    }
                }
                Ok(_) => errors += 1,
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    (latencies, errors)
}

/// Writes `request` and reads one whole response (its body sized by `Content-Length`);
/// returns the status code.
async fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    buffer.clear();
    loop {
        if stream.read_buf(buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = response.parse(buffer).map_err(invalid_data)? else {
            continue;
        };
        let length = response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case("content-length"))
            .and_then(|header| {
                std::str::from_utf8(header.value)
                    .ok()?
                    .parse::<usize>()
                    .ok()
            })
            .ok_or_else(|| invalid_data("a response without Content-Length"))?;
        let status = response.code.unwrap_or(0);
        while buffer.len() < head + length {
            if stream.read_buf(buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        return Ok(status);
    }
}

fn invalid_data(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, error)
}

/// Runs `work` back to back on `threads` threads for `warmup` then `measure`.
fn on_threads(
    threads: usize,
    warmup: Duration,
    measure: Duration,
    work: &(dyn Fn() + Sync),
) -> Stats {
    let start = Instant::now() + warmup;
    let end = start + measure;
    // The threads run until the CPU time has been read: an exited thread's time is gone from
    // /proc/self/task.
    let stop = AtomicBool::new(false);
    let (per_thread, cpu): (Vec<Vec<u64>>, _) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        work();
                        let done = Instant::now();
                        if (start..end).contains(&done) {
                            latencies.push(u64::try_from((done - began).as_nanos()).unwrap());
                        }
                    }
                    latencies
                })
            })
            .collect();
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        let before = cpu_time();
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        let cpu = cpu_between(before, cpu_time());
        stop.store(true, Ordering::Relaxed);
        let latencies = handles.into_iter().map(|handle| handle.join().unwrap());
        (latencies.collect(), cpu)
    });
    let mut latencies: Vec<u64> = per_thread.into_iter().flatten().collect();
    latencies.sort_unstable();
    Stats {
        completed: latencies.len() as u64,
        errors: 0,
        seconds: measure.as_secs_f64(),
        latencies,
        // The server sits idle meanwhile: the process's time is the work's.
        cpu: cpu.map(|cpu| CpuTime {
            work: cpu.process,
            load: 0.0,
            process: cpu.process,
        }),
        side_work: None,
    }
}

struct Row {
    name: &'static str,
    limit: Option<&'static str>,
    target: Option<f64>,
    limit_per_op: u32,
    concurrency: usize,
    stats: Stats,
}

impl Row {
    fn new(name: &'static str, limit: Option<&'static str>, concurrency: usize) -> Row {
        Row {
            name,
            limit,
            target: None,
            limit_per_op: 1,
            concurrency,
            stats: Stats {
                cpu: Some(CpuTime::default()),
                ..Stats::default()
            },
        }
    }

    /// The row of this row's limit: same concurrency if there is one, else the first.
    fn limit<'a>(&self, rows: &'a [Row]) -> Option<&'a Row> {
        let name = self.limit?;
        let mut candidates = rows.iter().filter(|other| other.name == name);
        candidates
            .clone()
            .find(|other| other.concurrency == self.concurrency)
            .or_else(|| candidates.next())
    }

    /// CPU seconds of the working threads per operation: unlike the rate, it does not
    /// depend on how much CPU the load generator or other processes took.
    fn cpu_per_op(&self) -> Option<f64> {
        let cpu = self.stats.cpu?;
        (self.stats.completed > 0).then(|| cpu.work / self.stats.completed as f64)
    }
}

fn print_table(rows: &[Row], cores: usize) {
    println!();
    println!(
        "{:<18} {:>4} {:>8} {:>7} {:>7} {:>6} {:>9} {:>8} {:>8}  vs limit (same run)",
        "scenario",
        "conc",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "cpu us/op",
        "loadgen",
        "machine"
    );
    let percent = |share: f64| format!("{:.0} %", 100.0 * share);
    for row in rows {
        let stats = &row.stats;
        let cpu_per_op = row
            .cpu_per_op()
            .map_or_else(|| "-".into(), |seconds| format!("{:.1}", seconds * 1e6));
        let loadgen = stats.cpu.filter(|cpu| cpu.load > 0.0).map_or_else(
            || "-".into(),
            |cpu| percent(cpu.load / (cpu.work + cpu.load)),
        );
        let machine = stats.cpu.map_or_else(
            || "-".into(),
            |cpu| percent(cpu.process / (cores as f64 * stats.seconds)),
        );
        let versus = row
            .limit(rows)
            .map(|limit| {
                let per_op = f64::from(row.limit_per_op);
                let ratio = stats.rate() / (limit.stats.rate() / per_op);
                let name = match row.limit_per_op {
                    1 => limit.name.to_owned(),
                    count => format!("{}/{count}", limit.name),
                };
                let mut text =
                    format!("{ratio:.2} x {name} ({:.0}/s)", limit.stats.rate() / per_op);
                if let Some(target) = row.target {
                    let verdict = if ratio >= target { "met" } else { "MISSED" };
                    text.push_str(&format!(" target >= {target:.2}: {verdict}"));
                }
                if let (Some(mine), Some(theirs)) = (row.cpu_per_op(), limit.cpu_per_op()) {
                    text.push_str(&format!("; cpu us/op {:.2} x", mine / (theirs * per_op)));
                }
                if let Some(logins) = stats.side_work {
                    text.push_str(&format!(
                        "; beside {:.1} logins/s",
                        logins as f64 / stats.seconds
                    ));
                }
                text
            })
            .unwrap_or_default();
        println!(
            "{:<18} {:>4} {:>8.0} {:>7.3} {:>7.3} {:>6} {:>9} {:>8} {:>8}  {}",
            row.name,
            row.concurrency,
            stats.rate(),
            stats.percentile_ms(50.0),
            stats.percentile_ms(99.0),
            stats.errors,
            cpu_per_op,
            loadgen,
            machine,
            versus
        );
    }
    println!();
    println!(
        "conc: connections (HTTP), logins in flight (login_*, each on a fresh connection) or \
         threads (CPU).\n\
         cpu us/op: CPU time per request (per login) of every thread but the load generator's \
         (HTTP) or per operation (CPU); \
         unlike ops/s it does not depend on\n  how much CPU the load generator or other \
         processes took, so its ratio is the steadier one.\n\
         loadgen: the load generator's share of the CPU it and the server used.\n\
         machine: this process's share of all cores; well below 100 % means other processes \
         took CPU during the run."
    );
}

struct Settings {
    warmup: Duration,
    measure: Duration,
    rounds: u32,
    connections: Vec<usize>,
    scenarios: Option<Vec<String>>,
    /// Refresh tokens minted for `token_refresh`: one per request, warm-ups included.
    refresh_pool: usize,
    /// Users seeded for each login scenario; each TOTP user logs in at most once per 30 s
    /// step, so it must hold more than 30 s of logins.
    login_pool: usize,
    /// The PostgreSQL server to run on (`BENCH_DATABASE_URL`), in a database of the bench's own.
    postgres_server: Option<String>,
}

impl Settings {
    fn from_env(cores: usize) -> Settings {
        let seconds = |name: &str, default: f64| {
            let value = std::env::var(name).map_or(default, |text| {
                text.parse()
                    .unwrap_or_else(|_| panic!("{name} must be a number of seconds"))
            });
            Duration::from_secs_f64(value)
        };
        let list = |name: &str| {
            std::env::var(name).ok().map(|text| {
                text.split(',')
                    .map(|item| item.trim().to_owned())
                    .filter(|item| !item.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        let connections = list("BENCH_CONNECTIONS").map_or_else(
            || vec![32, 128],
            |items| {
                items
                    .iter()
                    .map(|item| {
                        item.parse()
                            .expect("BENCH_CONNECTIONS: numbers, comma-separated")
                    })
                    .collect()
            },
        );
        Settings {
            refresh_pool: std::env::var("BENCH_REFRESH_POOL").map_or(120_000, |text| {
                text.parse().expect("BENCH_REFRESH_POOL must be a count")
            }),
            // A core verifies ~70 passwords a second: 30 s of logins, with room to spare.
            login_pool: std::env::var("BENCH_LOGIN_POOL").map_or(3_000 * cores, |text| {
                text.parse().expect("BENCH_LOGIN_POOL must be a count")
            }),
            warmup: seconds("BENCH_WARMUP_SECONDS", 2.0),
            measure: seconds("BENCH_SECONDS", 8.0),
            rounds: std::env::var("BENCH_ROUNDS").map_or(4, |text| {
                text.parse()
                    .ok()
                    .filter(|&rounds| rounds > 0)
                    .expect("BENCH_ROUNDS: a positive number")
            }),
            connections,
            scenarios: list("BENCH_SCENARIOS"),
            postgres_server: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|url| !url.is_empty()),
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == scenario))
    }
}

fn runtime(thread_name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(thread_name)
        .enable_all()
        .build()
        .unwrap()
}
