//! Prometheus metrics (`GET /metrics`, text format 0.0.4): HTTP requests by matched route
//! and status with a latency histogram, tokens issued by grant type, failed logins, and a
//! few process gauges. Recording touches only atomics behind a sharded map; the recorder
//! lives in `AppState` (no global), so each server, and each test, has its own.

use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

const HTTP_REQUESTS: &str = "tessera_http_requests_total";
const HTTP_DURATION: &str = "tessera_http_request_duration_seconds";
const TOKENS_ISSUED: &str = "tessera_tokens_issued_total";
const LOGIN_FAILURES: &str = "tessera_login_failures_total";

/// Why a login on the hosted pages was refused: the `reason` of `tessera_login_failures_total`.
#[derive(Clone, Copy, Debug)]
pub enum LoginFailure {
    /// A wrong email or password.
    Credentials,
    /// Over the email's or the IP's limit: nothing was checked.
    RateLimited,
    /// A wrong, reused or unknown code, or a refused passkey, at the second step.
    SecondFactor,
    /// A refused passkey at the password-less sign-in.
    Passkey,
}

impl LoginFailure {
    fn label(self) -> &'static str {
        match self {
            LoginFailure::Credentials => "credentials",
            LoginFailure::RateLimited => "rate_limited",
            LoginFailure::SecondFactor => "second_factor",
            LoginFailure::Passkey => "passkey",
        }
    }
}
const PROCESS_START: &str = "process_start_time_seconds";
const PROCESS_RSS: &str = "process_resident_memory_bytes";
const PROCESS_FDS: &str = "process_open_fds";
const PROCESS_CPU: &str = "process_cpu_seconds_total";

/// Latency buckets in seconds: from a JWKS hit (microseconds) to a slow argon2 login.
const DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new();
        let recorder = builder
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &DURATION_BUCKETS)
            .map_or_else(
                |_| PrometheusBuilder::new().build_recorder(),
                |builder| builder.build_recorder(),
            );
        let handle = recorder.handle();
        let metrics = Metrics { recorder, handle };
        metrics.describe_counter(
            HTTP_REQUESTS,
            None,
            "HTTP requests by matched route, method and status",
        );
        metrics.describe_histogram(
            HTTP_DURATION,
            Unit::Seconds,
            "HTTP request latency by matched route",
        );
        metrics.describe_counter(TOKENS_ISSUED, None, "Access tokens issued, by grant type");
        metrics.describe_counter(
            LOGIN_FAILURES,
            None,
            "Failed logins on the hosted login page, by reason",
        );
        metrics.describe_counter(PROCESS_CPU, Some(Unit::Seconds), "User and system CPU time");
        metrics.describe_gauge(
            PROCESS_START,
            Unit::Seconds,
            "Start time of the process, seconds since the epoch",
        );
        metrics.describe_gauge(PROCESS_RSS, Unit::Bytes, "Resident memory");
        metrics.describe_gauge(PROCESS_FDS, Unit::Count, "Open file descriptors");
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |elapsed| elapsed.as_secs_f64());
        metrics.gauge(PROCESS_START, Vec::new()).set(started);
        metrics
    }

    /// One answered request; `route` is the matched path template, not the raw URI.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let labels = vec![
            Label::new("route", route.to_owned()),
            Label::new("method", method.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(&Key::from_parts(HTTP_REQUESTS, labels), &METADATA)
            .increment(1);
        let labels = vec![Label::new("route", route.to_owned())];
        self.recorder
            .register_histogram(&Key::from_parts(HTTP_DURATION, labels), &METADATA)
            .record(seconds);
    }

    /// An access token issued, `grant_type` as on the wire (or `account_token` for the REST
    /// form of the token exchange).
    pub fn token_issued(&self, grant_type: &'static str) {
        let labels = vec![Label::from_static_parts("grant_type", grant_type)];
        self.recorder
            .register_counter(&Key::from_parts(TOKENS_ISSUED, labels), &METADATA)
            .increment(1);
    }

    /// A refused login, by why (the `reason` label).
    pub fn login_failed(&self, reason: LoginFailure) {
        let labels = vec![Label::from_static_parts("reason", reason.label())];
        self.recorder
            .register_counter(&Key::from_parts(LOGIN_FAILURES, labels), &METADATA)
            .increment(1);
    }

    /// The exposition, process gauges read now.
    pub fn render(&self) -> String {
        self.sample_process();
        self.handle.render()
    }

    /// Drains recorded histogram samples into their buckets every few seconds, so that
    /// memory stays bounded when nothing scrapes, until `shutdown` fires.
    pub async fn keep_tidy(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.handle.run_upkeep(),
                _ = shutdown.changed() => return,
            }
        }
    }

    fn sample_process(&self) {
        let Some(process) = ProcessSample::read() else {
            return;
        };
        self.gauge(PROCESS_RSS, Vec::new())
            .set(process.resident_bytes as f64);
        self.gauge(PROCESS_FDS, Vec::new())
            .set(process.open_fds as f64);
        self.recorder
            .register_counter(&Key::from_name(PROCESS_CPU), &METADATA)
            .absolute(process.cpu_ticks / CLOCK_TICKS_PER_SECOND);
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> metrics::Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    fn describe_counter(&self, name: &'static str, unit: Option<Unit>, text: &'static str) {
        self.recorder
            .describe_counter(name.into(), unit, SharedString::const_str(text));
    }

    fn describe_gauge(&self, name: &'static str, unit: Unit, text: &'static str) {
        self.recorder
            .describe_gauge(name.into(), Some(unit), SharedString::const_str(text));
    }

    fn describe_histogram(&self, name: &'static str, unit: Unit, text: &'static str) {
        self.recorder
            .describe_histogram(name.into(), Some(unit), SharedString::const_str(text));
    }
}

/// `USER_HZ`, the unit of CPU times in `/proc/self/stat`: 100 on every Linux ABI.
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// What `/proc/self` says about this process (Linux only; elsewhere nothing is sampled).
struct ProcessSample {
    resident_bytes: u64,
    open_fds: u64,
    cpu_ticks: u64,
}

impl ProcessSample {
    fn read() -> Option<ProcessSample> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let resident_kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
        let after_name = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(ProcessSample {
            resident_bytes: resident_kib * 1024,
            open_fds,
            cpu_ticks: utime + stime,
        })
    }
}
