//! The providers' metadata (OpenID Connect Discovery 1.0) and signing keys, fetched over
//! HTTP and kept in memory for a while: a login needs them twice (its start and its
//! callback) and several logins share them. A key the cache does not know makes it fetch
//! the JWKS again (the provider rotated), at most every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use oauth2::http;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{RelyingParty, UpstreamError};
use crate::webhooks::address::{self, PublicOnly};

/// A provider has this long to answer each request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Metadata and keys are used this long before they are fetched again.
const CACHE_SECONDS: Duration = Duration::from_secs(10 * 60);
/// An unknown key id fetches the keys again, but not more often than this.
const MIN_REFRESH: Duration = Duration::from_secs(5);
/// No answer of a provider is read past this many bytes.
const MAX_BODY_BYTES: usize = 512 * 1024;

/// What this server uses of a provider's metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Metadata {
    /// `client_secret_post` only when the provider offers it and not `client_secret_basic`
    /// (whose default the absence of the list means, OIDC Discovery §3).
    pub fn secret_in_body(&self) -> bool {
        self.token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|methods| {
                !methods.iter().any(|method| method == "client_secret_basic")
                    && methods.iter().any(|method| method == "client_secret_post")
            })
    }
}

/// A provider's metadata and keys as fetched at one moment.
#[derive(Debug)]
pub struct Discovered {
    pub metadata: Metadata,
    pub keys: JwkSet,
    fetched: Instant,
}

/// Fetches and remembers providers' metadata and keys. Requests for an account's provider
/// (`RelyingParty::guarded`) go through a client that connects to public addresses only when
/// the server blocks private ones (the webhook rule: an account admin chose the URL).
pub struct Directory {
    open: reqwest::Client,
    guarded: reqwest::Client,
    block_private: bool,
    cache: Mutex<HashMap<(String, bool), Arc<Discovered>>>,
}

impl Directory {
    pub fn new(block_private: bool) -> Result<Directory, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(REQUEST_TIMEOUT)
                // Token endpoints must not redirect (RFC 6749 §3.2 carries credentials);
                // metadata and keys are where the issuer says.
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION")))
        };
        let mut guarded = builder();
        if block_private {
            guarded = guarded.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Directory {
            open: builder().build()?,
            guarded: guarded.build()?,
            block_private,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The provider's metadata and keys, from the cache while fresh.
    pub async fn discover(
        &self,
        party: &RelyingParty<'_>,
    ) -> Result<Arc<Discovered>, UpstreamError> {
        let key = (party.issuer.to_owned(), party.guarded);
        if let Some(cached) = self.cached(&key)
            && cached.fetched.elapsed() < CACHE_SECONDS
        {
            return Ok(cached);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            party.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.get_json(&url, party.guarded).await?;
        // OpenID Connect Discovery §4.3: the metadata is the issuer's only if it says so,
        // exactly.
        if metadata.issuer != party.issuer {
            return Err(UpstreamError::Invalid(format!(
                "metadata issuer {:?} is not the configured {:?}",
                metadata.issuer, party.issuer
            )));
        }
        for endpoint in [
            &metadata.authorization_endpoint,
            &metadata.token_endpoint,
            &metadata.jwks_uri,
        ] {
            web_url(endpoint)?;
        }
        let keys = self.get_json(&metadata.jwks_uri, party.guarded).await?;
        Ok(self.remember(key, metadata, keys))
    }

    /// The keys again, when an ID token names a key `known` lacks; `known` itself when it
    /// was fetched moments ago.
    pub async fn refresh_keys(
        &self,
        party: &RelyingParty<'_>,
        known: Arc<Discovered>,
    ) -> Result<Arc<Discovered>, UpstreamError> {
        if known.fetched.elapsed() < MIN_REFRESH {
            return Ok(known);
        }
        let keys = self
            .get_json(&known.metadata.jwks_uri, party.guarded)
            .await?;
        let key = (party.issuer.to_owned(), party.guarded);
        Ok(self.remember(key, known.metadata.clone(), keys))
    }

    fn cached(&self, key: &(String, bool)) -> Option<Arc<Discovered>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(key).cloned()
    }

    fn remember(&self, key: (String, bool), metadata: Metadata, keys: JwkSet) -> Arc<Discovered> {
        let discovered = Arc::new(Discovered {
            metadata,
            keys,
            fetched: Instant::now(),
        });
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(key, discovered.clone());
        discovered
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        guarded: bool,
    ) -> Result<T, UpstreamError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|error| UpstreamError::Invalid(format!("{url}: {error}")))?;
        let response = self.send(request, guarded).await?;
        if !response.status().is_success() {
            return Err(UpstreamError::Unreachable(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body())
            .map_err(|error| UpstreamError::Invalid(format!("{url}: {error}")))
    }

    /// Sends one request to a provider (the `oauth2` crate's token request too), reading at
    /// most `MAX_BODY_BYTES` of the answer.
    pub(super) async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        guarded: bool,
    ) -> Result<http::Response<Vec<u8>>, UpstreamError> {
        let url = web_url(&request.uri().to_string())?;
        let client = if guarded { &self.guarded } else { &self.open };
        if guarded
            && self.block_private
            && address::literal_ip(&url).is_some_and(|ip| !address::is_public(ip))
        {
            return Err(UpstreamError::Invalid(format!(
                "{url} is not a public address"
            )));
        }
        let (parts, body) = request.into_parts();
        let mut response = client
            .request(parts.method, url.clone())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|error| UpstreamError::Unreachable(format!("{url}: {error}")))?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| UpstreamError::Unreachable(format!("{url}: {error}")))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(UpstreamError::Invalid(format!(
                    "{url} answered more than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|error| UpstreamError::Invalid(format!("{url}: {error}")))
    }
}

/// An absolute http(s) URL.
fn web_url(text: &str) -> Result<Url, UpstreamError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(UpstreamError::Invalid(format!(
            "{text:?} is not an http(s) URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(methods: Option<&[&str]>) -> Metadata {
        Metadata {
            issuer: "https://id.example.com".into(),
            authorization_endpoint: "https://id.example.com/authorize".into(),
            token_endpoint: "https://id.example.com/token".into(),
            jwks_uri: "https://id.example.com/jwks".into(),
            token_endpoint_auth_methods_supported: methods
                .map(|methods| methods.iter().map(|method| (*method).to_owned()).collect()),
        }
    }

    #[test]
    fn the_secret_goes_in_the_body_only_when_basic_is_not_offered() {
        assert!(!metadata(None).secret_in_body());
        assert!(!metadata(Some(&["client_secret_basic", "client_secret_post"])).secret_in_body());
        assert!(metadata(Some(&["client_secret_post"])).secret_in_body());
        assert!(!metadata(Some(&["private_key_jwt"])).secret_in_body());
    }
}
