//! The original game's databases, read-only: its SQLite files (one per Django
//! database: `ai_memory.db3`, `xrpl.db3`, `subscriptions.db3`, Evennia's
//! `evennia.db3`) or its one Postgres database. Tables are read in pages by id,
//! each value decoded by its [`ColType`] into the [`SqlValue`] mnemo binds,
//! whatever the backend stored: Django's SQLite writes naive UTC text for
//! datetimes, JSON as text and decimals under numeric affinity (an integer or
//! a float), its Postgres `timestamptz`, `jsonb`, `numeric` and pgvector.

mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::db::SqlValue;
use crate::db::columns::Column;
use values::{decode, postgres_expr, select, sqlite_expr};
pub use values::{parse_decimal, parse_time};

/// The original's SQLite files, by the prefix of the tables each holds.
pub const SQLITE_FILES: [(&str, &str); 4] = [
    ("ai_memory_", "ai_memory.db3"),
    ("xrpl_", "xrpl.db3"),
    ("subscriptions_", "subscriptions.db3"),
    ("accounts_", "evennia.db3"),
];

/// A source that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Missing(String),
    #[error("cannot open {what}: {source}")]
    Open { what: String, source: sqlx::Error },
    #[error("reading {table} from the original failed: {source}")]
    Read { table: String, source: sqlx::Error },
}

/// One row read: its id and its values, or why a value could not be read
/// (naming the column).
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: i64,
    pub values: Result<Vec<SqlValue>, String>,
}

/// The original's databases.
pub enum Source {
    Sqlite {
        dir: PathBuf,
        /// Pools of the files present, by table prefix.
        files: HashMap<&'static str, SqlitePool>,
    },
    Postgres {
        pool: PgPool,
        description: String,
    },
}

impl Source {
    /// The SQLite files in `dir` (at least one must exist), opened read-only.
    pub async fn sqlite_dir(dir: &Path) -> Result<Self, SourceError> {
        let mut files = HashMap::new();
        for (prefix, file) in SQLITE_FILES {
            let path = dir.join(file);
            if !path.is_file() {
                continue;
            }
            let options = SqliteConnectOptions::new().filename(&path).read_only(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .map_err(|source| SourceError::Open {
                    what: path.display().to_string(),
                    source,
                })?;
            files.insert(prefix, pool);
        }
        if files.is_empty() {
            let names: Vec<&str> = SQLITE_FILES.iter().map(|(_, f)| *f).collect();
            return Err(SourceError::Missing(format!(
                "{} holds none of the original's SQLite files ({})",
                dir.display(),
                names.join(", ")
            )));
        }
        Ok(Self::Sqlite {
            dir: dir.to_owned(),
            files,
        })
    }

    /// The original's Postgres database (only read).
    pub async fn postgres(url: &str) -> Result<Self, SourceError> {
        let description = crate::config::redact_url(url);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .map_err(|source| SourceError::Open {
                what: description.clone(),
                source,
            })?;
        Ok(Self::Postgres { pool, description })
    }

    /// Where the source is, safe to print.
    pub fn describe(&self) -> String {
        match self {
            Source::Sqlite { dir, .. } => format!("the SQLite files in {}", dir.display()),
            Source::Postgres { description, .. } => format!("postgres ({description})"),
        }
    }

    fn sqlite_pool(files: &HashMap<&'static str, SqlitePool>, table: &str) -> Option<SqlitePool> {
        files
            .iter()
            .find(|(prefix, _)| table.starts_with(**prefix))
            .map(|(_, pool)| pool.clone())
    }

    /// Whether the source has `table` (a file may be absent; the original's
    /// later migrations dropped some tables).
    pub async fn has_table(&self, table: &str) -> Result<bool, SourceError> {
        let read = |source| SourceError::Read {
            table: table.to_owned(),
            source,
        };
        let found: Option<(i64,)> = match self {
            Source::Sqlite { files, .. } => {
                let Some(pool) = Self::sqlite_pool(files, table) else {
                    return Ok(false);
                };
                sqlx::query_as("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1")
                    .bind(table)
                    .fetch_optional(&pool)
                    .await
                    .map_err(read)?
            }
            Source::Postgres { pool, .. } => sqlx::query_as(
                "SELECT 1::BIGINT FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
            )
            .bind(table)
            .fetch_optional(pool)
            .await
            .map_err(read)?,
        };
        Ok(found.is_some())
    }

    /// A query returning one integer (`table` names the table for errors).
    async fn scalar(&self, table: &str, sqlite: &str, postgres: &str) -> Result<i64, SourceError> {
        let read = |source| SourceError::Read {
            table: table.to_owned(),
            source,
        };
        let (n,): (Option<i64>,) = match self {
            Source::Sqlite { files, .. } => {
                let pool = Self::sqlite_pool(files, table)
                    .ok_or_else(|| SourceError::Missing(format!("no SQLite file holds {table}")))?;
                sqlx::query_as(AssertSqlSafe(sqlite.to_owned()))
                    .fetch_one(&pool)
                    .await
                    .map_err(read)?
            }
            Source::Postgres { pool, .. } => sqlx::query_as(AssertSqlSafe(postgres.to_owned()))
                .fetch_one(pool)
                .await
                .map_err(read)?,
        };
        Ok(n.unwrap_or(0))
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> Result<i64, SourceError> {
        let sql = format!("SELECT CAST(count(*) AS BIGINT) FROM {table}");
        self.scalar(table, &sql, &sql).await
    }

    /// The dimensions of the vectors stored in a memory table, with a count
    /// each (rows without a vector left out).
    pub async fn vector_dimensions(&self, table: &str) -> Result<Vec<(i64, i64)>, SourceError> {
        let read = |source| SourceError::Read {
            table: table.to_owned(),
            source,
        };
        let sql = match self {
            Source::Sqlite { .. } => format!(
                "SELECT length(embedding) / 4, count(*) FROM {table} WHERE embedding IS NOT NULL GROUP BY 1"
            ),
            Source::Postgres { .. } => format!(
                "SELECT CAST(COALESCE(vector_dims(embedding_vector), length(embedding) / 4) AS BIGINT), count(*)
                 FROM {table} WHERE embedding_vector IS NOT NULL OR embedding IS NOT NULL GROUP BY 1"
            ),
        };
        let rows: Vec<(i64, i64)> = match self {
            Source::Sqlite { files, .. } => {
                let Some(pool) = Self::sqlite_pool(files, table) else {
                    return Ok(Vec::new());
                };
                sqlx::query_as(AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .map_err(read)?
            }
            Source::Postgres { pool, .. } => sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(read)?,
        };
        Ok(rows)
    }

    /// The distinct pairs of two text columns of `table` (NULLs left out).
    pub async fn text_pairs(
        &self,
        table: &str,
        a: &str,
        b: &str,
    ) -> Result<Vec<(String, String)>, SourceError> {
        let read = |source| SourceError::Read {
            table: table.to_owned(),
            source,
        };
        let sql = format!(
            "SELECT DISTINCT CAST({a} AS TEXT), CAST({b} AS TEXT) FROM {table} WHERE {a} IS NOT NULL AND {b} IS NOT NULL"
        );
        Ok(match self {
            Source::Sqlite { files, .. } => match Self::sqlite_pool(files, table) {
                None => Vec::new(),
                Some(pool) => sqlx::query_as(AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .map_err(read)?,
            },
            Source::Postgres { pool, .. } => sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(read)?,
        })
    }

    /// Up to `limit` rows of `table` with id above `after`, by id.
    pub async fn page(
        &self,
        table: &str,
        columns: &[Column],
        after: i64,
        limit: i64,
    ) -> Result<Vec<SourceRow>, SourceError> {
        let read = |source| SourceError::Read {
            table: table.to_owned(),
            source,
        };
        match self {
            Source::Sqlite { files, .. } => {
                let pool = Self::sqlite_pool(files, table)
                    .ok_or_else(|| SourceError::Missing(format!("no SQLite file holds {table}")))?;
                let sql = select(table, columns, sqlite_expr);
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&pool)
                    .await
                    .map_err(read)?;
                rows.iter()
                    .map(|r| decode(r, columns))
                    .collect::<Result<Vec<_>, _>>()
            }
            Source::Postgres { pool, .. } => {
                let sql = select(table, columns, postgres_expr);
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(read)?;
                rows.iter()
                    .map(|r| decode(r, columns))
                    .collect::<Result<Vec<_>, _>>()
            }
        }
        .map_err(read)
    }

    pub async fn close(&self) {
        match self {
            Source::Sqlite { files, .. } => {
                for pool in files.values() {
                    pool.close().await;
                }
            }
            Source::Postgres { pool, .. } => pool.close().await,
        }
    }
}
