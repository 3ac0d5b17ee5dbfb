//! Statements run as ordinary functions on whichever backend a pool is: SQL
//! text valid on both, arguments as [`Args`], rows decoded into any type that
//! reads from both backends' rows ([`FromBothRows`]). Where the text itself
//! differs, [`Dialect`] says how.
//!
//! Row locks: a statement that reads a row it is about to change ends with
//! [`Dialect::for_update`], a `FOR UPDATE` on Postgres; SQLite needs none, as
//! a write transaction ([`Pool::begin`]) holds the file's write lock from its
//! first statement.
//!
//! [`with_pool!`](crate::with_pool) compiles a body once per backend and stays
//! for code that needs a backend's own types; generic code uses these.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, FromRow, Postgres, Sqlite};

use super::value::{Args, SqlValue};
use super::{Backend, BackendPool as _, Pool, WriteTx};

/// A row type both backends can decode.
pub trait FromBothRows:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> FromBothRows for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Where SQL text differs between the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect(pub Backend);

impl Dialect {
    /// The columns a memory's vector is written to, with their values: an f32
    /// blob on SQLite (whose first pass codes it in memory); on Postgres the
    /// pgvector column and the vector's sign bits (`vector::sign_bits`), which
    /// the first pass ranks by in an index. `None` clears both.
    pub fn vector_values(self, vector: Option<Vec<f32>>) -> Vec<(&'static str, SqlValue)> {
        match self.0 {
            Backend::Sqlite => vec![("embedding", SqlValue::Vector(vector))],
            Backend::Postgres => {
                let signs = vector.as_deref().map(crate::vector::sign_bits);
                vec![
                    ("embedding_vector", SqlValue::Vector(vector)),
                    ("embedding_signs", SqlValue::Bits(signs)),
                ]
            }
        }
    }

    /// `column` is one of the ids bound as `param` (a [`SqlValue::Ints`](super::SqlValue::Ints)).
    pub fn in_list(self, column: &str, param: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({param}))"),
            Backend::Postgres => format!("{column} = ANY({param})"),
        }
    }

    /// The JSON list in `column` holds only strings of the list bound as `param`.
    pub fn json_subset(self, column: &str, param: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "NOT EXISTS (SELECT 1 FROM json_each({column}) t WHERE t.value NOT IN (SELECT value FROM json_each({param})))"
            ),
            Backend::Postgres => format!("{column} <@ {param}"),
        }
    }

    /// What ends a `SELECT` of rows the transaction is about to change: `FOR
    /// UPDATE` on Postgres, so a concurrent writer of the same rows waits for
    /// the commit instead of reading a value about to go stale; nothing on
    /// SQLite, whose write transactions already hold the file's write lock.
    pub fn for_update(self) -> &'static str {
        self.pick("", " FOR UPDATE")
    }

    /// A decimal bound as its canonical text in `param`, written to a decimal
    /// column: a cast to `NUMERIC` on Postgres (a text parameter does not
    /// convert by itself); as it is on SQLite, whose decimal columns are
    /// checked `TEXT` (a cast there would go through a float).
    pub fn numeric(self, param: &str) -> String {
        match self.0 {
            Backend::Sqlite => param.to_owned(),
            Backend::Postgres => format!("CAST({param} AS NUMERIC)"),
        }
    }

    /// The SQL for a bound `value` whose placeholder is `param`: the
    /// placeholder itself, but [`numeric`](Self::numeric) for a decimal.
    pub fn param(self, value: &SqlValue, param: String) -> String {
        match value {
            SqlValue::Decimal(_) => self.numeric(&param),
            _ => param,
        }
    }

    /// `a` equals `b`, NULL equal to NULL.
    pub fn null_safe_eq(self, a: &str, b: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("{a} IS {b}"),
            Backend::Postgres => format!("{a} IS NOT DISTINCT FROM {b}"),
        }
    }

    /// `sqlite` on SQLite, `postgres` on Postgres.
    pub fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.0 {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

impl Pool<'_> {
    pub fn dialect(self) -> Dialect {
        Dialect(match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        })
    }

    pub async fn fetch_all<T: FromBothRows>(
        self,
        sql: &str,
        args: Args,
    ) -> Result<Vec<T>, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Pool::Sqlite(p) => sqlx::query_as_with(sql, args.sqlite()?).fetch_all(p).await,
            Pool::Postgres(p) => {
                sqlx::query_as_with(sql, args.postgres()?)
                    .fetch_all(p)
                    .await
            }
        }
    }

    pub async fn fetch_optional<T: FromBothRows>(
        self,
        sql: &str,
        args: Args,
    ) -> Result<Option<T>, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Pool::Sqlite(p) => {
                sqlx::query_as_with(sql, args.sqlite()?)
                    .fetch_optional(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_as_with(sql, args.postgres()?)
                    .fetch_optional(p)
                    .await
            }
        }
    }

    pub async fn fetch_one<T: FromBothRows>(self, sql: &str, args: Args) -> Result<T, sqlx::Error> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Run a statement; returns the rows it affected.
    pub async fn execute(self, sql: &str, args: Args) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Pool::Sqlite(p) => sqlx::query_with(sql, args.sqlite()?)
                .execute(p)
                .await?
                .rows_affected(),
            Pool::Postgres(p) => sqlx::query_with(sql, args.postgres()?)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }

    /// A write transaction (see [`BackendPool::begin_write`](super::BackendPool::begin_write)).
    pub async fn begin(self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_write().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin_write().await?),
        })
    }

    /// A read-only transaction in which every statement sees one snapshot of
    /// the database, for reads that must agree with each other while writers
    /// carry on (an audit). It waits for no writer and no writer waits for
    /// it: on SQLite a deferred `BEGIN` (a read transaction, a snapshot from
    /// its first read; the write gate is not taken), on Postgres `REPEATABLE
    /// READ READ ONLY` (the default, `READ COMMITTED`, takes a new snapshot
    /// per statement). Run reads only in it.
    pub async fn begin_snapshot(self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(WriteTx::new(p.begin().await?, None)),
            Pool::Postgres(p) => {
                let mut tx = Tx::Postgres(WriteTx::new(p.begin().await?, None));
                tx.raw("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                tx
            }
        })
    }
}

/// A transaction on either backend, rolled back when dropped uncommitted:
/// a write transaction ([`Pool::begin`]) or a read snapshot
/// ([`Pool::begin_snapshot`]).
pub enum Tx {
    Sqlite(WriteTx<Sqlite>),
    Postgres(WriteTx<Postgres>),
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        Dialect(match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        })
    }

    pub async fn fetch_all<T: FromBothRows>(
        &mut self,
        sql: &str,
        args: Args,
    ) -> Result<Vec<T>, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Tx::Sqlite(tx) => {
                sqlx::query_as_with(sql, args.sqlite()?)
                    .fetch_all(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                sqlx::query_as_with(sql, args.postgres()?)
                    .fetch_all(&mut **tx)
                    .await
            }
        }
    }

    pub async fn fetch_optional<T: FromBothRows>(
        &mut self,
        sql: &str,
        args: Args,
    ) -> Result<Option<T>, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Tx::Sqlite(tx) => {
                sqlx::query_as_with(sql, args.sqlite()?)
                    .fetch_optional(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                sqlx::query_as_with(sql, args.postgres()?)
                    .fetch_optional(&mut **tx)
                    .await
            }
        }
    }

    pub async fn fetch_one<T: FromBothRows>(
        &mut self,
        sql: &str,
        args: Args,
    ) -> Result<T, sqlx::Error> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Run a statement; returns the rows it affected.
    pub async fn execute(&mut self, sql: &str, args: Args) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Tx::Sqlite(tx) => sqlx::query_with(sql, args.sqlite()?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => sqlx::query_with(sql, args.postgres()?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Run a statement without arguments outside the prepared-statement
    /// cache: for statements that are not queries, such as savepoints and
    /// `SET TRANSACTION`, which gain nothing from being prepared.
    pub async fn raw(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Tx::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
            Tx::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
        }
    }

    /// Mark a point that the work after it can be undone to
    /// ([`rollback_to_savepoint`](Self::rollback_to_savepoint)) without
    /// undoing what came before, or kept ([`release_savepoint`](Self::release_savepoint)).
    /// `name` is an SQL identifier written in the code, never input.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<(), sqlx::Error> {
        self.raw(&format!("SAVEPOINT {name}")).await
    }

    /// Undo everything since [`savepoint`](Self::savepoint) `name` and forget
    /// it; what came before it stays. On Postgres this also clears the failed
    /// state a refused statement (a unique violation) leaves the transaction
    /// in, so it can go on and commit.
    pub async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<(), sqlx::Error> {
        self.raw(&format!("ROLLBACK TO SAVEPOINT {name}")).await?;
        self.release_savepoint(name).await
    }

    /// Keep everything since [`savepoint`](Self::savepoint) `name` and forget it.
    pub async fn release_savepoint(&mut self, name: &'static str) -> Result<(), sqlx::Error> {
        self.raw(&format!("RELEASE SAVEPOINT {name}")).await
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}
