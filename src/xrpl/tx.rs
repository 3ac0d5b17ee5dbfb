//! Write transactions on the xrpl database, whichever backend holds it.
//!
//! Every economy write is an `*_in` function over an open [`XrplTx`], so that
//! callers can put more than one thing in the same transaction: the public
//! functions run one operation in a transaction of its own ([`write`]), and
//! the idempotency layer runs an operation together with the record of its
//! key and response ([`write_once`](super::write_once)), so a retried request
//! can never apply twice or lose its answer.
//!
//! [`with_tx!`] is to a transaction what [`with_pool!`](crate::with_pool) is
//! to a pool: the body is compiled once per backend, and `p.pick(sqlite,
//! postgres)` chooses a statement where the dialects differ.

use sqlx::{Postgres, Sqlite};

use super::XrplError;
use crate::db::{Alias, Backend, BackendPool as _, Db, Pool, WriteTx};

/// An open write transaction on the xrpl database (on SQLite it holds this
/// process's turn to write to the file). Dropped without [`commit`](Self::commit),
/// it rolls back.
pub enum XrplTx {
    Sqlite(WriteTx<Sqlite>),
    Postgres(WriteTx<Postgres>),
}

/// Which SQL dialect a [`with_tx!`] body runs on.
#[derive(Debug, Clone, Copy)]
pub struct Dialect(Backend);

impl Dialect {
    pub const SQLITE: Dialect = Dialect(Backend::Sqlite);
    pub const POSTGRES: Dialect = Dialect(Backend::Postgres);

    /// The statement for this dialect, as [`BackendPool::pick`](crate::db::BackendPool::pick).
    pub fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.0 {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

/// The one savepoint name: operations never nest, so one level is all there is.
const SAVEPOINT: &str = "SAVEPOINT economy_operation";
const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT economy_operation";
const RELEASE_SAVEPOINT: &str = "RELEASE SAVEPOINT economy_operation";

impl XrplTx {
    /// Begin a write transaction on the xrpl database.
    pub async fn begin(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db.pool(Alias::Xrpl) {
            Pool::Sqlite(p) => XrplTx::Sqlite(p.begin_write().await?),
            Pool::Postgres(p) => XrplTx::Postgres(p.begin_write().await?),
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            XrplTx::Sqlite(tx) => tx.commit().await,
            XrplTx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Run a statement outside the prepared-statement cache (savepoints).
    async fn raw(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            XrplTx::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
            XrplTx::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
        }
    }

    /// Mark the point a refused operation rolls back to, keeping what came before.
    pub(crate) async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.raw(SAVEPOINT).await
    }

    /// Undo everything since [`savepoint`](Self::savepoint). On Postgres this
    /// also clears the failed state a refused statement (a unique violation)
    /// leaves the transaction in.
    pub(crate) async fn rollback_to_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.raw(ROLLBACK_TO_SAVEPOINT).await?;
        self.raw(RELEASE_SAVEPOINT).await
    }

    /// Keep everything since [`savepoint`](Self::savepoint).
    pub(crate) async fn release_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.raw(RELEASE_SAVEPOINT).await
    }
}

/// Run `op` in a write transaction of its own: committed when it succeeds,
/// rolled back (nothing written) when it fails.
pub async fn write<T>(
    db: &Db,
    op: impl AsyncFnOnce(&mut XrplTx) -> Result<T, XrplError>,
) -> Result<T, XrplError> {
    let mut tx = XrplTx::begin(db).await?;
    let out = op(&mut tx).await?;
    tx.commit().await?;
    Ok(out)
}

/// Run a body against the connection of an [`XrplTx`], compiled once per
/// backend: `with_tx!(tx, |p, conn| { ... })` binds `p` to the [`Dialect`]
/// and `conn` to `&mut` the backend's connection (`&mut *conn` is an
/// executor). A macro for the reason [`with_pool!`](crate::with_pool) is one:
/// sqlx's query types differ per backend.
macro_rules! with_tx {
    ($tx:expr, |$p:ident, $conn:ident| $body:expr) => {
        match $tx {
            $crate::xrpl::tx::XrplTx::Sqlite(inner) => {
                #[allow(unused_variables)]
                let $p = $crate::xrpl::tx::Dialect::SQLITE;
                let $conn: &mut sqlx::SqliteConnection = &mut **inner;
                $body
            }
            $crate::xrpl::tx::XrplTx::Postgres(inner) => {
                #[allow(unused_variables)]
                let $p = $crate::xrpl::tx::Dialect::POSTGRES;
                let $conn: &mut sqlx::PgConnection = &mut **inner;
                $body
            }
        }
    };
}

pub(crate) use with_tx;
