//! Postgres: every vector's sign bits (`vector::sign_bits`) are written beside
//! it by the statement that writes the vector (`Dialect::vector_values`). Rows
//! stored before migration `0010_rotated_sign_bits` have none; a search scores
//! those exactly (see the engine's first pass), and housekeeping fills them in
//! here, a batch at a time, so that a large table converts while it serves.

use sqlx::{AssertSqlSafe, Row};

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::store::MemoryStore;
use crate::db::{Alias, Pool};

/// Rows signed per transaction: their vectors are read in one statement
/// (6 KB each at 1536-d) and the rows locked until it commits.
pub const SIGN_BATCH: i64 = 500;

impl MemoryStore {
    /// Postgres: write the sign bits of every row that has a vector and none;
    /// how many were written. SQLite: none to write (its codes live in memory).
    pub async fn fill_signs(&self) -> Result<u64, MemoryError> {
        let Pool::Postgres(pool) = self.db.pool(Alias::AiMemory) else {
            return Ok(0);
        };
        let mut written = 0;
        for kind in MemoryKind::ALL {
            loop {
                let done = fill_batch(pool, kind).await?;
                written += done;
                if done < SIGN_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(written)
    }
}

/// Sign up to [`SIGN_BATCH`] rows of `kind` in one transaction. The rows are
/// locked as they are read (skipping rows another writer holds), so a vector
/// rewritten meanwhile cannot be given the signs of the one it replaced.
async fn fill_batch(pool: &sqlx::PgPool, kind: MemoryKind) -> Result<u64, MemoryError> {
    let table = kind.table();
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, embedding_vector FROM {table}
         WHERE embedding_signs IS NULL AND embedding_vector IS NOT NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(SIGN_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut signs = Vec::with_capacity(rows.len());
    for row in rows {
        let vector: pgvector::Vector = row.try_get(1)?;
        ids.push(row.try_get::<i64, _>(0)?);
        signs.push(pgvector::Bit::from_bytes(&crate::vector::sign_bits(
            vector.as_slice(),
        )));
    }
    let written = sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} t SET embedding_signs = s.signs
         FROM unnest($1::BIGINT[], $2::varbit[]) AS s(id, signs) WHERE t.id = s.id"
    )))
    .bind(&ids)
    .bind(&signs)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(written)
}
