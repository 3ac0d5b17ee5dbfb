//! NpcMemory: what an NPC heard and said, searched per NPC (and speaker).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::dialect::{MemoryDialect, vector_column};
use super::error::MemoryError;
use super::fetch::{Record, Weights, candidates, order_hits, order_pg_rows};
use super::index::PartitionKey;
use super::model::{EmbeddingState, MemoryKind, NewNpcMemory, NpcMemory, Scored};
use super::pg_search::{PgScope, PgSearch};
use super::store::{MemoryStore, log_change};
use super::time_ago::time_ago;
use crate::db::{Alias, Pool, now_micros};
use crate::with_pool;

impl Record for NpcMemory {
    const KIND: MemoryKind = MemoryKind::Npc;
    const COLUMNS: &'static str = "id, npc_id, speaker_id, speaker_name, npc_name, user_message, assistant_message, summary, interaction_type, importance, metadata, created_at, embedding_model";
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn importance(&self) -> f32 {
        self.importance.unwrap_or(0.0) as f32
    }
    fn is_embedded(&self) -> bool {
        self.embedding_model.is_some()
    }
}

/// A semantic search over one NPC's memories.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcSearch {
    pub npc_id: i64,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The query vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    #[serde(default)]
    pub speaker_id: Option<i64>,
    /// Used when `speaker_id` has no memories with this NPC (ids change across game wipes).
    #[serde(default)]
    pub speaker_name: Option<String>,
    /// Used when `npc_id` has no memories at all.
    #[serde(default)]
    pub npc_name: Option<String>,
    #[serde(default)]
    pub min_similarity: Option<f32>,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub weights: Option<Weights>,
}

fn default_top_k() -> usize {
    5
}

/// What a store did with one memory.
#[derive(Debug, Clone, Serialize)]
pub struct Stored<T> {
    #[serde(flatten)]
    pub memory: T,
    pub embedding_state: EmbeddingState,
    /// Why the embedding is pending, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_error: Option<String>,
}

/// A stored record: ready when it has its embedding, else pending for `error`.
pub(crate) fn stored<T: Record>(memory: T, error: Option<String>) -> Stored<T> {
    let pending = !memory.is_embedded();
    Stored {
        memory,
        embedding_state: if pending {
            EmbeddingState::Pending
        } else {
            EmbeddingState::Ready
        },
        embedding_error: if pending { error } else { None },
    }
}

/// The newest memory between an NPC and a speaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastInteraction {
    pub created_at: DateTime<Utc>,
    pub time_ago: String,
}

/// How the speaker filter ended up being applied.
#[derive(Debug, Clone, PartialEq)]
enum Speaker {
    Any,
    Id(i64),
    Name(String),
}

impl Speaker {
    fn id(&self) -> Option<i64> {
        match self {
            Speaker::Id(id) => Some(*id),
            _ => None,
        }
    }
    fn name(&self) -> Option<&str> {
        match self {
            Speaker::Name(n) => Some(n),
            _ => None,
        }
    }
}

impl MemoryStore {
    fn check_new_npc(&self, m: &NewNpcMemory) -> Result<String, MemoryError> {
        self.check_name("speaker_name", &m.speaker_name, 80)?;
        self.check_name("npc_name", &m.npc_name, 80)?;
        self.check_text("user_message", &m.user_message, false)?;
        self.check_text("assistant_message", &m.assistant_message, false)?;
        if m.user_message.trim().is_empty()
            && m.assistant_message.trim().is_empty()
            && m.summary.as_deref().is_none_or(|s| s.trim().is_empty())
        {
            return Err(MemoryError::invalid(
                "summary",
                "give user_message, assistant_message or summary",
            ));
        }
        if let Some(i) = m.importance
            && !(0.0..=1.0).contains(&i)
        {
            return Err(MemoryError::invalid(
                "importance",
                "must be between 0 and 1",
            ));
        }
        if m.metadata.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(MemoryError::invalid("metadata", "must be a JSON object"));
        }
        let interaction = m.interaction_type.as_deref().unwrap_or("say");
        if interaction.is_empty() || interaction.len() > 20 {
            return Err(MemoryError::invalid(
                "interaction_type",
                "must be 1 to 20 characters",
            ));
        }
        let summary = m.effective_summary();
        self.check_text("summary", &summary, true)?;
        Ok(summary)
    }

    /// Store one NPC memory. Committed even when the embedding provider fails
    /// (then `Pending`, and the background worker embeds it later).
    pub async fn store_npc(&self, m: NewNpcMemory) -> Result<Stored<NpcMemory>, MemoryError> {
        let stored = self.store_npc_batch(vec![m]).await?;
        stored
            .into_iter()
            .next()
            .ok_or_else(|| MemoryError::invalid("memories", "must not be empty"))
    }

    /// Store many NPC memories: one provider call, one transaction, all or nothing.
    pub async fn store_npc_batch(
        &self,
        batch: Vec<NewNpcMemory>,
    ) -> Result<Vec<Stored<NpcMemory>>, MemoryError> {
        if batch.is_empty() {
            return Err(MemoryError::invalid("memories", "must not be empty"));
        }
        let summaries = batch
            .iter()
            .map(|m| self.check_new_npc(m))
            .collect::<Result<Vec<_>, _>>()?;
        let given = batch
            .iter()
            .map(|m| self.caller_vector(&m.embedding, &m.embedding_b64))
            .collect::<Result<Vec<_>, _>>()?;
        let vectors = self.vectors_for_write(&summaries, given).await?;
        let now = now_micros();
        let model = self.model().to_owned();
        // The rows come back from the INSERT itself: reading them again after the
        // commit could find one already deleted by a concurrent forget.
        let rows: Vec<NpcMemory> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "INSERT INTO ai_memory_npcmemory (npc_id, speaker_id, speaker_name, npc_name, user_message,
                   assistant_message, summary, interaction_type, importance, metadata, created_at,
                   {}, embedding_model, embedding_error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {}",
                vector_column(p),
                NpcMemory::COLUMNS
            );
            let mut tx = p.begin_write().await?;
            let mut rows = Vec::with_capacity(batch.len());
            for ((m, summary), vector) in batch.iter().zip(&summaries).zip(&vectors.vectors) {
                let row: NpcMemory = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(m.npc_id)
                    .bind(m.speaker_id)
                    .bind(&m.speaker_name)
                    .bind(&m.npc_name)
                    .bind(&m.user_message)
                    .bind(&m.assistant_message)
                    .bind(summary)
                    .bind(m.interaction_type.as_deref().unwrap_or("say"))
                    .bind(m.importance)
                    .bind(Json(
                        m.metadata.clone().unwrap_or_else(|| serde_json::json!({})),
                    ))
                    .bind(now)
                    .bind(p.vector_param(vector.as_deref()))
                    .bind(vector.as_ref().map(|_| model.as_str()))
                    .bind(vector.is_none().then(|| vectors.error.clone()).flatten())
                    .fetch_one(&mut *tx)
                    .await?;
                log_change!(p, tx, MemoryKind::Npc, row.id, "upsert");
                rows.push(row);
            }
            tx.commit().await?;
            rows
        });
        self.sync_index().await?;
        Ok(rows
            .into_iter()
            .map(|memory| stored(memory, vectors.error.clone()))
            .collect())
    }

    /// The NPC ids to search: `npc_id` when it has memories, else every id that
    /// has memories under `npc_name` (ids change when a game world is rebuilt).
    async fn resolve_npcs(
        &self,
        npc_id: i64,
        npc_name: Option<&str>,
    ) -> Result<Vec<i64>, MemoryError> {
        // SQLite mode: an NPC with searchable rows has a partition in memory, so the
        // common case needs no query on the search path.
        if self
            .index
            .as_ref()
            .is_some_and(|i| i.has_partition(&PartitionKey::Npc(npc_id)))
        {
            return Ok(vec![npc_id]);
        }
        let has_rows: Option<(i64,)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            sqlx::query_as("SELECT id FROM ai_memory_npcmemory WHERE npc_id = $1 LIMIT 1")
                .bind(npc_id)
                .fetch_optional(p)
                .await?
        });
        match (has_rows, npc_name) {
            (None, Some(name)) if !name.trim().is_empty() => {
                let ids: Vec<(i64,)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
                    sqlx::query_as(
                        "SELECT DISTINCT npc_id FROM ai_memory_npcmemory WHERE npc_name = $1",
                    )
                    .bind(name)
                    .fetch_all(p)
                    .await?
                });
                Ok(ids.into_iter().map(|(id,)| id).collect())
            }
            _ => Ok(vec![npc_id]),
        }
    }

    /// The speaker filter: by id when that id has memories with these NPCs,
    /// else by name when one is given.
    async fn resolve_speaker(
        &self,
        npc_ids: &[i64],
        speaker_id: Option<i64>,
        speaker_name: Option<&str>,
    ) -> Result<Speaker, MemoryError> {
        let Some(id) = speaker_id else {
            return Ok(match speaker_name {
                Some(n) if !n.trim().is_empty() => Speaker::Name(n.to_owned()),
                _ => Speaker::Any,
            });
        };
        let Some(name) = speaker_name.filter(|n| !n.trim().is_empty()) else {
            return Ok(Speaker::Id(id));
        };
        let found: Option<(i64,)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT id FROM ai_memory_npcmemory WHERE speaker_id = $1 AND npc_id IN (SELECT value FROM {}) LIMIT 1",
                p.pick("json_each($2)", "unnest($2::BIGINT[]) AS value")
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(p.ids_param(npc_ids))
                .fetch_optional(p)
                .await?
        });
        Ok(if found.is_some() {
            Speaker::Id(id)
        } else {
            Speaker::Name(name.to_owned())
        })
    }

    /// Semantic search over one NPC's memories (most similar first).
    pub async fn search_npc(&self, s: &NpcSearch) -> Result<Vec<Scored<NpcMemory>>, MemoryError> {
        self.check_top_k(s.top_k)?;
        if let Some(w) = &s.weights {
            w.validate()?;
        }
        let q = self
            .query_vector(
                s.query.as_deref(),
                self.caller_vector(&s.embedding, &s.embedding_b64)?,
            )
            .await?;
        self.search_npc_with_vector(s, &q).await
    }

    /// [`search_npc`](Self::search_npc) with the query already embedded.
    pub(crate) async fn search_npc_with_vector(
        &self,
        s: &NpcSearch,
        q: &[f32],
    ) -> Result<Vec<Scored<NpcMemory>>, MemoryError> {
        let npc_ids = self.resolve_npcs(s.npc_id, s.npc_name.as_deref()).await?;
        let speaker = self
            .resolve_speaker(&npc_ids, s.speaker_id, s.speaker_name.as_deref())
            .await?;
        let k = candidates(s.top_k, &s.weights);
        let since = s.since.map(|t| t.timestamp_micros());
        let until = s.until.map(|t| t.timestamp_micros());
        let hits = match (&self.index, self.db.pool(Alias::AiMemory)) {
            (Some(index), _) => {
                self.sync_index().await?;
                let mut all = Vec::new();
                for &npc in &npc_ids {
                    let found = index.search(&PartitionKey::Npc(npc), q, k, |_, m| {
                        let speaker_ok = match &speaker {
                            Speaker::Any => true,
                            Speaker::Id(id) => m.speaker_id == *id,
                            Speaker::Name(n) => &*m.speaker_name == n.as_str(),
                        };
                        speaker_ok
                            && since.is_none_or(|t| m.created_at >= t)
                            && until.is_none_or(|t| m.created_at < t)
                    });
                    all.extend(found.into_iter().map(|h| (h.id, h.score, h.created_at)));
                }
                order_hits(all, k)
            }
            (None, Pool::Postgres(pool)) => {
                let PgSearch { mut tx, tie_break } =
                    self.pg_search_tx(pool, PgScope::Npcs(&npc_ids)).await?;
                let rows: Vec<(i64, f32, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, (1 - (embedding_vector <=> $1))::REAL, created_at FROM ai_memory_npcmemory
                     WHERE npc_id = ANY($2) AND embedding_model = $3 AND embedding_vector IS NOT NULL
                       AND ($4::BIGINT IS NULL OR speaker_id = $4) AND ($5::TEXT IS NULL OR speaker_name = $5)
                       AND ($6::TIMESTAMPTZ IS NULL OR created_at >= $6) AND ($7::TIMESTAMPTZ IS NULL OR created_at < $7)
                     ORDER BY embedding_vector <=> $1{tie_break} LIMIT $8"
                )))
                .bind(pgvector::Vector::from(q.to_vec()))
                .bind(&npc_ids)
                .bind(self.model())
                .bind(speaker.id())
                .bind(speaker.name())
                .bind(s.since)
                .bind(s.until)
                .bind(k as i64)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                order_pg_rows(rows, k)
            }
            (None, Pool::Sqlite(_)) => unreachable!("SQLite mode always has an index"),
        };
        self.results(hits, s.top_k, s.min_similarity, s.weights)
            .await
    }

    /// The newest `limit` memories of an NPC (optionally with one speaker),
    /// returned oldest first; pending rows included.
    pub async fn recent_npc(
        &self,
        npc_id: i64,
        limit: i64,
        speaker_id: Option<i64>,
        npc_name: Option<&str>,
    ) -> Result<Vec<NpcMemory>, MemoryError> {
        if !(1..=100).contains(&limit) {
            return Err(MemoryError::invalid("limit", "must be between 1 and 100"));
        }
        let npc_ids = self.resolve_npcs(npc_id, npc_name).await?;
        let mut rows: Vec<NpcMemory> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            // Pick the ids first, then read the rows: sorting whole rows would
            // read every matching row's columns, and on SQLite those stored
            // after the vector blob sit in overflow pages (5,000 rows: ~5 ms).
            let sql = format!(
                "SELECT {} FROM ai_memory_npcmemory WHERE id IN (
                   SELECT id FROM ai_memory_npcmemory WHERE npc_id IN (SELECT value FROM {})
                   AND ($2 IS NULL OR speaker_id = $2) ORDER BY created_at DESC, id DESC LIMIT $3)
                 ORDER BY created_at DESC, id DESC",
                NpcMemory::COLUMNS,
                p.pick("json_each($1)", "unnest($1::BIGINT[]) AS value")
            );
            sqlx::query_as::<_, NpcMemory>(sqlx::AssertSqlSafe(sql))
                .bind(p.ids_param(&npc_ids))
                .bind(speaker_id)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        rows.reverse();
        Ok(rows)
    }

    /// When this NPC last talked with this speaker.
    pub async fn last_interaction(
        &self,
        npc_id: i64,
        speaker_id: i64,
    ) -> Result<Option<LastInteraction>, MemoryError> {
        let newest: Option<(DateTime<Utc>,)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            sqlx::query_as(
                "SELECT created_at FROM ai_memory_npcmemory WHERE npc_id = $1 AND speaker_id = $2
                 ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(npc_id)
            .bind(speaker_id)
            .fetch_optional(p)
            .await?
        });
        Ok(newest.map(|(created_at,)| LastInteraction {
            time_ago: time_ago(created_at, Utc::now()),
            created_at,
        }))
    }

    pub async fn get_npc(&self, id: i64) -> Result<NpcMemory, MemoryError> {
        self.fetch::<NpcMemory>(&[id])
            .await?
            .remove(&id)
            .ok_or(MemoryError::NotFound("npc memory"))
    }

    /// NPC memories with id greater than `after`, oldest first, optionally for one NPC/speaker.
    pub async fn list_npc(
        &self,
        npc_id: Option<i64>,
        speaker_id: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<NpcMemory>, MemoryError> {
        if !(1..=500).contains(&limit) {
            return Err(MemoryError::invalid("limit", "must be between 1 and 500"));
        }
        let rows = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT {} FROM ai_memory_npcmemory WHERE id > $1 AND ($2 IS NULL OR npc_id = $2)
                 AND ($3 IS NULL OR speaker_id = $3) ORDER BY id LIMIT $4",
                NpcMemory::COLUMNS
            );
            sqlx::query_as::<_, NpcMemory>(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(npc_id)
                .bind(speaker_id)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    /// Delete one NPC memory.
    pub async fn delete_npc(&self, id: i64) -> Result<(), MemoryError> {
        let n = self.delete_where(MemoryKind::Npc, "id = $1", id).await?;
        if n == 0 {
            return Err(MemoryError::NotFound("npc memory"));
        }
        Ok(())
    }

    /// Forget everything an NPC remembers. Returns how many memories went.
    pub async fn forget_npc(&self, npc_id: i64) -> Result<u64, MemoryError> {
        self.delete_where(MemoryKind::Npc, "npc_id = $1", npc_id)
            .await
    }

    /// Forget a speaker in every NPC's memory. Returns how many memories went.
    pub async fn forget_speaker(&self, speaker_id: i64) -> Result<u64, MemoryError> {
        self.delete_where(MemoryKind::Npc, "speaker_id = $1", speaker_id)
            .await
    }

    /// Delete the rows of `kind` matching `condition` (one `$1` bound to `value`),
    /// logging each deleted id in the same transaction.
    pub(crate) async fn delete_where<V>(
        &self,
        kind: MemoryKind,
        condition: &'static str,
        value: V,
    ) -> Result<u64, MemoryError>
    where
        V: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Sqlite>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Clone,
    {
        let sql = format!(
            "DELETE FROM {} WHERE {condition} RETURNING id",
            kind.table()
        );
        let deleted: Vec<(i64,)> = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let mut tx = p.begin_write().await?;
            let ids: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(value.clone())
                .fetch_all(&mut *tx)
                .await?;
            for (id,) in &ids {
                log_change!(p, tx, kind, *id, "delete");
            }
            tx.commit().await?;
            ids
        });
        self.sync_index().await?;
        Ok(deleted.len() as u64)
    }
}
