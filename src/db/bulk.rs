//! Bulk writes of rows that come from another database (`mnemo import
//! original`), written once for every table and both backends.
//!
//! A batch is a few statements whatever its size: one query finds the rows
//! whose natural key exists already, one reserves ids for the new rows, one
//! multi-row `INSERT` per 30,000 bound values writes them (a 500-row batch of
//! NPC memories is one statement), one `UPDATE … FROM (VALUES …)` updates the
//! matched ones, and one `INSERT` records where each row came from in the
//! alias's `*_import_origin` table, in the same transaction. A committed batch
//! is therefore never imported again, and a batch that did not commit left
//! nothing behind: that is what makes an import resumable.
//!
//! Ids are assigned before the insert (Postgres: `nextval` of the column's
//! sequence; SQLite: past the `AUTOINCREMENT` high-water mark while the write
//! lock is held), so the statement needs no `RETURNING` whose row order
//! neither engine promises.

use std::collections::HashMap;

use super::{Alias, Args, Backend, Dialect, Pool, SqlValue, Tx};

/// Bound values per statement: under SQLite's limit (32,766) and Postgres' (65,535).
const MAX_PARAMS: usize = 30_000;

/// What became of a source row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Written as a new row.
    Imported,
    /// A row with its natural key existed and took its values.
    Matched,
    /// The same as another row: not written; its origin points at that row.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Matched => "matched",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// What a row whose natural key exists in the target does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// The existing row takes the source row's values (seeded catalogues and balances).
    Update,
    /// The source row is a duplicate of it (a transaction hash seen before).
    Skip,
}

/// A unique key of the target table, as a source row's values give it.
#[derive(Debug, Clone, Copy)]
pub struct NaturalKey {
    pub columns: &'static [&'static str],
    pub on_existing: OnExisting,
}

/// Where a batch goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub table: &'static str,
    pub alias: Alias,
    /// The columns of each row's values, in order (without `id`).
    pub columns: Vec<&'static str>,
    pub key: Option<NaturalKey>,
    /// Give a new row its original id when no row has that id yet: for rows
    /// the game keeps referring to by id (accounts).
    pub keep_ids: bool,
}

/// One source row: its id in the source and its values for `Target::columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRow {
    pub original_id: i64,
    pub values: Vec<SqlValue>,
    /// Already known to repeat the source row with this id: not written, its
    /// origin points where that row went.
    pub duplicate_of: Option<i64>,
}

/// A row handled: where it went and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub original_id: i64,
    pub target_id: i64,
    pub outcome: Outcome,
}

/// A batch's result: the rows handled, and those the database refused, with
/// its message (each refused alone, after the batch as a whole was).
#[derive(Debug, Default)]
pub struct BatchResult {
    pub written: Vec<Written>,
    pub failed: Vec<(i64, String)>,
}

/// The origin table of `alias`.
pub fn origin_table(alias: Alias) -> String {
    format!("{}import_origin", alias.table_prefix())
}

/// Of `ids` (rows of `source_table`), those an earlier run recorded: id -> target id.
pub async fn imported(
    pool: Pool<'_>,
    alias: Alias,
    source_table: &str,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let (Some(&low), Some(&high)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(HashMap::new());
    };
    let mut args = Args::new();
    let sql = format!(
        "SELECT original_id, target_id FROM {} WHERE source_table = {} AND original_id BETWEEN {} AND {}",
        origin_table(alias),
        args.push(source_table),
        args.push(low),
        args.push(high)
    );
    let rows: Vec<(i64, i64)> = pool.fetch_all(&sql, args).await?;
    Ok(rows
        .into_iter()
        .filter(|(id, _)| ids.contains(id))
        .collect())
}

/// How many rows of `source_table` earlier runs recorded.
pub async fn recorded(
    pool: Pool<'_>,
    alias: Alias,
    source_table: &str,
) -> Result<i64, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT CAST(count(*) AS BIGINT) FROM {} WHERE source_table = {}",
        origin_table(alias),
        args.push(source_table)
    );
    let (n,): (i64,) = pool.fetch_one(&sql, args).await?;
    Ok(n)
}

/// Write `rows` into `target` in one transaction, with their origins, then
/// run `extra` in the same transaction (a change log, say). When the database
/// refuses the batch, each row is tried alone so that one bad row costs only
/// itself. With `dry_run` every transaction is rolled back: the counts are
/// those of a real run, and nothing stays.
pub async fn write(
    pool: Pool<'_>,
    target: &Target,
    source_table: &str,
    rows: Vec<BulkRow>,
    dry_run: bool,
    mut extra: impl AsyncFnMut(&mut Tx, &[Written]) -> Result<(), sqlx::Error>,
) -> Result<BatchResult, sqlx::Error> {
    let whole = write_once(
        pool,
        target,
        source_table,
        rows.clone(),
        dry_run,
        &mut extra,
    )
    .await;
    match whole {
        Ok(result) => Ok(result),
        Err(sqlx::Error::Database(_)) if rows.len() > 1 => {
            let mut result = BatchResult::default();
            for row in rows {
                let id = row.original_id;
                match write_once(pool, target, source_table, vec![row], dry_run, &mut extra).await {
                    Ok(one) => {
                        result.written.extend(one.written);
                        result.failed.extend(one.failed);
                    }
                    Err(sqlx::Error::Database(e)) => result.failed.push((id, e.to_string())),
                    Err(e) => return Err(e),
                }
            }
            Ok(result)
        }
        Err(sqlx::Error::Database(e)) => Ok(BatchResult {
            written: Vec::new(),
            failed: rows
                .iter()
                .map(|r| (r.original_id, e.to_string()))
                .collect(),
        }),
        Err(e) => Err(e),
    }
}

async fn write_once(
    pool: Pool<'_>,
    target: &Target,
    source_table: &str,
    rows: Vec<BulkRow>,
    dry_run: bool,
    extra: &mut impl AsyncFnMut(&mut Tx, &[Written]) -> Result<(), sqlx::Error>,
) -> Result<BatchResult, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let result = write_in(&mut tx, target, source_table, rows).await?;
    extra(&mut tx, &result.written).await?;
    if !dry_run {
        tx.commit().await?;
    }
    Ok(result)
}

/// The batch inside an open transaction.
async fn write_in(
    tx: &mut Tx,
    target: &Target,
    source_table: &str,
    rows: Vec<BulkRow>,
) -> Result<BatchResult, sqlx::Error> {
    let existing = existing_ids(tx, target, &rows).await?;
    let skip = target
        .key
        .is_some_and(|k| k.on_existing == OnExisting::Skip);
    let mut new_rows = Vec::new();
    let mut matched = Vec::new();
    let mut plan: Vec<(i64, Fate)> = Vec::with_capacity(rows.len());
    for (row, found) in rows.into_iter().zip(existing) {
        let id = row.original_id;
        match (row.duplicate_of, found) {
            (Some(first), _) => plan.push((id, Fate::Repeats(first))),
            (None, Some(existing)) if skip => {
                plan.push((id, Fate::Is(existing, Outcome::Duplicate)))
            }
            (None, Some(existing)) => {
                plan.push((id, Fate::Is(existing, Outcome::Matched)));
                matched.push((existing, row.values));
            }
            (None, None) => {
                plan.push((id, Fate::New));
                new_rows.push(row);
            }
        }
    }
    let ids = assign_ids(tx, target, &new_rows).await?;
    // Where each source row went: new rows to their ids, the others to the row they match.
    let mut went: HashMap<i64, i64> = new_rows
        .iter()
        .zip(&ids)
        .map(|(r, &id)| (r.original_id, id))
        .collect();
    let inserts: Vec<(i64, Vec<SqlValue>)> = ids
        .into_iter()
        .zip(new_rows)
        .map(|(id, r)| (id, r.values))
        .collect();
    insert_rows(tx, target, inserts).await?;
    update_rows(tx, target, matched).await?;
    for (id, fate) in &plan {
        if let Fate::Is(existing, _) = fate {
            went.insert(*id, *existing);
        }
    }
    let earlier: Vec<i64> = plan
        .iter()
        .filter_map(|(_, fate)| match fate {
            Fate::Repeats(first) if !went.contains_key(first) => Some(*first),
            _ => None,
        })
        .collect();
    let recorded = imported_in(tx, target.alias, source_table, &earlier).await?;
    let mut result = BatchResult::default();
    for (original_id, fate) in plan {
        let (target_id, outcome) = match fate {
            Fate::New => (went[&original_id], Outcome::Imported),
            Fate::Is(existing, outcome) => (existing, outcome),
            Fate::Repeats(first) => match went.get(&first).or(recorded.get(&first)) {
                Some(&id) => (id, Outcome::Duplicate),
                // Left for a later run, once the row it repeats is in.
                None => {
                    result.failed.push((
                        original_id,
                        format!("repeats row {first}, which was not imported"),
                    ));
                    continue;
                }
            },
        };
        result.written.push(Written {
            original_id,
            target_id,
            outcome,
        });
    }
    record_origins(tx, target.alias, source_table, &result.written).await?;
    Ok(result)
}

/// What a batch does with one source row.
enum Fate {
    /// Written as a new row.
    New,
    /// Matched to (or a duplicate of) the row with this id here.
    Is(i64, Outcome),
    /// Repeats the source row with this id (in this batch or an earlier one).
    Repeats(i64),
}

/// For each row, the id of the target row with its natural key (None without a key).
async fn existing_ids(
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
async fn assign_ids(
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
async fn insert_rows(
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
async fn update_rows(
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

async fn imported_in(
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

async fn record_origins(
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
