//! Configuration: the only code that reads environment variables. Each setting comes from
//! its environment variable, else from the optional `tessera.toml`, else a default; it is
//! validated once, and a bad value names the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::Url;

use crate::client_ip::TrustedProxies;
use crate::oauth::signing_alg::SigningAlg;
use crate::upstream::IdentityProvider;

/// A setting's environment variable and its key in `tessera.toml`.
struct Setting {
    env: &'static str,
    file_key: &'static str,
}

const LISTEN: Setting = Setting {
    env: "TESSERA_LISTEN",
    file_key: "listen",
};
const ISSUER: Setting = Setting {
    env: "TESSERA_ISSUER",
    file_key: "issuer",
};
const DATABASE_URL: Setting = Setting {
    env: "DATABASE_URL",
    file_key: "database_url",
};
const KEYS_DIR: Setting = Setting {
    env: "TESSERA_KEYS_DIR",
    file_key: "keys_dir",
};
const KEY_ENCRYPTION_KEY: Setting = Setting {
    env: "TESSERA_KEY_ENCRYPTION_KEY",
    file_key: "key_encryption_key",
};
const SMTP_URL: Setting = Setting {
    env: "TESSERA_SMTP_URL",
    file_key: "smtp_url",
};
const ADMIN_EMAIL: Setting = Setting {
    env: "TESSERA_ADMIN_EMAIL",
    file_key: "admin_email",
};
const ADMIN_PASSWORD: Setting = Setting {
    env: "TESSERA_ADMIN_PASSWORD",
    file_key: "admin_password",
};
const SIGNUP: Setting = Setting {
    env: "TESSERA_SIGNUP",
    file_key: "signup",
};
const WEBHOOK_BLOCK_PRIVATE: Setting = Setting {
    env: "TESSERA_WEBHOOK_BLOCK_PRIVATE",
    file_key: "webhook_block_private",
};

const TRUSTED_PROXIES: Setting = Setting {
    env: "TESSERA_TRUSTED_PROXIES",
    file_key: "trusted_proxies",
};

const LOG_FORMAT: Setting = Setting {
    env: "TESSERA_LOG_FORMAT",
    file_key: "log_format",
};

const DNS_SERVERS: Setting = Setting {
    env: "TESSERA_DNS_SERVERS",
    file_key: "dns_servers",
};

const SIGNING_ALG: Setting = Setting {
    env: "TESSERA_SIGNING_ALG",
    file_key: "signing_alg",
};

const FILES_URL: Setting = Setting {
    env: "TESSERA_FILES_URL",
    file_key: "files_url",
};

const ALL: [&Setting; 15] = [
    &LISTEN,
    &ISSUER,
    &DATABASE_URL,
    &KEYS_DIR,
    &KEY_ENCRYPTION_KEY,
    &SMTP_URL,
    &ADMIN_EMAIL,
    &ADMIN_PASSWORD,
    &SIGNUP,
    &WEBHOOK_BLOCK_PRIVATE,
    &TRUSTED_PROXIES,
    &LOG_FORMAT,
    &DNS_SERVERS,
    &SIGNING_ALG,
    &FILES_URL,
];

/// Where the optional configuration file is looked for, unless `TESSERA_CONFIG` names one.
const DEFAULT_FILE: &str = "tessera.toml";

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` means `http://<bound address>`, known only once the listener is bound.
    pub issuer: Option<Issuer>,
    pub database_url: String,
    pub keys_dir: PathBuf,
    /// From `TESSERA_KEY_ENCRYPTION_KEY`; when absent the `kek` file in `keys_dir` is used.
    pub key_encryption_key: Option<[u8; 32]>,
    pub smtp_url: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub signup_enabled: bool,
    pub webhook_block_private: bool,
    /// Peers whose `X-Forwarded-For` names the client (`client_ip::resolve`).
    pub trusted_proxies: TrustedProxies,
    pub log_format: LogFormat,
    /// The DNS servers domain verification asks (`ip:port`); empty: the system's resolver
    /// configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// The algorithm of the server's own signing key (API.md §14): what every client that
    /// asks for none is signed with; a key of it is made on start when none is active.
    pub signing_alg: SigningAlg,
    /// Where accounts' files are kept (`TESSERA_FILES_URL`, default `file://files`).
    pub files: FilesLocation,
    /// The operator's OpenID providers users may sign in through (`[[identity_providers]]`
    /// in `tessera.toml` only: a list has no environment variable).
    pub identity_providers: Vec<IdentityProvider>,
    /// How many argon2 computations may run at once; not a setting, so that tests can
    /// change it (default: twice the cores).
    pub password_hash_concurrency: usize,
    /// How long a request waits for an argon2 slot before it is answered 503.
    pub password_hash_wait: Duration,
    /// How long presigned file URLs live; not a setting, so that tests can change it
    /// (default: 15 minutes, API.md §13).
    pub files_url_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: String, reason: String },
}

impl Config {
    /// Reads the process environment and the configuration file.
    pub fn load() -> Result<Config, ConfigError> {
        let explicit = std::env::var("TESSERA_CONFIG").ok();
        let path = explicit.clone().unwrap_or_else(|| DEFAULT_FILE.to_owned());
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(error) if explicit.is_none() && error.kind() == std::io::ErrorKind::NotFound => {
                None
            }
            Err(error) => {
                return Err(ConfigError::File {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        let (file, identity_providers) = match file {
            Some(text) => parse_file(&text).map_err(|reason| ConfigError::File { path, reason })?,
            None => (BTreeMap::new(), Vec::new()),
        };
        let mut config = Config::from_sources(|name| std::env::var(name).ok(), &file)?;
        config.identity_providers = identity_providers;
        Ok(config)
    }

    /// Builds the configuration from an environment lookup and the parsed file; the
    /// environment wins.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        file: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let get = |setting: &Setting| {
            env(setting.env)
                .or_else(|| file.get(setting.file_key).cloned())
                .filter(|value| !value.is_empty())
        };
        let invalid = |setting: &Setting, reason: &str| ConfigError::Invalid {
            setting: setting.env,
            reason: reason.to_owned(),
        };

        let listen = match get(&LISTEN) {
            Some(text) => text
                .parse()
                .map_err(|_| invalid(&LISTEN, "expected host:port, e.g. 127.0.0.1:8080"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let issuer = get(&ISSUER)
            .map(|text| Issuer::parse(&text).map_err(|reason| invalid(&ISSUER, reason)))
            .transpose()?;
        let database_url =
            get(&DATABASE_URL).unwrap_or_else(|| "sqlite://tessera.db?mode=rwc".to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(invalid(
                &DATABASE_URL,
                "expected sqlite://… or postgres://…",
            ));
        }
        let key_encryption_key = get(&KEY_ENCRYPTION_KEY)
            .map(|text| {
                STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| invalid(&KEY_ENCRYPTION_KEY, "expected base64 of 32 bytes"))
            })
            .transpose()?;
        let smtp_url = get(&SMTP_URL)
            .map(|text| match Url::parse(&text) {
                Ok(url) if ["smtp", "smtps"].contains(&url.scheme()) => Ok(text),
                _ => Err(invalid(&SMTP_URL, "expected smtp://… or smtps://…")),
            })
            .transpose()?;
        let admin_email = get(&ADMIN_EMAIL)
            .map(|text| {
                if crate::email_address::EmailAddress::parse(&text).is_some() {
                    Ok(text)
                } else {
                    Err(invalid(&ADMIN_EMAIL, "expected an email address"))
                }
            })
            .transpose()?;
        let admin_password = get(&ADMIN_PASSWORD)
            .map(|text| {
                if text.chars().count() >= crate::password::MIN_LENGTH {
                    Ok(text)
                } else {
                    Err(invalid(&ADMIN_PASSWORD, "must be at least 8 characters"))
                }
            })
            .transpose()?;
        let flag = |setting: &Setting, default: bool| match get(setting).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(invalid(setting, "expected true or false")),
        };

        Ok(Config {
            listen,
            issuer,
            database_url,
            keys_dir: PathBuf::from(get(&KEYS_DIR).unwrap_or_else(|| "keys".to_owned())),
            key_encryption_key,
            smtp_url,
            admin_email,
            admin_password,
            signup_enabled: flag(&SIGNUP, true)?,
            webhook_block_private: flag(&WEBHOOK_BLOCK_PRIVATE, true)?,
            trusted_proxies: get(&TRUSTED_PROXIES)
                .map(|text| {
                    TrustedProxies::parse(&text)
                        .map_err(|reason| invalid(&TRUSTED_PROXIES, &reason))
                })
                .transpose()?
                .unwrap_or_default(),
            signing_alg: match get(&SIGNING_ALG) {
                None => SigningAlg::default(),
                Some(text) => SigningAlg::parse(text.trim()).ok_or_else(|| {
                    invalid(&SIGNING_ALG, &format!("expected {}", SigningAlg::NAMES))
                })?,
            },
            log_format: match get(&LOG_FORMAT).as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(_) => return Err(invalid(&LOG_FORMAT, "expected text or json")),
            },
            dns_servers: get(&DNS_SERVERS)
                .map(|text| {
                    text.split(',')
                        .map(|server| server.trim().parse())
                        .collect::<Result<Vec<SocketAddr>, _>>()
                        .map_err(|_| {
                            invalid(
                                &DNS_SERVERS,
                                "expected ip:port[,ip:port…], e.g. 10.0.0.2:53",
                            )
                        })
                })
                .transpose()?
                .unwrap_or_default(),
            files: FilesLocation::parse(
                &get(&FILES_URL).unwrap_or_else(|| "file://files".to_owned()),
                &env,
            )
            .map_err(|reason| invalid(&FILES_URL, &reason))?,
            identity_providers: Vec::new(),
            password_hash_concurrency: crate::password::default_concurrency(),
            password_hash_wait: crate::password::DEFAULT_WAIT,
            files_url_ttl: Duration::from_secs(15 * 60),
        })
    }
}

/// Where accounts' files are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesLocation {
    /// A directory (`file://files` is `files` below the working directory, `file:///srv/files`
    /// an absolute one); Tessera serves its presigned URLs itself.
    Local(PathBuf),
    /// An S3 bucket (`s3://bucket?endpoint=…&region=…`); the store answers its presigned URLs.
    S3(S3Location),
}

/// An S3 (or S3-compatible) bucket and the credentials from the standard AWS variables.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// An S3-compatible server's URL; requests are path-style then.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl FilesLocation {
    /// `file://<dir>` or `s3://<bucket>?endpoint=…&region=…`; S3 credentials come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, the region
    /// otherwise from `AWS_REGION` (default `us-east-1`).
    fn parse(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<FilesLocation, String> {
        if let Some(dir) = text.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("file:// needs a directory, e.g. file://files".to_owned());
            }
            return Ok(FilesLocation::Local(PathBuf::from(dir)));
        }
        let expected = "expected file://<directory> or s3://<bucket>?endpoint=…&region=…";
        let url = Url::parse(text).map_err(|_| expected.to_owned())?;
        if url.scheme() != "s3" {
            return Err(expected.to_owned());
        }
        let bucket = url
            .host_str()
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| "s3:// needs a bucket name".to_owned())?
            .to_owned();
        let mut endpoint = None;
        let mut region = None;
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "endpoint" => {
                    Url::parse(&value)
                        .ok()
                        .filter(|url| ["http", "https"].contains(&url.scheme()))
                        .ok_or_else(|| "endpoint must be an http(s) URL".to_owned())?;
                    endpoint = Some(value.trim_end_matches('/').to_owned());
                }
                "region" => region = Some(value.into_owned()),
                other => return Err(format!("unknown parameter {other} (endpoint, region)")),
            }
        }
        let region = region
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        Ok(FilesLocation::S3(S3Location {
            bucket,
            endpoint,
            region,
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
        }))
    }
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The key of the `[[identity_providers]]` tables in `tessera.toml`.
const IDENTITY_PROVIDERS: &str = "identity_providers";

/// Parses `tessera.toml` into setting values and the operator's identity providers;
/// unknown keys are an error, not ignored.
fn parse_file(text: &str) -> Result<(BTreeMap<String, String>, Vec<IdentityProvider>), String> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| error.message().to_owned())?;
    let identity_providers = match table.remove(IDENTITY_PROVIDERS) {
        Some(value) => identity_providers(value)?,
        None => Vec::new(),
    };
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if !ALL.iter().any(|setting| setting.file_key == key) {
            return Err(format!("unknown setting `{key}`"));
        }
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Boolean(flag) => flag.to_string(),
            toml::Value::Integer(number) => number.to_string(),
            _ => {
                return Err(format!(
                    "setting `{key}` must be a string, number or boolean"
                ));
            }
        };
        values.insert(key, value);
    }
    Ok((values, identity_providers))
}

/// `[[identity_providers]]`: each one valid, ids unique.
fn identity_providers(value: toml::Value) -> Result<Vec<IdentityProvider>, String> {
    let providers: Vec<IdentityProvider> = value
        .try_into()
        .map_err(|error: toml::de::Error| format!("{IDENTITY_PROVIDERS}: {}", error.message()))?;
    for (index, provider) in providers.iter().enumerate() {
        provider
            .validate()
            .map_err(|reason| format!("{IDENTITY_PROVIDERS}: {reason}"))?;
        if providers[..index]
            .iter()
            .any(|other| other.id == provider.id)
        {
            return Err(format!(
                "{IDENTITY_PROVIDERS}: id `{}` is used twice",
                provider.id
            ));
        }
    }
    Ok(providers)
}

/// The issuer identifier: an absolute http(s) URL with no query, fragment or trailing `/`,
/// compared byte for byte with every `iss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(text: &str) -> Result<Issuer, &'static str> {
        let url = Url::parse(text).map_err(|_| "expected an absolute URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("expected an http or https URL");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials");
        }
        Ok(Issuer(text.trim_end_matches('/').to_owned()))
    }

    /// The default issuer of a server bound to `addr`.
    pub fn for_listener(addr: SocketAddr) -> Issuer {
        Issuer(format!("http://{addr}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path part (`""` or `/tessera`): routes are served below it.
    pub fn path(&self) -> &str {
        let after_scheme = self.0.split_once("://").map_or("", |(_, rest)| rest);
        after_scheme
            .find('/')
            .map_or("", |slash| &after_scheme[slash..])
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// An absolute URL on this server for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Config, ConfigError, Issuer, parse_file};

    fn config(env: &[(&str, &str)], file: &str) -> Result<Config, ConfigError> {
        let (file, _) = parse_file(file).unwrap();
        Config::from_sources(
            |name| {
                env.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            &file,
        )
    }

    #[test]
    fn defaults_apply_with_nothing_set() {
        let config = config(&[], "").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://tessera.db?mode=rwc");
        assert_eq!(config.keys_dir.to_str(), Some("keys"));
        assert!(config.issuer.is_none());
        assert!(config.signup_enabled);
        assert!(config.webhook_block_private);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.log_format, super::LogFormat::Text);
        assert!(config.dns_servers.is_empty());
        assert_eq!(config.files, super::FilesLocation::Local("files".into()));
        assert!(config.password_hash_concurrency >= 2);
    }

    #[test]
    fn trusted_proxies_are_a_cidr_list() {
        let config = config(&[], "trusted_proxies = \"10.0.0.0/8, ::1\"\n").unwrap();
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(config.trusted_proxies.contains("::1".parse().unwrap()));
        let error = config_error(&[("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8,nope")]);
        assert!(
            error.starts_with("invalid TESSERA_TRUSTED_PROXIES:") && !error.contains('\n'),
            "{error}"
        );
    }

    #[test]
    fn dns_servers_are_an_address_list() {
        let config = config(&[], "dns_servers = \"10.0.0.2:53, [::1]:5353\"\n").unwrap();
        let servers: Vec<String> = config.dns_servers.iter().map(ToString::to_string).collect();
        assert_eq!(servers, ["10.0.0.2:53", "[::1]:5353"]);
        let error = config_error(&[("TESSERA_DNS_SERVERS", "10.0.0.2")]);
        assert!(error.starts_with("invalid TESSERA_DNS_SERVERS:"), "{error}");
    }

    #[test]
    fn files_live_in_a_directory_or_a_bucket() {
        let local = config(&[], "files_url = \"file:///srv/files\"\n").unwrap();
        assert_eq!(
            local.files,
            super::FilesLocation::Local("/srv/files".into())
        );
        let bucket = config(
            &[
                (
                    "TESSERA_FILES_URL",
                    "s3://media?endpoint=http://127.0.0.1:9000/&region=eu-west-1",
                ),
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
            ],
            "",
        )
        .unwrap();
        let s3 = match bucket.files {
            super::FilesLocation::S3(s3) => s3,
            other => unreachable!("an S3 location, not {other:?}"),
        };
        assert_eq!(s3.bucket, "media");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "eu-west-1");
        assert_eq!(s3.access_key_id.as_deref(), Some("AKID"));
        assert!(!format!("{s3:?}").contains("secret"));
        for bad in [
            "ftp://x",
            "file://",
            "s3://",
            "s3://b?endpoint=nope",
            "s3://b?acl=x",
        ] {
            let error = config_error(&[("TESSERA_FILES_URL", bad)]);
            assert!(
                error.starts_with("invalid TESSERA_FILES_URL:"),
                "{bad}: {error}"
            );
        }
    }

    fn config_error(env: &[(&str, &str)]) -> String {
        config(env, "").unwrap_err().to_string()
    }

    #[test]
    fn environment_wins_over_the_file() {
        let config = config(
            &[("TESSERA_LISTEN", "0.0.0.0:9000")],
            "listen = \"127.0.0.1:1\"\nsignup = false\n",
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert!(!config.signup_enabled);
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let error = config(&[("TESSERA_LISTEN", "nowhere")], "").unwrap_err();
        assert!(
            error.to_string().starts_with("invalid TESSERA_LISTEN:"),
            "{error}"
        );
        let error = config(&[("TESSERA_KEY_ENCRYPTION_KEY", "c2hvcnQ=")], "").unwrap_err();
        assert!(
            error.to_string().contains("TESSERA_KEY_ENCRYPTION_KEY"),
            "{error}"
        );
        let error = config(&[("TESSERA_SIGNUP", "maybe")], "").unwrap_err();
        assert!(error.to_string().contains("TESSERA_SIGNUP"), "{error}");
        let error = config(&[("TESSERA_LOG_FORMAT", "xml")], "").unwrap_err();
        assert!(error.to_string().contains("TESSERA_LOG_FORMAT"), "{error}");
        let error = config(&[("DATABASE_URL", "mysql://x")], "").unwrap_err();
        assert!(error.to_string().contains("DATABASE_URL"), "{error}");
    }

    #[test]
    fn unknown_file_settings_are_rejected() {
        assert!(parse_file("lisen = \"x\"").is_err());
        assert_eq!(parse_file("").unwrap(), (BTreeMap::new(), Vec::new()));
    }

    #[test]
    fn identity_providers_are_tables_checked_at_start() {
        let provider = r#"
            [[identity_providers]]
            id = "corp"
            name = "Corp"
            issuer = "https://id.example.com"
            client_id = "tessera"
            client_secret = "s3cret"
        "#;
        let (values, providers) = parse_file(&format!("signup = false\n{provider}")).unwrap();
        assert_eq!(values["signup"], "false");
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].scopes, ["openid", "email", "profile"]);
        let twice = parse_file(&format!("{provider}{provider}")).unwrap_err();
        assert!(twice.contains("used twice"), "{twice}");
        let missing = parse_file("[[identity_providers]]\nid = \"corp\"").unwrap_err();
        assert!(missing.contains("identity_providers"), "{missing}");
    }

    #[test]
    fn issuers_lose_their_trailing_slash_and_keep_their_path() {
        let issuer = Issuer::parse("https://id.example.com/").unwrap();
        assert_eq!(issuer.as_str(), "https://id.example.com");
        assert_eq!(issuer.path(), "");
        let issuer = Issuer::parse("https://example.com/tessera/").unwrap();
        assert_eq!(issuer.as_str(), "https://example.com/tessera");
        assert_eq!(issuer.path(), "/tessera");
        assert!(Issuer::parse("ftp://example.com").is_err());
        assert!(Issuer::parse("https://example.com/?a=b").is_err());
    }
}
