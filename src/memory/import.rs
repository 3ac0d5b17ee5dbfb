//! Memories brought in from another system (`mnemo import original`), written
//! once over [`Kind`]: each row is checked as a store would check it (the
//! kind's own `prepare`, so errors name the same fields), keeps its original
//! `created_at` (and lore its `updated_at`), and carries the vector the source
//! stored, recorded under the model the caller names, or none: then it is
//! pending, and the background worker or `mnemo reembed --pending` embeds it,
//! after which it is searchable. No provider is called.
//!
//! Rows go in batches through [`bulk::write`](crate::db::bulk::write): a few
//! statements per batch, each row's original id recorded in
//! `ai_memory_import_origin` in the same transaction (a second run skips it),
//! each written row logged in the change log (SQLite: how a serving process
//! learns of it). A kind with a natural key (lore's source and title) updates
//! the entry it matches.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::error::MemoryError;
use super::kind::{Kind, MemoryKind};
use super::pg_index::{self, IndexState, column_dimension};
use super::rows::log_changes;
use super::store::MemoryStore;
use crate::db::bulk::{self, BulkRow, NaturalKey, OnExisting, Outcome, Target, Written};
use crate::db::{Alias, Args, Pool, SqlValue};
use crate::vector::normalize;

/// Why a row imported without a vector is pending (kept in `embedding_error`
/// until it is embedded).
pub const NO_VECTOR: &str = "imported without a vector: the source stored none";

/// A row's columns and, in the same order, its values.
type ColumnsAndValues = (Vec<&'static str>, Vec<SqlValue>);

/// One memory from elsewhere.
#[derive(Debug, Clone)]
pub struct ImportedMemory<N> {
    /// Its id in the source (recorded, so a second import skips it).
    pub original_id: i64,
    /// What a caller would send to store it.
    pub memory: N,
    pub created_at: DateTime<Utc>,
    /// When a lore entry last changed (its `created_at` when `None`).
    pub updated_at: Option<DateTime<Utc>>,
    /// The source's vector; `None`: imported pending.
    pub vector: Option<Vec<f32>>,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct ImportedBatch {
    pub written: Vec<Written>,
    /// (original id, why) of rows not imported.
    pub failed: Vec<(i64, String)>,
    /// Rows written without a vector (pending).
    pub pending: usize,
}

impl MemoryStore {
    /// Refuse before anything is written when a pgvector column cannot hold
    /// the configured provider's vectors (Postgres; SQLite blobs have no size).
    pub async fn check_vector_columns(&self) -> Result<(), MemoryError> {
        if let Pool::Postgres(pool) = self.db.pool(Alias::AiMemory) {
            for kind in MemoryKind::ALL {
                if let Some(dim) = column_dimension(pool, kind).await?
                    && dim != self.dimension()
                {
                    return Err(MemoryError::invalid(
                        "embedding",
                        format!(
                            "{} holds vector({dim}) but the configured provider makes {} dimensions",
                            kind.table(),
                            self.dimension()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Before importing `incoming` rows of `kind` (Postgres): drop its HNSW
    /// index when the import at least doubles the table, to build it once
    /// afterwards ([`finish_bulk_load`](Self::finish_bulk_load)). Maintaining
    /// the index row by row made the generated original set (2,400 NPC
    /// memories at 1536-d) import in 21 s; without it 3.5 s plus 2.8 s to
    /// build the three indexes. Into a table already larger than the import,
    /// rebuilding would cost more than it saves. Searches meanwhile stay
    /// correct, scanning instead. Returns whether the index was dropped.
    pub async fn prepare_bulk_load(
        &self,
        kind: MemoryKind,
        incoming: u64,
    ) -> Result<bool, MemoryError> {
        if !matches!(self.db.pool(Alias::AiMemory), Pool::Postgres(_)) {
            return Ok(false);
        }
        let sql = format!("SELECT CAST(count(*) AS BIGINT) FROM {}", kind.table());
        let (present,): (i64,) = self
            .db
            .pool(Alias::AiMemory)
            .fetch_one(&sql, Args::new())
            .await?;
        if incoming < present.max(1) as u64 {
            return Ok(false);
        }
        Ok(pg_index::drop_index(&self.db, kind).await? != IndexState::Missing)
    }

    /// After an import (Postgres): build `kind`'s HNSW index when it is
    /// missing or invalid (dropped for the load, or left so by an interrupted
    /// run). Returns whether it built one.
    pub async fn finish_bulk_load(
        &self,
        kind: MemoryKind,
        on_progress: impl FnMut(pg_index::BuildProgress),
    ) -> Result<bool, MemoryError> {
        if !matches!(self.db.pool(Alias::AiMemory), Pool::Postgres(_)) {
            return Ok(false);
        }
        pg_index::build_index(&self.db, kind, None, on_progress).await
    }

    /// Import one batch of `K` read from `source_table`, with vectors recorded
    /// as made by `model`. With `dry_run` the batch is written in a
    /// transaction that is rolled back: the counts are real, nothing stays.
    pub async fn import_memories<K: Kind>(
        &self,
        source_table: &str,
        rows: Vec<ImportedMemory<K::New>>,
        model: &str,
        dry_run: bool,
    ) -> Result<ImportedBatch, MemoryError> {
        let mut batch = ImportedBatch::default();
        let mut columns: Vec<&'static str> = Vec::new();
        let mut bulk_rows = Vec::with_capacity(rows.len());
        let mut without_vector = HashSet::new();
        for r in rows {
            let id = r.original_id;
            if r.vector.is_none() {
                without_vector.insert(id);
            }
            let (row_columns, values) = match self.import_row::<K>(r, model) {
                Ok(row) => row,
                Err(e) => {
                    batch.failed.push((id, e));
                    continue;
                }
            };
            if columns.is_empty() {
                columns = row_columns;
            }
            bulk_rows.push(BulkRow {
                original_id: id,
                values,
                duplicate_of: None,
            });
        }
        if bulk_rows.is_empty() {
            return Ok(batch);
        }
        let target = Target {
            table: K::SPEC.table,
            alias: Alias::AiMemory,
            columns,
            key: (!K::SPEC.unique.is_empty()).then_some(NaturalKey {
                columns: K::SPEC.unique,
                on_existing: OnExisting::Update,
            }),
            keep_ids: false,
        };
        let pool = self.db.pool(Alias::AiMemory);
        let result = bulk::write(
            pool,
            &target,
            source_table,
            bulk_rows,
            dry_run,
            async |tx, written| {
                let ids: Vec<i64> = written
                    .iter()
                    .filter(|w| w.outcome != Outcome::Duplicate)
                    .map(|w| w.target_id)
                    .collect();
                log_changes(tx, K::ID, &ids, "upsert").await
            },
        )
        .await?;
        if !dry_run {
            self.engine.sync().await?;
        }
        batch.pending = result
            .written
            .iter()
            .filter(|w| without_vector.contains(&w.original_id))
            .count();
        batch.written = result.written;
        batch.failed.extend(result.failed);
        Ok(batch)
    }

    /// The columns and values of one imported row, or why it cannot be imported.
    fn import_row<K: Kind>(
        &self,
        r: ImportedMemory<K::New>,
        model: &str,
    ) -> Result<ColumnsAndValues, String> {
        let row = K::prepare(self, r.memory).map_err(|e| e.to_string())?;
        let vector = match r.vector {
            Some(mut v) => {
                normalize(&mut v, self.dimension()).map_err(|e| format!("embedding: {e}"))?;
                Some(v)
            }
            None => None,
        };
        let updated_at = r.updated_at.unwrap_or(r.created_at);
        let (mut columns, mut values): (Vec<&'static str>, Vec<SqlValue>) = row
            .values
            .into_iter()
            .map(|(c, v)| match c {
                "updated_at" => (c, SqlValue::Time(Some(updated_at))),
                _ => (c, v),
            })
            .unzip();
        let pending = vector.is_none();
        let mut extra = vec![("created_at", SqlValue::Time(Some(r.created_at)))];
        extra.extend(
            self.db
                .pool(Alias::AiMemory)
                .dialect()
                .vector_values(vector),
        );
        extra.extend([
            (
                "embedding_model",
                SqlValue::Text((!pending).then(|| model.to_owned())),
            ),
            (
                "embedding_error",
                SqlValue::Text(pending.then(|| NO_VECTOR.to_owned())),
            ),
        ]);
        for (column, value) in extra {
            columns.push(column);
            values.push(value);
        }
        Ok((columns, values))
    }
}
