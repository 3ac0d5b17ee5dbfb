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

mod statements;

use std::collections::HashMap;

use super::{Alias, Args, Pool, SqlValue, Tx};
use statements::{assign_ids, existing_ids, imported_in, insert_rows, record_origins, update_rows};

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
