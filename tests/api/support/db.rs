//! Shared test fixtures: a fresh database per test, on SQLite (a temp dir) or on
//! the real Postgres of `scripts/test` (a new database per test in the cluster
//! named by `TEST_DATABASE_URL`), so tests run in parallel without sharing state.

use mnemo::config::DatabaseTarget;
use mnemo::db::migrate::{self, MigrateParams};
use mnemo::db::{Alias, Db};
use rand::Rng;

/// A database for one test. Holds the temp dir (SQLite) so it lives as long as the test.
pub struct TestDb {
    pub db: Db,
    pub target: DatabaseTarget,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Four fresh SQLite files, not migrated.
    pub async fn sqlite_empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = DatabaseTarget::Sqlite {
            data_dir: dir.path().join("data"),
        };
        let db = Db::open(&target).await.expect("open sqlite");
        Self {
            db,
            target,
            _dir: Some(dir),
        }
    }

    /// A fresh Postgres database in the test cluster, not migrated.
    pub async fn postgres_empty() -> Self {
        let url = postgres_database().await;
        let target = DatabaseTarget::Postgres { url };
        let db = Db::open(&target).await.expect("open postgres");
        Self {
            db,
            target,
            _dir: None,
        }
    }

    /// A database the test opened itself (its own Postgres cluster, say).
    pub fn from_parts(db: Db, target: DatabaseTarget) -> Self {
        Self {
            db,
            target,
            _dir: None,
        }
    }

    pub async fn empty(backend: &str) -> Self {
        match backend {
            "sqlite" => Self::sqlite_empty().await,
            "postgres" => Self::postgres_empty().await,
            other => panic!("unknown backend {other}"),
        }
    }

    /// A fresh, fully migrated database.
    pub async fn migrated(backend: &str) -> Self {
        let t = Self::empty(backend).await;
        migrate::migrate(&t.db, &Alias::ALL, &MigrateParams::default(), None)
            .await
            .expect("migrate");
        t
    }

    /// A fresh database with every alias migrated but `alias`, which stops
    /// after the migration `last` (to write rows as an older version would).
    pub async fn migrated_until(backend: &str, alias: Alias, last: &str) -> Self {
        let t = Self::empty(backend).await;
        for a in Alias::ALL {
            let to = (a == alias).then_some(last);
            migrate::migrate(&t.db, &[a], &MigrateParams::default(), to)
                .await
                .expect("migrate");
        }
        t
    }

    /// The `mnemo` binary with `args`, on this database (and no other
    /// DATABASE_URL from the environment), logging warnings only.
    pub fn mnemo(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mnemo"));
        cmd.args(args)
            .env_remove("DATABASE_URL")
            .env("MNEMO_LOG", "warn");
        match &self.target {
            DatabaseTarget::Sqlite { data_dir } => cmd.env("MNEMO_DATA_DIR", data_dir),
            DatabaseTarget::Postgres { url } => cmd.env("DATABASE_URL", url),
        };
        cmd
    }
}

/// The URL of the test cluster. Postgres tests are part of the suite: without
/// a cluster they fail loudly instead of passing by skipping.
pub fn cluster_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("TEST_DATABASE_URL is not set: run scripts/test, which starts a pgvector Postgres")
    })
}

/// Create a new database in the test cluster and return its URL.
pub async fn postgres_database() -> String {
    let cluster = cluster_url();
    let name = format!("mnemo_test_{:016x}", rand::rng().random::<u64>());
    let admin = sqlx::PgPool::connect(&cluster)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let mut url = url::Url::parse(&cluster).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Generate one `#[tokio::test]` per backend from `async fn $name(backend: &str)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name("sqlite").await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name("postgres").await
                }
            }
        )*
    };
}

/// A memory store over `db` with the offline hash provider (1536-d).
pub async fn memory_store(db: &Db) -> mnemo::memory::MemoryStore {
    memory_store_with(
        db,
        std::sync::Arc::new(mnemo::embed::HashEmbedder::new(1536)),
    )
    .await
}

/// A memory store as a second process on the same database would have it:
/// its own connections, its own in-memory index and record cache.
pub async fn second_process(t: &TestDb) -> mnemo::memory::MemoryStore {
    memory_store(&Db::open(&t.target).await.expect("open")).await
}

/// A memory store over `db` with the given provider.
pub async fn memory_store_with(
    db: &Db,
    embedder: std::sync::Arc<dyn mnemo::embed::Embedder>,
) -> mnemo::memory::MemoryStore {
    let cached = std::sync::Arc::new(mnemo::embed::CachedEmbedder::new(embedder, 1000));
    mnemo::memory::MemoryStore::open(db.clone(), cached, mnemo::memory::MemorySettings::default())
        .await
        .expect("open memory store")
}

/// A random unit-free vector of `dim` values (deterministic per seed).
pub fn random_vector(seed: u64, dim: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}
