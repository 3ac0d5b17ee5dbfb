//! The statements a batch is made of: finding rows by natural key, ids
//! assigned up front, multi-row `INSERT`s and `UPDATE … FROM (VALUES …)`,
//! and the origin rows.

use std::collections::HashMap;

use super::{BulkRow, MAX_PARAMS, Target, Written, origin_table};
use crate::db::{Alias, Args, Backend, Dialect, SqlValue, Tx};

/// For each row, the id of the target row with its natural key (None without a key).
pub(super) async fn existing_ids(
    tx: &mut Tx,
    target: &Target,
    rows: &[BulkRow],
) -> Result<Vec<Option<i64>>, sqlx::Error> {
    let mut found = vec![None; rows.len()];
    let Some(key) = target.key else {
        return Ok(found);
    };
    let at: Vec<usize> = key
        .columns
        .iter()
        .map(|c| column_index(target, c))
        .collect();
    let dialect = tx.dialect();
    let per_statement = (MAX_PARAMS / (at.len() + 1)).max(1);
    for (chunk_no, chunk) in rows.chunks(per_statement).enumerate() {
        let mut args = Args::new();
        let tuples: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut parts = vec![args.push((chunk_no * per_statement + i) as i64)];
                for &c in &at {
                    let value = row.values[c].clone();
                    parts.push(dialect.param(&value, args.push(value.clone())));
                }
                format!("({})", parts.join(", "))
            })
            .collect();
        let on: Vec<String> = key
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| dialect.null_safe_eq(&format!("t.{c}"), &format!("v.column{}", i + 2)))
            .collect();
        let sql = format!(
            "SELECT v.column1, t.id FROM (VALUES {}) AS v JOIN {} t ON {}",
            tuples.join(", "),
            target.table,
            on.join(" AND ")
        );
        let hits: Vec<(i64, i64)> = tx.fetch_all(&sql, args).await?;
        for (index, id) in hits {
            found[index as usize] = Some(id);
        }
    }
    Ok(found)
}

fn column_index(target: &Target, column: &str) -> usize {
    target
        .columns
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("{}: key column {column} is not a column", target.table))
}

/// Ids for new rows: the original id where kept and free, else fresh ones
/// from the table's sequence, above every id kept.
pub(super) async fn assign_ids(
    tx: &mut Tx,
    target: &Target,
    rows: &[BulkRow],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = vec![0; rows.len()];
    if target.keep_ids && !rows.is_empty() {
        let mut args = Args::new();
        let wanted = args.push(SqlValue::Ints(rows.iter().map(|r| r.original_id).collect()));
        let sql = format!(
            "SELECT id FROM {} WHERE {}",
            target.table,
            tx.dialect().in_list("id", &wanted)
        );
        let taken: Vec<(i64,)> = tx.fetch_all(&sql, args).await?;
        for (slot, row) in ids.iter_mut().zip(rows) {
            if row.original_id > 0 && !taken.iter().any(|(t,)| *t == row.original_id) {
                *slot = row.original_id;
            }
        }
    }
    let kept_max = ids.iter().copied().max().unwrap_or(0);
    let fresh = ids.iter().filter(|&&id| id == 0).count();
    let mut reserved = reserve_ids(tx, target.table, fresh, kept_max)
        .await?
        .into_iter();
    for slot in ids.iter_mut().filter(|id| **id == 0) {
        *slot = reserved.next().unwrap_or_default();
    }
    Ok(ids)
}

/// `n` fresh ids of `table`, every one above `above`, and the table's
/// sequence moved past `above` so later inserts never take a kept id.
async fn reserve_ids(
    tx: &mut Tx,
    table: &str,
    n: usize,
    above: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    match tx.dialect().0 {
        Backend::Postgres => {
            let mut args = Args::new();
            let seq = format!("pg_get_serial_sequence({}, 'id')", args.push(table));
            if above > 0 {
                let sql = format!(
                    "SELECT setval({seq}, GREATEST({}, nextval({seq})))",
                    args.push(above)
                );
                tx.fetch_one::<(i64,)>(&sql, args).await?;
                args = Args::new();
            }
            if n == 0 {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT nextval(pg_get_serial_sequence({}, 'id')) FROM generate_series(1, {})",
                args.push(table),
                args.push(n as i64)
            );
            let ids: Vec<(i64,)> = tx.fetch_all(&sql, args).await?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        }
        // Inside `BEGIN IMMEDIATE`: no other writer can take these ids, and
        // AUTOINCREMENT moves its high-water mark past explicit ids by itself.
        Backend::Sqlite => {
            let mut args = Args::new();
            let sql = format!(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = {}), 0),
                            COALESCE((SELECT MAX(id) FROM {table}), 0), {})",
                args.push(table),
                args.push(above)
            );
            let (top,): (i64,) = tx.fetch_one(&sql, args).await?;
            Ok((1..=n as i64).map(|i| top + i).collect())
        }
    }
}

/// Multi-row `INSERT`s of (id, values).
pub(super) async fn insert_rows(
    tx: &mut Tx,
    target: &Target,
    rows: Vec<(i64, Vec<SqlValue>)>,
) -> Result<(), sqlx::Error> {
    let columns = target.columns.join(", ");
    in_statements(tx, target, rows, |tuples| {
        format!(
            "INSERT INTO {} (id, {columns}) VALUES {tuples}",
            target.table
        )
    })
    .await
}

/// Multi-row `UPDATE … FROM (VALUES …)`: each existing row takes its source row's values.
pub(super) async fn update_rows(
    tx: &mut Tx,
    target: &Target,
    rows: Vec<(i64, Vec<SqlValue>)>,
) -> Result<(), sqlx::Error> {
    let set: Vec<String> = target
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = v.column{}", i + 2))
        .collect();
    let set = set.join(", ");
    in_statements(tx, target, rows, |tuples| {
        format!(
            "UPDATE {table} SET {set} FROM (VALUES {tuples}) AS v WHERE {table}.id = v.column1",
            table = target.table
        )
    })
    .await
}

/// Run `statement` (given the tuples of its rows) over `rows`, as many rows
/// per statement as [`MAX_PARAMS`] allows.
async fn in_statements(
    tx: &mut Tx,
    target: &Target,
    rows: Vec<(i64, Vec<SqlValue>)>,
    statement: impl Fn(&str) -> String,
) -> Result<(), sqlx::Error> {
    let dialect = tx.dialect();
    let per_statement = (MAX_PARAMS / (target.columns.len() + 1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut args = Args::new();
        let tuples: Vec<String> = rows
            .by_ref()
            .take(per_statement)
            .map(|(id, values)| tuple(dialect, &mut args, id, values))
            .collect();
        tx.execute(&statement(&tuples.join(", ")), args).await?;
    }
    Ok(())
}

/// `($1, $2, …)` of an id and its values, each bound.
fn tuple(dialect: Dialect, args: &mut Args, id: i64, values: Vec<SqlValue>) -> String {
    let mut parts = vec![args.push(id)];
    for value in values {
        let placeholder = args.push(value.clone());
        parts.push(dialect.param(&value, placeholder));
    }
    format!("({})", parts.join(", "))
}

pub(super) async fn imported_in(
    tx: &mut Tx,
    alias: Alias,
    source_table: &str,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args = Args::new();
    let sql = format!(
        "SELECT original_id, target_id FROM {} WHERE source_table = {} AND {}",
        origin_table(alias),
        args.push(source_table),
        tx.dialect()
            .in_list("original_id", &args.push(SqlValue::Ints(ids.to_vec())))
    );
    let rows: Vec<(i64, i64)> = tx.fetch_all(&sql, args).await?;
    Ok(rows.into_iter().collect())
}

pub(super) async fn record_origins(
    tx: &mut Tx,
    alias: Alias,
    source_table: &str,
    written: &[Written],
) -> Result<(), sqlx::Error> {
    for chunk in written.chunks(MAX_PARAMS / 4) {
        let mut args = Args::new();
        let tuples: Vec<String> = chunk
            .iter()
            .map(|w| {
                format!(
                    "({}, {}, {}, {})",
                    args.push(source_table),
                    args.push(w.original_id),
                    args.push(w.target_id),
                    args.push(w.outcome.as_str())
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} (source_table, original_id, target_id, outcome) VALUES {}",
            origin_table(alias),
            tuples.join(", ")
        );
        tx.execute(&sql, args).await?;
    }
    Ok(())
}
