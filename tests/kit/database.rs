//! A database of its own for one test or one bench run.

use tempfile::TempDir;
use tessera::store::Store;

/// A fresh database; dropped (PostgreSQL) or deleted (SQLite) with this value.
pub struct Database {
    pub url: String,
    /// The server's URL and the database's name, to drop it by.
    postgres: Option<(String, String)>,
    _dir: TempDir,
}

impl Database {
    /// A fresh database on the PostgreSQL server at `postgres_server` (a URL whose user may
    /// create databases), or, without one, a SQLite file in a temp dir.
    pub async fn fresh(postgres_server: Option<&str>) -> Database {
        let dir = tempfile::tempdir().expect("temp dir");
        let Some(server) = postgres_server else {
            let path = dir.path().join("tessera.db");
            return Database {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                postgres: None,
                _dir: dir,
            };
        };
        let name = format!(
            "tessera_test_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let admin = Store::connect(server)
            .await
            .expect("the PostgreSQL server is reachable");
        sqlx::query(&format!("create database {name}"))
            .execute(admin.pool())
            .await
            .expect("create the database");
        admin.close().await;
        let mut url = url::Url::parse(server).expect("the PostgreSQL server's URL");
        url.set_path(&name);
        Database {
            url: url.to_string(),
            postgres: Some((server.to_owned(), name)),
            _dir: dir,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A store on this database, migrated.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .expect("connect the database");
        store.migrate().await.expect("migrate the database");
        store
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any async context we can block on: use a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = Store::connect(&server).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(admin.pool())
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}
