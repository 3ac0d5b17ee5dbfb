//! Rows stored while the embedding provider was down are embedded later, by a
//! background worker (and by `mnemo reembed`), never lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::dialect::{MemoryDialect, not_embedded_by, vector_column};
use super::error::MemoryError;
use super::model::MemoryKind;
use super::store::{MemoryStore, log_change};
use crate::db::Alias;
use crate::with_pool;

/// One batch embedded by [`MemoryStore::embed_missing_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedBatch {
    /// Rows embedded and committed.
    pub rows: usize,
    /// The highest id in the batch: the next batch starts after it.
    pub last_id: i64,
}

impl MemoryStore {
    /// Embed up to `batch` rows of `kind` that have no embedding, or (with
    /// `other_models`) one not embedded by the current provider: another model,
    /// or this model at another dimension. One provider call, one transaction.
    /// Returns how many rows were embedded.
    pub async fn embed_missing(
        &self,
        kind: MemoryKind,
        batch: usize,
        other_models: bool,
    ) -> Result<usize, MemoryError> {
        let done = self
            .embed_missing_after(kind, batch, other_models, 0)
            .await?;
        Ok(done.map_or(0, |b| b.rows))
    }

    /// [`embed_missing`](Self::embed_missing) over ids above `after` only, so a
    /// run through a whole table resumes where its last batch ended instead of
    /// reading again, batch after batch, every row it has already rewritten
    /// (quadratic: a 100,000-row re-embedding read 50 times the table).
    /// `None` when no row is left.
    pub async fn embed_missing_after(
        &self,
        kind: MemoryKind,
        batch: usize,
        other_models: bool,
        after: i64,
    ) -> Result<Option<EmbeddedBatch>, MemoryError> {
        let select = format!(
            "SELECT id, {} FROM {} WHERE id > $3 AND ({}) ORDER BY id LIMIT $2",
            kind.text_column(),
            kind.table(),
            self.to_embed(other_models)
        );
        let rows: Vec<(i64, String)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(self.model())
                .bind(batch as i64)
                .bind(after)
                .fetch_all(p)
                .await?
        });
        let Some(&(last_id, _)) = rows.last() else {
            return Ok(None);
        };
        let texts: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
        let vectors = self
            .vectors_for_write(&texts, vec![None; texts.len()])
            .await?;
        if let Some(error) = vectors.error {
            self.record_embedding_error(kind, &rows, &error).await?;
            return Err(MemoryError::EmbeddingUnavailable(
                crate::embed::EmbedError::Transient(error),
            ));
        }
        let model = self.model().to_owned();
        with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "UPDATE {} SET {} = $1, embedding_model = $2, embedding_error = NULL WHERE id = $3",
                kind.table(),
                vector_column(p)
            );
            let mut tx = p.begin_write().await?;
            for ((id, _), vector) in rows.iter().zip(&vectors.vectors) {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(p.vector_param(vector.as_deref()))
                    .bind(&model)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
                log_change!(p, tx, kind, *id, "upsert");
            }
            tx.commit().await?;
        });
        self.sync_index().await?;
        Ok(Some(EmbeddedBatch {
            rows: rows.len(),
            last_id,
        }))
    }

    /// How many rows [`embed_missing`](Self::embed_missing) has left to do.
    pub async fn count_to_embed(
        &self,
        kind: MemoryKind,
        other_models: bool,
    ) -> Result<u64, MemoryError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            kind.table(),
            self.to_embed(other_models)
        );
        let (n,): (i64,) = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(self.model())
                .fetch_one(p)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The rows to embed, with the model bound as `$1`.
    fn to_embed(&self, other_models: bool) -> String {
        if other_models {
            not_embedded_by(self.backend(), self.dimension())
        } else {
            // `$1 = $1`: Postgres refuses a bound parameter the statement does not use.
            "embedding_model IS NULL AND $1 = $1".to_owned()
        }
    }

    async fn record_embedding_error(
        &self,
        kind: MemoryKind,
        rows: &[(i64, String)],
        error: &str,
    ) -> Result<(), MemoryError> {
        let sql = format!(
            "UPDATE {} SET embedding_error = $1 WHERE id = $2",
            kind.table()
        );
        with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let mut tx = p.begin_write().await?;
            for (id, _) in rows {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(error)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Rows without an embedding, per kind.
    pub async fn pending_counts(&self) -> Result<Vec<(MemoryKind, i64)>, MemoryError> {
        let mut out = Vec::new();
        for kind in MemoryKind::ALL {
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE embedding_model IS NULL",
                kind.table()
            );
            let (n,): (i64,) = with_pool!(self.db.pool(Alias::AiMemory), |p| {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(p)
                    .await?
            });
            out.push((kind, n));
        }
        Ok(out)
    }
}

/// Embed pending rows in the background: every `idle` when there is nothing to
/// do, backing off (doubling up to five minutes) while the provider fails.
/// Stops when `shutdown` turns true, after finishing the batch in hand.
pub fn spawn_pending_worker(
    store: Arc<MemoryStore>,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = idle;
        loop {
            let mut failed = false;
            let mut worked = false;
            for kind in MemoryKind::ALL {
                match store.embed_missing(kind, 64, false).await {
                    Ok(n) => worked |= n > 0,
                    Err(e) => {
                        tracing::warn!(kind = kind.name(), error = %e, "pending embeddings: will retry");
                        failed = true;
                    }
                }
            }
            delay = if failed {
                (delay * 2).min(Duration::from_secs(300))
            } else if worked {
                Duration::ZERO
            } else {
                idle
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    })
}
