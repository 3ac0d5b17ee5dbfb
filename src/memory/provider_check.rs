//! Whether the stored vectors belong to the configured provider: rows of
//! another model or dimension are never compared with its vectors, and a
//! service started over them is refused with the command that fixes it.

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::pg_index::{column_dimension, warn_if_index_missing};
use crate::db::{Alias, Args, Backend, Db, Pool};

/// SQL true for rows the provider (its model bound as `$1`, `dim` its
/// dimension) has not embedded yet: pending rows, rows of another model, and
/// rows of this model without a vector of this dimension. The last case exists
/// because a model name does not always fix the dimension (the hash provider
/// and OpenAI's `dimensions` keep their name at any size), and because
/// resizing a Postgres column clears its vectors. Postgres needs no length
/// test: the column's `vector(N)` type already fixes it, and measuring would
/// read every vector.
pub(crate) fn not_embedded_by(backend: Backend, dim: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "embedding_model IS NULL OR embedding_model <> $1 OR embedding IS NULL OR length(embedding) <> {}",
            dim * 4
        ),
        Backend::Postgres => {
            "embedding_model IS NULL OR embedding_model <> $1 OR embedding_vector IS NULL".into()
        }
    }
}

/// Refuse to start on rows embedded by another model or at another dimension,
/// or a pgvector column of another dimension, naming both and the command that
/// fixes it. Rows not yet re-embedded are never searched (searches ask for the
/// current model and a present vector), but serving while they exist would
/// silently leave them out of every result. On Postgres a missing HNSW index
/// (a re-embedding stopped before rebuilding it) is only warned about: searches
/// stay correct, just slower.
pub async fn check_models(db: &Db, model: &str, dim: usize) -> Result<(), MemoryError> {
    let configured = format!("{model} ({dim} dimensions)");
    let pool = db.pool(Alias::AiMemory);
    for kind in MemoryKind::ALL {
        let mismatch = |stored: String| MemoryError::ModelMismatch {
            kind: kind.name(),
            stored,
            configured: configured.clone(),
        };
        // SQLite blobs carry their dimension; a Postgres vector of this model can
        // only be missing (the column type fixes the dimension, checked below).
        let dims = pool
            .dialect()
            .pick("length(embedding) / 4", "CAST(NULL AS BIGINT)");
        let mut args = Args::new();
        args.push(model);
        let sql = format!(
            "SELECT embedding_model, {dims} FROM {} WHERE embedding_model IS NOT NULL AND ({}) LIMIT 1",
            kind.table(),
            not_embedded_by(db.backend(), dim)
        );
        let found: Option<(String, Option<i64>)> = pool.fetch_optional(&sql, args).await?;
        match found {
            Some((stored, _)) if stored != model => return Err(mismatch(stored)),
            Some((stored, Some(n))) => return Err(mismatch(format!("{stored} ({n} dimensions)"))),
            Some((stored, None)) => {
                return Err(mismatch(format!(
                    "{stored} (vectors cleared when the column was resized)"
                )));
            }
            None => {}
        }
        if let Pool::Postgres(pool) = pool {
            if let Some(typmod) = column_dimension(pool, kind).await?
                && typmod != dim
            {
                return Err(mismatch(format!("vector({typmod}) columns")));
            }
            warn_if_index_missing(pool, kind).await?;
        }
    }
    Ok(())
}
