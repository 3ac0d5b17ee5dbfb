//! The original game's databases, read-only: its SQLite files (one per Django
//! database: `ai_memory.db3`, `xrpl.db3`, `subscriptions.db3`, Evennia's
//! `evennia.db3`) or its one Postgres database. Tables are read in pages by id,
//! each value decoded by its [`ColType`] into the [`SqlValue`] mnemo binds,
//! whatever the backend stored: Django's SQLite writes naive UTC text for
//! datetimes, JSON as text and decimals under numeric affinity (an integer or
//! a float), its Postgres `timestamptz`, `jsonb`, `numeric` and pgvector.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Row};

use crate::db::SqlValue;
use crate::db::columns::{ColType, Column};

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

fn select(table: &str, columns: &[Column], expr: fn(&str, ColType) -> String) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .filter_map(|c| c.source.map(|s| expr(s, c.ty)))
        .collect();
    format!(
        "SELECT CAST(id AS BIGINT), {} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2",
        exprs.join(", ")
    )
}

fn sqlite_expr(column: &str, ty: ColType) -> String {
    match ty {
        ColType::Int | ColType::Ref(_) | ColType::Bool => format!("CAST({column} AS INTEGER)"),
        ColType::Float => format!("CAST({column} AS REAL)"),
        ColType::Text | ColType::Time | ColType::Json | ColType::Decimal(_) => {
            format!("CAST({column} AS TEXT)")
        }
        ColType::Vector => "embedding".into(),
    }
}

fn postgres_expr(column: &str, ty: ColType) -> String {
    match ty {
        ColType::Int | ColType::Ref(_) => format!("CAST({column} AS BIGINT)"),
        ColType::Float => format!("CAST({column} AS DOUBLE PRECISION)"),
        ColType::Bool => column.to_owned(),
        ColType::Time => format!("CAST({column} AS TIMESTAMPTZ)"),
        ColType::Text | ColType::Json | ColType::Decimal(_) => format!("CAST({column} AS TEXT)"),
        ColType::Vector => "embedding_vector, embedding".into(),
    }
}

/// A value as the driver handed it over, before [`ColType`] gives it meaning.
enum Raw {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Vector(Option<Vec<f32>>, Option<Vec<u8>>),
}

/// A driver's row, read value by value as a [`ColType`] needs.
trait RawRow: Row {
    /// The value of a column of `ty` starting at `at`; moves `at` past it.
    fn raw(&self, at: &mut usize, ty: ColType) -> Result<Raw, sqlx::Error>;
}

impl RawRow for SqliteRow {
    fn raw(&self, at: &mut usize, ty: ColType) -> Result<Raw, sqlx::Error> {
        let i = *at;
        *at += 1;
        Ok(match ty {
            ColType::Int | ColType::Ref(_) => Raw::Int(self.try_get(i)?),
            ColType::Bool => Raw::Bool(self.try_get::<Option<i64>, _>(i)?.map(|b| b != 0)),
            ColType::Float => Raw::Float(self.try_get(i)?),
            ColType::Text | ColType::Time | ColType::Json | ColType::Decimal(_) => {
                Raw::Text(self.try_get(i)?)
            }
            ColType::Vector => Raw::Vector(None, self.try_get(i)?),
        })
    }
}

impl RawRow for PgRow {
    fn raw(&self, at: &mut usize, ty: ColType) -> Result<Raw, sqlx::Error> {
        let i = *at;
        *at += 1;
        Ok(match ty {
            ColType::Int | ColType::Ref(_) => Raw::Int(self.try_get(i)?),
            ColType::Bool => Raw::Bool(self.try_get(i)?),
            ColType::Float => Raw::Float(self.try_get(i)?),
            ColType::Time => Raw::Time(self.try_get(i)?),
            ColType::Text | ColType::Json | ColType::Decimal(_) => Raw::Text(self.try_get(i)?),
            // Two columns: the pgvector value, and the blob where it is NULL.
            ColType::Vector => {
                *at += 1;
                let vector: Option<pgvector::Vector> = self.try_get(i)?;
                Raw::Vector(vector.map(|v| v.to_vec()), self.try_get(i + 1)?)
            }
        })
    }
}

/// A row read: the id, then each column that has a source.
fn decode<R: RawRow>(row: &R, columns: &[Column]) -> Result<SourceRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: i64 = row.try_get(0)?;
    let mut at = 1;
    let raws = columns
        .iter()
        .map(|c| c.source.map(|_| row.raw(&mut at, c.ty)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish(id, columns, raws))
}

fn finish(id: i64, columns: &[Column], raws: Vec<Option<Raw>>) -> SourceRow {
    let values = columns
        .iter()
        .zip(raws)
        .map(|(c, raw)| match raw {
            None => Ok(typed_null(c.ty)),
            Some(raw) => value(c.ty, raw).map_err(|e| format!("{}: {e}", c.target)),
        })
        .collect();
    SourceRow { id, values }
}

/// A NULL of the type a column of `ty` binds.
pub fn typed_null(ty: ColType) -> SqlValue {
    match ty {
        ColType::Int | ColType::Ref(_) => SqlValue::Int(None),
        ColType::Float => SqlValue::Float(None),
        ColType::Text => SqlValue::Text(None),
        ColType::Bool => SqlValue::Bool(false),
        ColType::Time => SqlValue::Time(None),
        ColType::Json => SqlValue::Json(serde_json::Value::Null),
        ColType::Decimal(_) => SqlValue::Decimal(None),
        ColType::Vector => SqlValue::Vector(None),
    }
}

fn value(ty: ColType, raw: Raw) -> Result<SqlValue, String> {
    Ok(match (ty, raw) {
        (_, Raw::Int(v)) => SqlValue::Int(v),
        (_, Raw::Float(v)) => SqlValue::Float(v),
        (_, Raw::Bool(v)) => SqlValue::Bool(v.ok_or("is NULL")?),
        (_, Raw::Time(v)) => SqlValue::Time(v),
        (ColType::Time, Raw::Text(v)) => SqlValue::Time(v.as_deref().map(parse_time).transpose()?),
        (ColType::Json, Raw::Text(v)) => match v {
            None => SqlValue::Json(serde_json::Value::Null),
            Some(t) => SqlValue::Json(
                serde_json::from_str(&t).map_err(|e| format!("{t:?} is not JSON: {e}"))?,
            ),
        },
        (ColType::Decimal(scale), Raw::Text(v)) => {
            SqlValue::Decimal(v.as_deref().map(|t| parse_decimal(t, scale)).transpose()?)
        }
        (_, Raw::Text(v)) => SqlValue::Text(v),
        (_, Raw::Vector(Some(v), _)) => SqlValue::Vector(Some(v)),
        (_, Raw::Vector(None, blob)) => {
            SqlValue::Vector(blob.as_deref().map(decode_f32_blob).transpose()?)
        }
    })
}

/// A datetime as Django stores it: naive UTC text on SQLite
/// (`2026-03-01 10:17:25.207359`), RFC 3339 elsewhere.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!("{text:?} is not a datetime"))
}

/// A decimal read back as text (`500000`, `495.604655`, `1.0e-05`: SQLite's
/// numeric affinity), rounded to `scale` places and written with exactly
/// that many, as mnemo stores decimals.
pub fn parse_decimal(text: &str, scale: u32) -> Result<String, String> {
    let text = text.trim();
    let mut value = Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| format!("{text:?} is not a decimal number"))?;
    value = value.round_dp(scale);
    Ok(crate::decimal::to_text(value, scale))
}

/// A blob of little-endian f32 values, of any length that is a whole number of them.
fn decode_f32_blob(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "a blob of {} bytes is not a whole number of little-endian f32 values",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_sqlite_datetimes_are_utc() {
        let expected = DateTime::parse_from_rfc3339("2026-03-01T10:17:25.207359Z").unwrap();
        for text in [
            "2026-03-01 10:17:25.207359",
            "2026-03-01T10:17:25.207359",
            "2026-03-01 10:17:25.207359+00:00",
            "2026-03-01T12:17:25.207359+02:00",
        ] {
            assert_eq!(parse_time(text).unwrap(), expected, "{text}");
        }
        assert_eq!(
            parse_time("2026-03-01 10:17:25").unwrap().to_rfc3339(),
            "2026-03-01T10:17:25+00:00"
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn decimals_of_numeric_affinity_get_their_scale() {
        assert_eq!(parse_decimal("500000", 6).unwrap(), "500000.000000");
        assert_eq!(parse_decimal("495.604655", 6).unwrap(), "495.604655");
        assert_eq!(
            parse_decimal("495.60465500000003", 6).unwrap(),
            "495.604655"
        );
        assert_eq!(parse_decimal("1.0e-05", 6).unwrap(), "0.000010");
        assert_eq!(parse_decimal("0", 2).unwrap(), "0.00");
        assert!(parse_decimal("ten", 2).is_err());
    }

    #[test]
    fn blobs_must_hold_whole_f32_values() {
        let blob: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(decode_f32_blob(&blob).unwrap(), vec![1.5, -2.0]);
        assert!(decode_f32_blob(&blob[..7]).unwrap_err().contains("7 bytes"));
    }
}
