//! A deployment (database, keys, configuration) and the real server running on it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tempfile::TempDir;
use tessera::App;
use tessera::config::Config;
use tessera::state::AppState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Database;

/// The bootstrap superadmin every deployment starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A database and the key material shared by the instances of one deployment.
pub struct Deployment {
    pub database: Database,
    pub keys_dir: TempDir,
    pub key_encryption_key: [u8; 32],
    /// The local file store's directory.
    pub files_dir: TempDir,
}

impl Deployment {
    /// A deployment on a fresh database: see [`Database::fresh`].
    pub async fn fresh(postgres_server: Option<&str>) -> Deployment {
        Deployment {
            database: Database::fresh(postgres_server).await,
            keys_dir: tempfile::tempdir().expect("keys dir"),
            key_encryption_key: rand::random(),
            files_dir: tempfile::tempdir().expect("files dir"),
        }
    }

    /// The configuration an instance of this deployment starts with: defaults, on
    /// 127.0.0.1:0, with the bootstrap superadmin.
    pub fn config(&self) -> Config {
        let mut config = Config::from_sources(|_| None, &BTreeMap::new()).expect("default config");
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.database_url = self.database.url.clone();
        config.keys_dir = self.keys_dir.path().to_path_buf();
        config.files = tessera::config::FilesLocation::Local(self.files_dir.path().to_path_buf());
        config.key_encryption_key = Some(self.key_encryption_key);
        config.admin_email = Some(ADMIN_EMAIL.into());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        config
    }
}

/// The real server, running in-process on the runtime that started it; told to stop when
/// dropped.
pub struct Server {
    pub address: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start(config: Config) -> Server {
        let app = App::bind(config).await.expect("server starts");
        let address = app.local_addr().expect("bound");
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Server {
            address,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
