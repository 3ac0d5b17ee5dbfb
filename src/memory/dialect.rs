//! The few places where the memory SQL differs between backends: how a vector
//! is stored, how a list of ids is passed, and how a stale vector is recognised.

use sqlx::{PgPool, SqlitePool};

use crate::db::{Backend, BackendPool};
use crate::vector::encode_blob;

pub(crate) trait MemoryDialect: BackendPool {
    type VectorParam;
    type IdsParam;
    /// Column that holds the vector: the f32 blob on SQLite, pgvector on Postgres.
    const VECTOR_COLUMN: &'static str;
    /// SQL that is true when `id` is in the list bound as `$n`.
    fn id_in(n: usize) -> String;
    fn vector_param(&self, v: Option<&[f32]>) -> Self::VectorParam;
    fn ids_param(&self, ids: &[i64]) -> Self::IdsParam;
}

impl MemoryDialect for SqlitePool {
    type VectorParam = Option<Vec<u8>>;
    type IdsParam = String;
    const VECTOR_COLUMN: &'static str = "embedding";

    fn id_in(n: usize) -> String {
        format!("id IN (SELECT value FROM json_each(${n}))")
    }

    fn vector_param(&self, v: Option<&[f32]>) -> Option<Vec<u8>> {
        v.map(encode_blob)
    }

    fn ids_param(&self, ids: &[i64]) -> String {
        let parts: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!("[{}]", parts.join(","))
    }
}

impl MemoryDialect for PgPool {
    type VectorParam = Option<pgvector::Vector>;
    type IdsParam = Vec<i64>;
    const VECTOR_COLUMN: &'static str = "embedding_vector";

    fn id_in(n: usize) -> String {
        format!("id = ANY(${n})")
    }

    fn vector_param(&self, v: Option<&[f32]>) -> Option<pgvector::Vector> {
        v.map(|v| pgvector::Vector::from(v.to_vec()))
    }

    fn ids_param(&self, ids: &[i64]) -> Vec<i64> {
        ids.to_vec()
    }
}

/// The dialect's vector column name, for building SQL inside `with_pool!`.
pub(crate) fn vector_column<P: MemoryDialect>(_: &P) -> &'static str {
    P::VECTOR_COLUMN
}

/// The dialect's id-list condition on `$n`, for building SQL inside `with_pool!`.
pub(crate) fn id_in<P: MemoryDialect>(_: &P, n: usize) -> String {
    P::id_in(n)
}

/// SQL true for rows the provider (`$1` = its model, `dim` its dimension) has
/// not embedded yet: pending rows, rows of another model, and rows of this
/// model without a vector of this dimension. The last case exists because a
/// model name does not always fix the dimension (the hash provider and OpenAI's
/// `dimensions` keep their name at any size), and because resizing a Postgres
/// column clears its vectors. Postgres needs no length test: the column's
/// `vector(N)` type already fixes it, and measuring would read every vector.
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
