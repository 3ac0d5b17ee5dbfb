//! Rows stored while the embedding provider was down are embedded later, by a
//! background worker (and by `mnemo reembed`), never lost.
//!
//! A row is *pending* while it has no vector of the current provider and has not
//! failed; *failed* once the provider refused its text (an input over the
//! model's token limit, an HTTP 400: [`EmbedError::Rejected`]). A batch the
//! provider rejects is retried row by row, so one poisoned row is marked failed
//! and every other row of the batch still gets its vector; a failed row is never
//! retried in a loop (only `mnemo reembed --failed` tries it again). Provider
//! trouble (an outage, a bad key) fails no row: the rows stay pending, their
//! `embedding_error` says why, and the worker backs off.
//!
//! A vector is written only for the text it was made from (compare-and-set on
//! the embedded column): a lore entry updated while its old text was being
//! embedded keeps the new text's vector, or stays pending for it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::provider_check::not_embedded_by;
use super::rows::{check_page_limit, log_change};
use super::store::MemoryStore;
use crate::db::{Alias, Args, Backend, now_micros};
use crate::embed::{EmbedError, Embedder};
use crate::vector::normalize;

/// Which rows an embedding run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedScope {
    /// Rows stored without a vector that have not failed (the worker's, and
    /// `mnemo reembed --pending`).
    Pending,
    /// Rows the provider refused before (`mnemo reembed --failed`).
    Failed,
    /// Every row without a vector of the current provider: pending, failed, and
    /// rows of another model or dimension (`mnemo reembed`, a provider switch).
    NotCurrent,
}

/// One batch embedded by [`MemoryStore::embed_missing_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmbeddedBatch {
    /// Rows embedded and committed.
    pub rows: usize,
    /// Rows the provider refused, now marked failed.
    pub failed: usize,
    /// Rows whose text changed while it was being embedded: left for the next run.
    pub changed: usize,
    /// The highest id in the batch: the next batch starts after it.
    pub last_id: i64,
}

/// One row to embed: its id and the text it had when read.
type Row = (i64, String);

/// A row the provider refused to embed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FailedEmbedding {
    pub id: i64,
    /// The embedded text the provider refused.
    pub text: String,
    /// The provider's answer.
    pub error: Option<String>,
    pub failed_at: DateTime<Utc>,
}

impl MemoryStore {
    /// Embed up to `batch` rows of `kind` in `scope` (see [`embed_missing_after`](Self::embed_missing_after)).
    pub async fn embed_missing(
        &self,
        kind: MemoryKind,
        batch: usize,
        scope: EmbedScope,
    ) -> Result<EmbeddedBatch, MemoryError> {
        let done = self.embed_missing_after(kind, batch, scope, 0).await?;
        Ok(done.unwrap_or_default())
    }

    /// Embed up to `batch` rows of `kind` in `scope` with ids above `after`: one
    /// provider call (the background path: the provider's long retry policy),
    /// then one transaction. A rejected batch is retried row by row. Paging by
    /// id lets a run through a whole table resume where its last batch ended
    /// instead of reading again, batch after batch, every row it has already
    /// rewritten (quadratic: a 100,000-row re-embedding read 50 times the
    /// table). `None` when no row is left; an error when the provider is
    /// unavailable (the rows stay as they were, with the reason recorded).
    pub async fn embed_missing_after(
        &self,
        kind: MemoryKind,
        batch: usize,
        scope: EmbedScope,
        after: i64,
    ) -> Result<Option<EmbeddedBatch>, MemoryError> {
        let select = format!(
            "SELECT id, {} FROM {} WHERE id > $3 AND ({}) ORDER BY id LIMIT $2",
            kind.text_column(),
            self.scope_source(kind, scope),
            self.scope_condition(scope)
        );
        let mut args = Args::new();
        args.push(self.model());
        args.push(batch as i64);
        args.push(after);
        let rows: Vec<Row> = self
            .db
            .pool(Alias::AiMemory)
            .fetch_all(&select, args)
            .await?;
        let Some(&(last_id, _)) = rows.last() else {
            return Ok(None);
        };
        let mut done = EmbeddedBatch {
            last_id,
            ..EmbeddedBatch::default()
        };
        match self.background_vectors(&rows).await {
            Ok(vectors) => {
                let written = self.write_vectors(kind, &rows, &vectors).await?;
                done.rows += written;
                done.changed += rows.len() - written;
            }
            Err(e) if e.is_rejected() => {
                // Some input in the batch is refused: find which, one row at a time.
                for row in &rows {
                    let one = std::slice::from_ref(row);
                    match self.background_vectors(one).await {
                        Ok(vectors) => {
                            let written = self.write_vectors(kind, one, &vectors).await?;
                            done.rows += written;
                            done.changed += 1 - written;
                        }
                        Err(e) if e.is_rejected() => {
                            done.failed += self.mark_failed(kind, row, &e).await?;
                        }
                        Err(e) => {
                            self.record_embedding_error(kind, &rows, &e.to_string())
                                .await?;
                            return Err(MemoryError::EmbeddingUnavailable(e));
                        }
                    }
                }
            }
            Err(e) => {
                self.record_embedding_error(kind, &rows, &e.to_string())
                    .await?;
                return Err(MemoryError::EmbeddingUnavailable(e));
            }
        }
        if done.failed > 0 {
            tracing::warn!(
                kind = kind.name(),
                rows = done.failed,
                "the provider refused these rows' text; marked failed (`mnemo reembed --failed` retries them)"
            );
        }
        Ok(Some(done))
    }

    /// How many rows of `kind` are in `scope`.
    pub async fn count_to_embed(
        &self,
        kind: MemoryKind,
        scope: EmbedScope,
    ) -> Result<u64, MemoryError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            self.scope_source(kind, scope),
            self.scope_condition(scope)
        );
        let mut args = Args::new();
        args.push(self.model());
        let (n,): (i64,) = self.db.pool(Alias::AiMemory).fetch_one(&sql, args).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Failed rows of `kind` with id above `after`, by id.
    pub async fn failed_embeddings(
        &self,
        kind: MemoryKind,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FailedEmbedding>, MemoryError> {
        check_page_limit(limit)?;
        let sql = format!(
            "SELECT id, {} AS text, embedding_error AS error, embedding_failed_at AS failed_at
             FROM {} WHERE embedding_failed_at IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
            kind.text_column(),
            self.scope_source(kind, EmbedScope::Failed),
        );
        let mut args = Args::new();
        args.push(after);
        args.push(limit);
        Ok(self.db.pool(Alias::AiMemory).fetch_all(&sql, args).await?)
    }

    /// Pending and failed rows per kind, for `/metrics`.
    pub async fn embedding_backlog(&self) -> Result<Vec<(MemoryKind, u64, u64)>, MemoryError> {
        let mut out = Vec::new();
        for kind in MemoryKind::ALL {
            let pending = self.count_to_embed(kind, EmbedScope::Pending).await?;
            let failed = self.count_to_embed(kind, EmbedScope::Failed).await?;
            out.push((kind, pending, failed));
        }
        Ok(out)
    }

    /// The table, on SQLite with the partial index a scope's poll must use:
    /// without it the planner once chose to scan the table, vectors included
    /// (6-8 s per poll at 100,000 1536-d rows). Postgres plans it on its own.
    fn scope_source(&self, kind: MemoryKind, scope: EmbedScope) -> String {
        let table = kind.table();
        match (self.backend(), scope) {
            (Backend::Sqlite, EmbedScope::Pending) => {
                format!("{table} INDEXED BY {table}_pending_idx")
            }
            (Backend::Sqlite, EmbedScope::Failed) => {
                format!("{table} INDEXED BY {table}_failed_idx")
            }
            _ => table.to_owned(),
        }
    }

    /// The rows of `scope`, with the model bound as `$1`.
    fn scope_condition(&self, scope: EmbedScope) -> String {
        match scope {
            // `$1 = $1`: Postgres refuses a bound parameter the statement does not use.
            EmbedScope::Pending => {
                "embedding_model IS NULL AND embedding_failed_at IS NULL AND $1 = $1".into()
            }
            EmbedScope::Failed => "embedding_failed_at IS NOT NULL AND $1 = $1".into(),
            EmbedScope::NotCurrent => not_embedded_by(self.backend(), self.dimension()),
        }
    }

    /// The provider's vectors for `rows` through the background path, checked
    /// (dimension, finite, not zero) and normalised.
    async fn background_vectors(&self, rows: &[Row]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let texts: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
        let vectors = self.embedder.embed(&texts).await?;
        vectors
            .into_iter()
            .map(|mut v| {
                normalize(&mut v, self.dimension()).map_err(|e| {
                    EmbedError::Permanent(format!("the provider returned an unusable vector: {e}"))
                })?;
                Ok(v)
            })
            .collect()
    }

    /// Write each row's vector if its text is still the one embedded; returns
    /// how many were written.
    async fn write_vectors(
        &self,
        kind: MemoryKind,
        rows: &[Row],
        vectors: &[Vec<f32>],
    ) -> Result<usize, MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut tx = pool.begin().await?;
        let mut written = 0;
        for ((id, text), vector) in rows.iter().zip(vectors) {
            let mut args = Args::new();
            let sql = format!(
                "UPDATE {} SET {}, embedding_model = {}, embedding_error = NULL, embedding_failed_at = NULL
                 WHERE id = {} AND {} = {}",
                kind.table(),
                args.assignments(pool.dialect().vector_values(Some(vector.clone()))),
                args.push(self.model()),
                args.push(*id),
                kind.text_column(),
                args.push(text.as_str())
            );
            if tx.execute(&sql, args).await? > 0 {
                log_change(&mut tx, kind, *id, "upsert").await?;
                written += 1;
            }
        }
        tx.commit().await?;
        self.engine.sync().await?;
        Ok(written)
    }

    /// Mark a row failed (unless its text changed meanwhile), clearing any
    /// vector of another model it still had, so it neither blocks the start
    /// (`check_models`) nor gets searched. Returns 1 when marked, else 0.
    async fn mark_failed(
        &self,
        kind: MemoryKind,
        (id, text): &Row,
        error: &EmbedError,
    ) -> Result<usize, MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let sql = format!(
            "UPDATE {} SET embedding_error = {}, embedding_failed_at = {}, {}, embedding_model = NULL
             WHERE id = {} AND {} = {}",
            kind.table(),
            args.push(error.to_string()),
            args.push(now_micros()),
            args.assignments(pool.dialect().vector_values(None)),
            args.push(*id),
            kind.text_column(),
            args.push(text.as_str())
        );
        let mut tx = pool.begin().await?;
        let marked = tx.execute(&sql, args).await?;
        if marked > 0 {
            log_change(&mut tx, kind, *id, "upsert").await?;
        }
        tx.commit().await?;
        self.engine.sync().await?;
        Ok(marked as usize)
    }

    /// Say on each row why its embedding is still missing.
    async fn record_embedding_error(
        &self,
        kind: MemoryKind,
        rows: &[Row],
        error: &str,
    ) -> Result<(), MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut tx = pool.begin().await?;
        for (id, _) in rows {
            let mut args = Args::new();
            let sql = format!(
                "UPDATE {} SET embedding_error = {} WHERE id = {}",
                kind.table(),
                args.push(error),
                args.push(*id)
            );
            tx.execute(&sql, args).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How the background worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How often it looks for pending rows when there were none.
    pub idle: Duration,
    /// The longest it waits between tries while the provider fails (the wait
    /// doubles from `idle` up to this).
    pub max_backoff: Duration,
    /// Rows per provider call.
    pub batch: usize,
}

impl Default for WorkerSettings {
    /// A minute at most between tries during an outage: rows stored pending
    /// become searchable at most a minute after the provider is back (sooner
    /// when a request's call finds it back first: the breaker then wakes it).
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            batch: 64,
        }
    }
}

/// Embed pending rows in the background: every `idle` when there is nothing to
/// do, backing off while the provider fails, and at once when the provider is
/// seen back. Stops when `shutdown` turns true, after finishing the batch in hand.
pub fn spawn_pending_worker(
    store: Arc<MemoryStore>,
    settings: WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = settings.idle;
        loop {
            let mut failed = false;
            let mut worked = false;
            for kind in MemoryKind::ALL {
                match store
                    .embed_missing(kind, settings.batch, EmbedScope::Pending)
                    .await
                {
                    Ok(done) => worked |= done.last_id > 0,
                    Err(e) => {
                        tracing::warn!(kind = kind.name(), error = %e, "pending embeddings: will retry");
                        failed = true;
                    }
                }
            }
            delay = if failed {
                (delay * 2).max(settings.idle).min(settings.max_backoff)
            } else if worked {
                Duration::ZERO
            } else {
                settings.idle
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = store.embedder().breaker().recovered() => {
                    delay = settings.idle;
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    })
}
