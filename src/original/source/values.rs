//! How each value of the original's rows is read: the SQL that selects it
//! per backend, the driver's value, and the [`SqlValue`] it becomes
//! (datetimes to UTC, decimals to their scale, blobs to f32 vectors).

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::SourceRow;
use crate::db::SqlValue;
use crate::db::columns::{ColType, Column};

pub(super) fn select(table: &str, columns: &[Column], expr: fn(&str, ColType) -> String) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .filter_map(|c| c.source.map(|s| expr(s, c.ty)))
        .collect();
    format!(
        "SELECT CAST(id AS BIGINT), {} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2",
        exprs.join(", ")
    )
}

pub(super) fn sqlite_expr(column: &str, ty: ColType) -> String {
    match ty {
        ColType::Int | ColType::Ref(_) | ColType::Bool => format!("CAST({column} AS INTEGER)"),
        ColType::Float => format!("CAST({column} AS REAL)"),
        ColType::Text | ColType::Time | ColType::Json | ColType::Decimal(_) => {
            format!("CAST({column} AS TEXT)")
        }
        ColType::Vector => "embedding".into(),
    }
}

pub(super) fn postgres_expr(column: &str, ty: ColType) -> String {
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
pub(super) enum Raw {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Vector(Option<Vec<f32>>, Option<Vec<u8>>),
}

/// A driver's row, read value by value as a [`ColType`] needs.
pub(super) trait RawRow: Row {
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
pub(super) fn decode<R: RawRow>(row: &R, columns: &[Column]) -> Result<SourceRow, sqlx::Error>
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
