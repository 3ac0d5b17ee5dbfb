//! Storage backends. `Db` hides whether the four aliases are SQLite files or one
//! Postgres database; repositories ask for the pool of their alias and write SQL
//! that runs on both (see [`with_pool!`](crate::with_pool)).

mod alias;
pub mod bulk;
pub mod columns;
mod exec;
pub mod introspect;
pub mod migrate;
mod sql;
mod statistics;
mod value;
mod wal_watch;
mod write_tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use alias::Alias;
pub use exec::{Dialect, FromBothRows, Tx};
pub use sql::{BackendPool, is_unique_violation, now_micros};
pub use statistics::{STALE_AFTER_ROWS, STALE_FRACTION, statistics_stale};
pub use value::{Args, SqlValue};
pub use wal_watch::{WalStamp, WalWatch};
pub use write_tx::WriteTx;

use crate::config::DatabaseTarget;

/// Which engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors opening the databases. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open {what}: {source}")]
    Connect { what: String, source: sqlx::Error },
}

/// A handle on the four logical databases. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

enum Inner {
    Sqlite {
        data_dir: PathBuf,
        pools: [SqlitePool; 4],
    },
    Postgres {
        pool: PgPool,
        description: String,
    },
}

/// The pool one alias resolves to.
#[derive(Clone, Copy)]
pub enum Pool<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// How the pools behave; [`Default`] suits commands, `mnemo serve` sets a
/// statement timeout too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSettings {
    /// Postgres: how long a request waits for a pooled connection (or a new one)
    /// before `503 database_unavailable`. With Postgres down every new connection
    /// is refused in milliseconds, but the pool keeps retrying until this runs out.
    pub acquire_timeout: Duration,
    /// Postgres: `statement_timeout` of every pooled connection, so a slow query
    /// cannot hold a pool slot long after its request timed out (`None`: none,
    /// for commands that build indexes or migrate large tables).
    pub statement_timeout: Option<Duration>,
    /// Postgres: connections in the pool.
    pub max_connections: u32,
}

impl Default for DbSettings {
    /// Two seconds: long enough to ride out a pool that is busy for a moment,
    /// short enough that an NPC is not left waiting on a database that is down
    /// (it was ten seconds per request).
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: None,
            max_connections: 16,
        }
    }
}

/// How long a writer waits for SQLite's lock before giving up. Long enough for a
/// CLI import running beside the server; far shorter than any request timeout.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite reads through a memory map of up to this many bytes of each file
/// (virtual address space, shared with the OS page cache) instead of a `pread`
/// and a copy per page: rows with 1536-d vectors are a page each, and a query
/// that reads thousands of them (an NPC's recent memories) spent over half its
/// time in those system calls. Writes still go through the WAL.
pub const SQLITE_MMAP_BYTES: u64 = 1 << 30;

impl Db {
    /// Open (and for SQLite create) the databases of `target`.
    pub async fn open(target: &DatabaseTarget) -> Result<Self, OpenError> {
        Self::open_with(target, &DbSettings::default()).await
    }

    /// [`open`](Self::open) with explicit pool settings.
    pub async fn open_with(
        target: &DatabaseTarget,
        settings: &DbSettings,
    ) -> Result<Self, OpenError> {
        match target {
            DatabaseTarget::Sqlite { data_dir } => Self::open_sqlite(data_dir).await,
            DatabaseTarget::Postgres { url } => Self::open_postgres(url, settings).await,
        }
    }

    async fn open_sqlite(data_dir: &Path) -> Result<Self, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let mut pools = Vec::with_capacity(4);
        for alias in Alias::ALL {
            let path = data_dir.join(alias.sqlite_file());
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous(alias))
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(|source| OpenError::Connect {
                    what: path.display().to_string(),
                    source,
                })?;
            pools.push(pool);
        }
        let pools: [SqlitePool; 4] = pools
            .try_into()
            .unwrap_or_else(|_| unreachable!("one pool per alias"));
        Ok(Self {
            inner: Arc::new(Inner::Sqlite {
                data_dir: data_dir.to_owned(),
                pools,
            }),
        })
    }

    /// Open a Postgres database with a pool as `settings` say.
    pub async fn open_postgres(url: &str, settings: &DbSettings) -> Result<Self, OpenError> {
        let description = crate::config::redact_url(url);
        let connect_error = |source| OpenError::Connect {
            what: description.clone(),
            source,
        };
        let mut options = PgConnectOptions::from_str(url).map_err(connect_error)?;
        if let Some(timeout) = settings.statement_timeout {
            options =
                options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Self {
            inner: Arc::new(Inner::Postgres { pool, description }),
        })
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The pool `alias` resolves to (the one Postgres pool for every alias).
    pub fn pool(&self, alias: Alias) -> Pool<'_> {
        match &*self.inner {
            Inner::Sqlite { pools, .. } => Pool::Sqlite(&pools[alias.index()]),
            Inner::Postgres { pool, .. } => Pool::Postgres(pool),
        }
    }

    /// Backend and location, safe to print.
    pub fn describe(&self) -> String {
        match &*self.inner {
            Inner::Sqlite { data_dir, .. } => {
                format!("sqlite (data directory {})", data_dir.display())
            }
            Inner::Postgres { description, .. } => format!("postgres ({description})"),
        }
    }

    /// Close every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Sqlite { pools, .. } => {
                for pool in pools {
                    pool.close().await;
                }
            }
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }
}

/// How hard SQLite syncs each commit to disk. In WAL mode `NORMAL` survives a
/// crash of the process but a power loss may drop the last commits; `FULL`
/// syncs every commit. Accounts and tokens, payments and the economy's balances
/// are few writes that must never be lost once acknowledged: `FULL`. Memories
/// are many small writes (a sync each would cost about a millisecond on an SSD)
/// whose loss on a power cut is a forgotten line of dialogue: `NORMAL`.
fn synchronous(alias: Alias) -> SqliteSynchronous {
    match alias {
        Alias::AiMemory => SqliteSynchronous::Normal,
        Alias::Default | Alias::Xrpl | Alias::Subscriptions => SqliteSynchronous::Full,
    }
}

/// Run the same code against whichever pool an alias resolves to. The body is
/// compiled once per backend, so `sqlx::query(..).fetch_all(pool)` type-checks for
/// both engines: SQL must therefore be valid on both (`$1` placeholders are).
///
/// The service's code runs its SQL through [`Pool`]'s and [`Tx`]'s methods with
/// [`Args`] instead (ordinary functions); this stays for a test's one-off
/// statement on a backend's own connection.
#[macro_export]
macro_rules! with_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => {
                #[allow(unused_imports)]
                use $crate::db::BackendPool as _;
                $body
            }
            $crate::db::Pool::Postgres($p) => {
                #[allow(unused_imports)]
                use $crate::db::BackendPool as _;
                $body
            }
        }
    };
}
