//! DNS TXT lookups, for verifying that an account controls a domain (API.md §12): asked of
//! the servers `TESSERA_DNS_SERVERS` names, else of the system's resolver configuration.
//! Each lookup has its own resolver, so nothing is cached (a record just published counts at
//! once, a record just removed stops counting), and ends within [`TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// How long one lookup may take, every server and retry included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why no TXT strings came back.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no TXT record found at {0}")]
    NotFound(String),
    #[error("the DNS lookup of {name} failed: {reason}")]
    Failed { name: String, reason: String },
}

/// The TXT strings at `name` (a fully qualified name without its trailing dot), one per
/// record, its character-strings joined as RFC 7208 §3.3 reads them.
pub async fn txt(servers: &[SocketAddr], name: &str) -> Result<Vec<String>, LookupError> {
    let failed = |reason: String| LookupError::Failed {
        name: name.to_owned(),
        reason,
    };
    let resolver = resolver(servers).map_err(|error| failed(error.to_string()))?;
    // The trailing dot: never a search domain of the host appended.
    let lookup = match tokio::time::timeout(TIMEOUT, resolver.txt_lookup(format!("{name}."))).await
    {
        Err(_) => return Err(failed(format!("no answer within {}s", TIMEOUT.as_secs()))),
        Ok(Err(error)) if error.is_no_records_found() => {
            return Err(LookupError::NotFound(name.to_owned()));
        }
        Ok(Err(error)) => return Err(failed(error.to_string())),
        Ok(Ok(lookup)) => lookup,
    };
    let strings: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    if strings.is_empty() {
        return Err(LookupError::NotFound(name.to_owned()));
    }
    Ok(strings)
}

fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, NetError> {
    let mut builder = if servers.is_empty() {
        TokioResolver::builder_tokio()?
    } else {
        let name_servers = servers
            .iter()
            .map(|server| {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut connection| {
                        connection.port = server.port();
                        connection
                    })
                    .collect();
                NameServerConfig::new(server.ip(), true, connections)
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder.options_mut().timeout = TIMEOUT;
    builder.build()
}
