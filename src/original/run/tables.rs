//! One source table: read in pages by id, rows imported before skipped,
//! references translated, each batch written (memories through the memory
//! layer, other tables through the bulk writer) and counted.

use std::collections::HashMap;
use std::time::Instant;

use super::{ImportError, Run};
use crate::db::bulk::{self, BulkRow, OnExisting, Outcome, Written};
use crate::db::columns::{ColType, Column, CopySpec};
use crate::db::{Alias, SqlValue};
use crate::memory::{ImportedMemory, Kind};
use crate::original::report::{RowIssue, TableReport};

/// How a memory table's row becomes a memory to import.
type Convert<N> = fn(i64, Vec<SqlValue>) -> Result<ImportedMemory<N>, String>;

/// A source table being read.
struct TableRun {
    table: &'static str,
    alias: Alias,
    columns: &'static [Column],
    after: i64,
    report: TableReport,
    ids: HashMap<i64, i64>,
}

impl Run<'_> {
    /// Start reading `table`; `None` (and a line in the report) when the source lacks it.
    async fn start(
        &mut self,
        table: &'static str,
        alias: Alias,
        columns: &'static [Column],
    ) -> Result<Option<TableRun>, ImportError> {
        let mut report = TableReport::new(table);
        if !self.source.has_table(table).await? {
            report.absent = true;
            self.report.tables.push(report);
            return Ok(None);
        }
        self.progress
            .begin(table, self.source.count(table).await? as u64);
        Ok(Some(TableRun {
            table,
            alias,
            columns,
            after: 0,
            report,
            ids: HashMap::new(),
        }))
    }

    /// The next page's rows not imported before, their references
    /// translated; `None` at the end of the table.
    async fn next(
        &mut self,
        t: &mut TableRun,
    ) -> Result<Option<Vec<(i64, Vec<SqlValue>)>>, ImportError> {
        let page = self
            .source
            .page(t.table, t.columns, t.after, self.options.batch as i64)
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        t.after = last.id;
        t.report.read += page.len() as u64;
        self.progress.advance(page.len() as u64);
        let ids: Vec<i64> = page.iter().map(|r| r.id).collect();
        let done = bulk::imported(self.db.pool(t.alias), t.alias, t.table, &ids).await?;
        let mut rows = Vec::with_capacity(page.len());
        for row in page {
            if let Some(&target) = done.get(&row.id) {
                t.report.already += 1;
                t.ids.insert(row.id, target);
                continue;
            }
            match row.values {
                Ok(mut values) => {
                    self.translate(t.columns, &mut values);
                    rows.push((row.id, values));
                }
                Err(message) => self.fail(t, row.id, message),
            }
        }
        Ok(Some(rows))
    }

    /// References to other imported tables, as ids here.
    fn translate(&self, columns: &[Column], values: &mut [SqlValue]) {
        for (c, v) in columns.iter().zip(values.iter_mut()) {
            if let (ColType::Ref(table), SqlValue::Int(Some(id))) = (c.ty, &v)
                && let Some(&here) = self.ids.get(table).and_then(|m| m.get(id))
            {
                *v = SqlValue::Int(Some(here));
            }
        }
    }

    fn fail(&mut self, t: &mut TableRun, original_id: i64, message: String) {
        t.report.failed += 1;
        self.report.failures.push(RowIssue {
            table: t.table.to_owned(),
            original_id,
            message,
        });
    }

    /// Count what a batch did and remember where its rows went.
    fn absorb(&mut self, t: &mut TableRun, written: &[Written], failed: Vec<(i64, String)>) {
        t.report.absorb(written);
        for w in written.iter().filter(|w| w.outcome != Outcome::Duplicate) {
            t.ids.insert(w.original_id, w.target_id);
        }
        for (id, message) in failed {
            self.fail(t, id, message);
        }
    }

    fn finish(&mut self, t: TableRun) {
        self.progress.end();
        self.ids.insert(t.table, t.ids);
        self.report.tables.push(t.report);
    }

    pub(super) async fn memories<K: Kind>(
        &mut self,
        table: &'static str,
        columns: &'static [Column],
        convert: Convert<K::New>,
    ) -> Result<(), ImportError> {
        let Some(mut t) = self.start(table, Alias::AiMemory, columns).await? else {
            return Ok(());
        };
        if !self.options.dry_run {
            let done =
                bulk::recorded(self.db.pool(Alias::AiMemory), Alias::AiMemory, table).await?;
            let incoming = (self.source.count(table).await? - done).max(0) as u64;
            self.store.prepare_bulk_load(K::ID, incoming).await?;
        }
        while let Some(rows) = self.next(&mut t).await? {
            let mut memories = Vec::with_capacity(rows.len());
            for (id, values) in rows {
                match convert(id, values) {
                    Ok(m) => memories.push(m),
                    Err(message) => self.fail(&mut t, id, message),
                }
            }
            let batch = self
                .store
                .import_memories::<K>(table, memories, &self.options.model, self.options.dry_run)
                .await?;
            t.report.pending += batch.pending as u64;
            self.absorb(&mut t, &batch.written, batch.failed);
        }
        self.finish(t);
        if !self.options.dry_run {
            let index = crate::memory::hnsw_index(K::ID);
            self.progress.begin(&format!("building {index}"), 0);
            let started = Instant::now();
            if self
                .store
                .finish_bulk_load(K::ID, |_| self.progress.advance(0))
                .await?
            {
                self.report.notes.push(format!(
                    "built the HNSW index {index} after loading, in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            self.progress.end();
        }
        Ok(())
    }

    /// Copy a table by its spec, each row through `fixup` (which may refuse
    /// it). Returns what this run wrote.
    pub(super) async fn copy(
        &mut self,
        spec: &'static CopySpec,
        mut fixup: impl FnMut(i64, &mut [SqlValue]) -> Result<(), String>,
    ) -> Result<Vec<Written>, ImportError> {
        let mut all = Vec::new();
        let Some(mut t) = self.start(spec.source, spec.alias, spec.columns).await? else {
            return Ok(all);
        };
        let target = spec.target();
        let skip_key: Vec<(&str, usize)> = match spec.key {
            Some(k) if k.on_existing == OnExisting::Skip => {
                k.columns.iter().map(|c| (*c, spec.index_of(c))).collect()
            }
            _ => Vec::new(),
        };
        // Key of each row written this run (tables keyed to skip): a row
        // repeating one is a duplicate of it, in this batch or an earlier one.
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut keys: HashMap<i64, String> = HashMap::new();
        while let Some(rows) = self.next(&mut t).await? {
            let mut batch = Vec::with_capacity(rows.len());
            for (id, mut values) in rows {
                if let Err(message) = fixup(id, &mut values) {
                    self.fail(&mut t, id, message);
                    continue;
                }
                let mut duplicate_of = None;
                if !skip_key.is_empty() {
                    let key = key_text(&values, &skip_key);
                    duplicate_of = seen.get(&key).copied();
                    seen.entry(key.clone()).or_insert(id);
                    keys.insert(id, key);
                }
                batch.push(BulkRow {
                    original_id: id,
                    values,
                    duplicate_of,
                });
            }
            let dry_run = self.options.dry_run;
            let firsts: HashMap<i64, i64> = batch
                .iter()
                .filter_map(|r| r.duplicate_of.map(|f| (r.original_id, f)))
                .collect();
            let pool = self.db.pool(spec.alias);
            let result = bulk::write(pool, &target, spec.source, batch, dry_run, async |_, _| {
                Ok(())
            })
            .await?;
            for w in result
                .written
                .iter()
                .filter(|w| w.outcome == Outcome::Duplicate)
            {
                let what = match firsts.get(&w.original_id) {
                    Some(first) => format!("row #{first} of the original"),
                    None => format!("row {} already here", w.target_id),
                };
                self.report.duplicates.push(RowIssue {
                    table: spec.source.to_owned(),
                    original_id: w.original_id,
                    message: format!(
                        "{} repeats {what}: not imported again",
                        keys.get(&w.original_id).map_or("", String::as_str)
                    ),
                });
            }
            self.absorb(&mut t, &result.written, result.failed);
            all.extend(result.written);
        }
        self.finish(t);
        Ok(all)
    }
}

/// The key of a row as text (`tx_hash 1BC9…`), for matching and for the report.
fn key_text(values: &[SqlValue], key: &[(&str, usize)]) -> String {
    key.iter()
        .map(|&(name, i)| match &values[i] {
            SqlValue::Text(Some(t)) => format!("{name} {t}"),
            other => format!("{name} {other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
