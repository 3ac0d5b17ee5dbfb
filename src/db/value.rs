//! A value bound to a statement, whichever backend runs it.
//!
//! SQL that runs on both backends (`$n` placeholders, the same table names) is
//! ordinary text; what differs is how a value travels. [`SqlValue`] is one
//! enum with one encoding per backend, so generic code builds its arguments
//! once ([`Args`]) and the pool it runs on picks the encoding (see
//! [`Pool::fetch_all`](super::Pool::fetch_all)). Nulls are typed (`Int(None)`
//! is a `BIGINT` null) because Postgres must know a parameter's type.

use chrono::{DateTime, Utc};
use sqlx::Arguments as _;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use sqlx::types::Json;

use crate::vector::encode_blob;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `BIGINT` (SQLite `INTEGER`).
    Int(Option<i64>),
    /// `INTEGER` (Postgres `INT4`), for the columns declared so.
    Int32(Option<i32>),
    /// `DOUBLE PRECISION` (SQLite `REAL`).
    Float(Option<f64>),
    Text(Option<String>),
    Bool(bool),
    /// `TIMESTAMPTZ` (SQLite: RFC 3339 text).
    Time(Option<DateTime<Utc>>),
    /// `JSONB` (SQLite: JSON text).
    Json(serde_json::Value),
    /// A list of ids: a `BIGINT[]` on Postgres (`= ANY($n)`), JSON text on
    /// SQLite (`IN (SELECT value FROM json_each($n))`); see `Dialect::in_list`.
    Ints(Vec<i64>),
    /// A vector: pgvector's `vector` on Postgres, a little-endian f32 blob on SQLite.
    Vector(Option<Vec<f32>>),
    /// A bit string packed eight bits to a byte: `bit varying` on Postgres,
    /// a blob on SQLite.
    Bits(Option<Vec<u8>>),
    /// An exact decimal as canonical text with its column's scale (`5.00`):
    /// `NUMERIC` on Postgres, where the statement casts the parameter
    /// ([`Dialect::param`](super::Dialect::param)), text on SQLite.
    Decimal(Option<String>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(Some(v))
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        SqlValue::Int(v)
    }
}

impl From<i32> for SqlValue {
    fn from(v: i32) -> Self {
        SqlValue::Int32(Some(v))
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Float(Some(v))
    }
}

impl From<Option<f64>> for SqlValue {
    fn from(v: Option<f64>) -> Self {
        SqlValue::Float(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(Some(v.to_owned()))
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(Some(v))
    }
}

impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        SqlValue::Text(v)
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Bool(v)
    }
}

impl From<DateTime<Utc>> for SqlValue {
    fn from(v: DateTime<Utc>) -> Self {
        SqlValue::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for SqlValue {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        SqlValue::Time(v)
    }
}

impl From<serde_json::Value> for SqlValue {
    fn from(v: serde_json::Value) -> Self {
        SqlValue::Json(v)
    }
}

/// A statement's arguments in order: `$1` is the first pushed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(Vec<SqlValue>);

impl Args {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a value; returns its placeholder (`$n`) for the SQL text.
    pub fn push(&mut self, value: impl Into<SqlValue>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    /// Append `(column, value)` pairs; returns `column = $n, ...` for an `UPDATE`.
    pub fn assignments(&mut self, values: Vec<(&'static str, SqlValue)>) -> String {
        values
            .into_iter()
            .map(|(column, value)| format!("{column} = {}", self.push(value)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How many values are bound.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn sqlite(self) -> Result<SqliteArguments, sqlx::Error> {
        let mut out = SqliteArguments::default();
        for value in self.0 {
            let added = match value {
                SqlValue::Int(v) => out.add(v),
                SqlValue::Int32(v) => out.add(v),
                SqlValue::Float(v) => out.add(v),
                SqlValue::Text(v) => out.add(v),
                SqlValue::Bool(v) => out.add(v),
                SqlValue::Time(v) => out.add(v),
                SqlValue::Json(v) => out.add(Json(v)),
                SqlValue::Ints(v) => out.add(ids_json(&v)),
                SqlValue::Vector(v) => out.add(v.map(|v| encode_blob(&v))),
                SqlValue::Bits(v) => out.add(v),
                SqlValue::Decimal(v) => out.add(v),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    pub(crate) fn postgres(self) -> Result<PgArguments, sqlx::Error> {
        let mut out = PgArguments::default();
        for value in self.0 {
            let added = match value {
                SqlValue::Int(v) => out.add(v),
                SqlValue::Int32(v) => out.add(v),
                SqlValue::Float(v) => out.add(v),
                SqlValue::Text(v) => out.add(v),
                SqlValue::Bool(v) => out.add(v),
                SqlValue::Time(v) => out.add(v),
                SqlValue::Json(v) => out.add(Json(v)),
                SqlValue::Ints(v) => out.add(v),
                SqlValue::Vector(v) => out.add(v.map(pgvector::Vector::from)),
                SqlValue::Bits(v) => out.add(v.map(|b| pgvector::Bit::from_bytes(&b))),
                SqlValue::Decimal(v) => out.add(v),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }
}

/// `[1,2,3]`: the JSON array SQLite's `json_each` reads.
fn ids_json(ids: &[i64]) -> String {
    let parts: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_from_one_in_push_order() {
        let mut args = Args::new();
        assert_eq!(args.push(7i64), "$1");
        assert_eq!(args.push("seven"), "$2");
        assert_eq!(args.push(SqlValue::Ints(vec![1, 2])), "$3");
        assert_eq!(args.len(), 3);
        assert_eq!(ids_json(&[1, -2, 3]), "[1,-2,3]");
    }
}
