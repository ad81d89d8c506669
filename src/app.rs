//! The server: connect and migrate the database, load keys, bootstrap, bind, serve until
//! told to stop, then let in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::bootstrap;
use crate::config::{Config, Issuer};
use crate::files::Files;
use crate::http;
use crate::keys::{KeyEncryptionKey, KeyRing};
use crate::mailer::{self, Transport};
use crate::maintenance;
use crate::metrics::Metrics;
use crate::passkey::RelyingParty;
use crate::password::Hasher;
use crate::state::{AppState, Documents, Parts};
use crate::store::{self, Store};
use crate::upstream;
use crate::webhooks::delivery::{self, Sender};

pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Everything up to accepting connections; errors say which step failed.
    pub async fn bind(config: Config) -> anyhow::Result<App> {
        let store = Store::connect(&config.database_url)
            .await
            .map_err(|error| {
                anyhow::anyhow!(store::describe_connect_error(&config.database_url, &error))
            })?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let issuer = match &config.issuer {
            Some(issuer) => issuer.clone(),
            None => Issuer::for_listener(listener.local_addr()?),
        };
        let kek = KeyEncryptionKey::load_for(
            &store,
            config.key_encryption_key.as_ref(),
            &config.keys_dir,
        )
        .await?;
        let files = Files::open(&config.files, issuer.as_str(), kek.files_key().clone())
            .map_err(|reason| anyhow::anyhow!("invalid TESSERA_FILES_URL: {reason}"))?;
        let keys = KeyRing::load(&store, kek, issuer.as_str(), config.signing_alg)
            .await
            .context("cannot load signing keys")?;
        let hasher = Hasher::new(config.password_hash_concurrency, config.password_hash_wait);
        bootstrap::first_start(&store, &hasher, &config, &issuer)
            .await
            .context("cannot create the first superadmin")?;
        let upstreams = upstream::Directory::new(config.webhook_block_private)
            .context("cannot build the HTTP client for identity providers")?;
        let state = AppState::new(Parts {
            files: Arc::new(files),
            upstreams: Arc::new(upstreams),
            documents: Arc::new(Documents::new(issuer.as_str())),
            passkeys: RelyingParty::for_issuer(&issuer).map(Arc::new),
            issuer: Arc::new(issuer),
            config: Arc::new(config),
            store,
            keys: Arc::new(keys),
            metrics: Arc::new(Metrics::new()),
            hasher,
            rotations: Arc::default(),
        });
        Ok(App { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; in-flight requests finish first.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let App { listener, state } = self;
        tracing::info!(
            address = %listener.local_addr()?,
            issuer = state.issuer.as_str(),
            "tessera is listening"
        );
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let keys = state.keys.clone();
        let store = state.store.clone();
        let refresher = tokio::spawn({
            let stopped = background_stopped.clone();
            async move { keys.keep_fresh(store, stopped).await }
        });
        let mailer = tokio::spawn(mailer::run(
            state.store.clone(),
            Transport::from_config(&state.config).map_err(std::io::Error::other)?,
            background_stopped.clone(),
        ));
        let sender = Sender::new(state.keys.clone(), state.config.webhook_block_private)
            .map_err(std::io::Error::other)?;
        let webhooks = tokio::spawn(delivery::run(
            state.store.clone(),
            sender,
            background_stopped.clone(),
        ));
        let metrics = state.metrics.clone();
        let upkeep = tokio::spawn({
            let stopped = background_stopped.clone();
            async move { metrics.keep_tidy(stopped).await }
        });
        let access_changes = tokio::spawn({
            let (store, stopped) = (state.store.clone(), background_stopped.clone());
            async move { store.follow_access_changes(stopped).await }
        });
        let sweeper = tokio::spawn(maintenance::run(state.store.clone(), background_stopped));

        let router = http::router(state.clone());
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop_background.send(true);
        let _ = tokio::join!(refresher, mailer, webhooks, sweeper, upkeep, access_changes);
        state.store.close().await;
        tracing::info!("tessera stopped");
        served
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
