//! Switching the embedding provider on existing data (`mnemo reembed`).
//!
//! On SQLite a vector is a blob of any length, so re-embedding is only
//! rewriting rows. On Postgres the `embedding_vector` column is typed
//! `vector(N)`: a provider of another dimension cannot write into it, and old
//! vectors cannot be converted to the new space. So the column is first resized
//! in one transaction (HNSW index dropped, vectors cleared; the rows keep their
//! old `embedding_model`, which marks them for re-embedding), then the rows are
//! re-embedded in batches, and the index is built once at the end, which is
//! much cheaper than updating it row by row (see `pg_index`). Every step can be interrupted: a
//! second run sees the resized column, resumes the batches and builds the
//! index if it is still missing.

use sqlx::{AssertSqlSafe, PgPool};

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::pending::{EmbedScope, EmbeddedBatch};
use super::pg_index::{self, IndexState, column_dimension, hnsw_index};
use super::store::MemoryStore;
use crate::db::{Alias, Pool};

/// The steps of a re-embedding run, reported as they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReembedEvent {
    /// Postgres: the vector column was resized from `vector(from)` to
    /// `vector(to)`; its vectors were cleared and its HNSW index dropped.
    ColumnResized { from: usize, to: usize },
    /// This many rows are to be embedded.
    ToEmbed(u64),
    /// A batch was done: rows embedded and committed, rows the provider refused
    /// (marked failed), rows whose text changed meanwhile (left pending).
    Batch(EmbeddedBatch),
    /// Postgres: the HNSW index is missing and is being built now.
    BuildingIndex(&'static str),
    /// Postgres: the HNSW index has been built.
    IndexBuilt(&'static str),
}

impl MemoryStore {
    /// Bring `kind` to the current provider: resize the Postgres column if its
    /// dimension differs, embed in batches of `batch` rows (each committed on
    /// its own) the rows of `scope`, then make sure the HNSW index exists.
    /// Returns the totals of every batch; `on_event` hears each step. A row the
    /// provider refuses is marked failed and the run goes on.
    ///
    /// With a scope other than [`EmbedScope::NotCurrent`], a column of another
    /// dimension is an error rather than resized: resizing clears every vector,
    /// which only a full run repairs.
    pub async fn reembed(
        &self,
        kind: MemoryKind,
        batch: usize,
        scope: EmbedScope,
        mut on_event: impl FnMut(ReembedEvent),
    ) -> Result<EmbeddedBatch, MemoryError> {
        let dim = self.dimension();
        if let Pool::Postgres(pool) = self.db.pool(Alias::AiMemory)
            && let Some(from) = column_dimension(pool, kind).await?
            && from != dim
        {
            if scope != EmbedScope::NotCurrent {
                return Err(MemoryError::ModelMismatch {
                    kind: kind.name(),
                    stored: format!("vector({from}) columns"),
                    configured: format!("{} ({dim} dimensions)", self.model()),
                });
            }
            if let Some(from) = resize_column(pool, kind, dim).await? {
                on_event(ReembedEvent::ColumnResized { from, to: dim });
            }
        }
        on_event(ReembedEvent::ToEmbed(
            self.count_to_embed(kind, scope).await?,
        ));
        let mut total = EmbeddedBatch::default();
        while let Some(done) = self
            .embed_missing_after(kind, batch, scope, total.last_id)
            .await?
        {
            total = EmbeddedBatch {
                rows: total.rows + done.rows,
                failed: total.failed + done.failed,
                changed: total.changed + done.changed,
                last_id: done.last_id,
            };
            on_event(ReembedEvent::Batch(done));
        }
        if let Pool::Postgres(pool) = self.db.pool(Alias::AiMemory)
            && pg_index::state_on(pool, kind).await? != IndexState::Ready
        {
            let name = hnsw_index(kind);
            on_event(ReembedEvent::BuildingIndex(name));
            pg_index::build_on(pool, kind, None, |_| {}).await?;
            on_event(ReembedEvent::IndexBuilt(name));
        }
        Ok(total)
    }
}

/// Resize the column to `vector(dim)` in one transaction: drop the HNSW index
/// (rebuilt once at the end instead of on every re-embedded row), then change
/// the type clearing every vector (a vector cannot move to another model's
/// space), keeping the column's storage, and the sign bits' column with it (a
/// type change rewrites rows without firing the trigger that keeps them).
/// Returns the old dimension, or `None` when a concurrent run did it.
async fn resize_column(
    pool: &PgPool,
    kind: MemoryKind,
    dim: usize,
) -> Result<Option<usize>, MemoryError> {
    let table = kind.table();
    let mut tx = pool.begin().await?;
    // Read the type again under the lock: of two runs at once, the second
    // waits here and then finds nothing left to do.
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;
    let Some(from) = column_dimension(&mut *tx, kind).await? else {
        return Ok(None);
    };
    if from == dim {
        return Ok(None);
    }
    sqlx::query(AssertSqlSafe(format!(
        "DROP INDEX IF EXISTS {}",
        hnsw_index(kind)
    )))
    .execute(&mut *tx)
    .await?;
    // Changing the type resets the column's storage to the type's default
    // (pgvector: EXTERNAL, i.e. TOAST); keep the one the migrations chose
    // (PLAIN since 0003_vector_storage_plain: vectors inline, faster scans).
    let (storage,): (i8,) = sqlx::query_as(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_vector'",
    )
    .bind(table)
    .fetch_one(&mut *tx)
    .await?;
    let storage = match storage as u8 {
        b'p' => "PLAIN",
        b'm' => "MAIN",
        b'x' => "EXTENDED",
        _ => "EXTERNAL",
    };
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER TABLE {table} ALTER COLUMN embedding_vector TYPE vector({dim}) USING NULL;
         ALTER TABLE {table} ALTER COLUMN embedding_vector SET STORAGE {storage};
         ALTER TABLE {table} ALTER COLUMN embedding_signs TYPE bit varying USING NULL"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        kind = kind.name(),
        from,
        to = dim,
        "vector column resized; its vectors were cleared"
    );
    Ok(Some(from))
}
