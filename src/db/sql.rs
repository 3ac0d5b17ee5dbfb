//! Small helpers shared by every repository.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::Backend;
use super::write_tx::{self, WriteTx};

/// What repositories need to know about a pool inside [`with_pool!`](crate::with_pool).
pub trait BackendPool {
    type Database: sqlx::Database;
    const BACKEND: Backend;

    /// Begin a write transaction. On SQLite: wait for this process's turn to
    /// write to the file (see [`write_tx`](super::write_tx)), then `BEGIN
    /// IMMEDIATE`, so the write lock is taken at once instead of failing when a
    /// read transaction tries to upgrade. On Postgres a plain `BEGIN`: row locks
    /// (`SELECT … FOR UPDATE`) and constraints do the work.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<WriteTx<Self::Database>, sqlx::Error>> + Send;

    /// The backend of this pool.
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    /// Pick the statement for this backend where the two dialects differ.
    fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match Self::BACKEND {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

impl BackendPool for SqlitePool {
    type Database = sqlx::Sqlite;
    const BACKEND: Backend = Backend::Sqlite;

    async fn begin_write(&self) -> Result<WriteTx<sqlx::Sqlite>, sqlx::Error> {
        let turn = write_tx::sqlite_turn(self).await;
        Ok(WriteTx::new(
            self.begin_with("BEGIN IMMEDIATE").await?,
            Some(turn),
        ))
    }
}

impl BackendPool for PgPool {
    type Database = sqlx::Postgres;
    const BACKEND: Backend = Backend::Postgres;

    async fn begin_write(&self) -> Result<WriteTx<sqlx::Postgres>, sqlx::Error> {
        Ok(WriteTx::new(self.begin().await?, None))
    }
}

/// True when `err` is a unique-constraint violation on either backend.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// Now, truncated to microseconds: Postgres keeps microseconds, so values read
/// back are identical on both backends.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
