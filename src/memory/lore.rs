//! LoreMemory: world knowledge, upserted by (source, title), searched under the
//! access rule: an entry without tags is for everyone; otherwise every one of its
//! tags must be among the NPC's tags. The rule filters BEFORE ranking on both
//! backends, so nearer inadmissible entries can never starve the result.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;

use super::dialect::{MemoryDialect, vector_column};
use super::error::MemoryError;
use super::fetch::{Record, order_pg_rows};
use super::index::PartitionKey;
use super::model::{LoreMemory, MemoryKind, NewLoreMemory, SCOPE_LEVELS, Scored, UpsertOutcome};
use super::pg_search::{PgScope, PgSearch};
use super::store::{MemoryStore, log_change};
use crate::db::{Alias, Pool, now_micros};
use crate::with_pool;

impl Record for LoreMemory {
    const KIND: MemoryKind = MemoryKind::Lore;
    const COLUMNS: &'static str = "id, title, content, scope_level, scope_tags, source, created_at, updated_at, embedding_model";
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn is_embedded(&self) -> bool {
        self.embedding_model.is_some()
    }
}

/// A lore search for an NPC with the given tags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoreSearch {
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The query vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
    /// The NPC's tags (zone, district, factions).
    #[serde(default)]
    pub npc_tags: Vec<String>,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn default_top_k() -> usize {
    3
}

/// Whether `m` would leave the stored entry `old` as it is.
fn unchanged(old: &LoreMemory, m: &NewLoreMemory, tags: &[String]) -> bool {
    old.content == m.content
        && old.scope_level == m.scope_level
        && normalized_tags(&old.scope_tags.0) == tags
}

/// Page sizes of the list functions: 1 to 500.
pub(crate) fn check_page_limit(limit: i64) -> Result<(), MemoryError> {
    if !(1..=500).contains(&limit) {
        return Err(MemoryError::invalid("limit", "must be between 1 and 500"));
    }
    Ok(())
}

/// True when an NPC with `npc_tags` may read an entry tagged `entry_tags`.
pub fn admissible(entry_tags: &[String], npc_tags: &[String]) -> bool {
    entry_tags.iter().all(|t| npc_tags.contains(t))
}

fn normalized_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl MemoryStore {
    /// Create or update the entry (source, title). Unchanged content, level and
    /// tags make no embedding call. When the new content cannot be embedded now
    /// (the provider is down), the entry is written anyway, pending: its old
    /// vector, which no longer matches its text, is dropped, and the background
    /// worker embeds the new text. Nothing the caller sent is lost.
    pub async fn upsert_lore(
        &self,
        m: NewLoreMemory,
    ) -> Result<(LoreMemory, UpsertOutcome), MemoryError> {
        let tags = self.check_new_lore(&m)?;
        let given = self.caller_vector(&m.embedding, &m.embedding_b64)?;
        let existing = self.lore_by_title(&m.source, &m.title).await?;
        if let Some(old) = &existing
            && unchanged(old, &m, &tags)
            && given.is_none()
        {
            return Ok((old.clone(), UpsertOutcome::Unchanged));
        }
        let vectors = self
            .vectors_for_write(std::slice::from_ref(&m.content), vec![given])
            .await?;
        let vector = vectors.vectors.into_iter().next().flatten();
        let now = now_micros();
        let model = self.model().to_owned();
        let row: LoreMemory = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let col = vector_column(p);
            let sql = format!(
                "INSERT INTO ai_memory_lorememory (source, title, content, scope_level, scope_tags, created_at, updated_at,
                   {col}, embedding_model, embedding_error)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)
                 ON CONFLICT (source, title) DO UPDATE SET content = excluded.content, scope_level = excluded.scope_level,
                   scope_tags = excluded.scope_tags, updated_at = excluded.updated_at, {col} = excluded.{col},
                   embedding_model = excluded.embedding_model, embedding_error = excluded.embedding_error,
                   embedding_failed_at = NULL
                 RETURNING {}",
                LoreMemory::COLUMNS
            );
            let mut tx = p.begin_write().await?;
            let row: LoreMemory = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&m.source)
                .bind(&m.title)
                .bind(&m.content)
                .bind(&m.scope_level)
                .bind(Json(&tags))
                .bind(now)
                .bind(p.vector_param(vector.as_deref()))
                .bind(vector.as_ref().map(|_| model.as_str()))
                .bind(vector.is_none().then(|| vectors.error.clone()).flatten())
                .fetch_one(&mut *tx)
                .await?;
            log_change!(p, tx, MemoryKind::Lore, row.id, "upsert");
            tx.commit().await?;
            row
        });
        self.sync_index().await?;
        let outcome = if existing.is_some() {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Created
        };
        Ok((row, outcome))
    }

    /// What [`upsert_lore`](Self::upsert_lore) would do with `m`, without
    /// writing or embedding anything (for dry runs). Invalid input is an error,
    /// as it would be for the upsert.
    pub async fn preview_lore(&self, m: &NewLoreMemory) -> Result<UpsertOutcome, MemoryError> {
        let tags = self.check_new_lore(m)?;
        let given = self.caller_vector(&m.embedding, &m.embedding_b64)?;
        Ok(match self.lore_by_title(&m.source, &m.title).await? {
            None => UpsertOutcome::Created,
            Some(old) if unchanged(&old, m, &tags) && given.is_none() => UpsertOutcome::Unchanged,
            Some(_) => UpsertOutcome::Updated,
        })
    }

    /// Validate a lore entry; returns its normalised tags.
    fn check_new_lore(&self, m: &NewLoreMemory) -> Result<Vec<String>, MemoryError> {
        self.check_text("title", &m.title, true)?;
        self.check_text("content", &m.content, true)?;
        if m.title.chars().count() > 200 {
            return Err(MemoryError::invalid("title", "at most 200 characters"));
        }
        if m.source.chars().count() > 200 {
            return Err(MemoryError::invalid("source", "at most 200 characters"));
        }
        if !SCOPE_LEVELS.contains(&m.scope_level.as_str()) {
            return Err(MemoryError::invalid(
                "scope_level",
                "must be one of continental, regional, local, faction",
            ));
        }
        Ok(normalized_tags(&m.scope_tags))
    }

    async fn lore_by_title(
        &self,
        source: &str,
        title: &str,
    ) -> Result<Option<LoreMemory>, MemoryError> {
        Ok(with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT {} FROM ai_memory_lorememory WHERE source = $1 AND title = $2",
                LoreMemory::COLUMNS
            );
            sqlx::query_as::<_, LoreMemory>(sqlx::AssertSqlSafe(sql))
                .bind(source)
                .bind(title)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Lore entries with id greater than `after`, by id, optionally of one source.
    pub async fn list_lore(
        &self,
        source: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoreMemory>, MemoryError> {
        check_page_limit(limit)?;
        Ok(with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT {} FROM ai_memory_lorememory WHERE id > $1 AND ($2 IS NULL OR source = $2)
                 ORDER BY id LIMIT $3",
                LoreMemory::COLUMNS
            );
            sqlx::query_as::<_, LoreMemory>(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(source)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    pub async fn get_lore(&self, id: i64) -> Result<LoreMemory, MemoryError> {
        self.fetch::<LoreMemory>(&[id])
            .await?
            .remove(&id)
            .ok_or(MemoryError::NotFound("lore entry"))
    }

    pub async fn delete_lore(&self, id: i64) -> Result<(), MemoryError> {
        if self.delete_where(MemoryKind::Lore, "id = $1", id).await? == 0 {
            return Err(MemoryError::NotFound("lore entry"));
        }
        Ok(())
    }

    /// Titles stored for `source`.
    pub async fn lore_titles(&self, source: &str) -> Result<Vec<(i64, String)>, MemoryError> {
        let rows = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            sqlx::query_as(
                "SELECT id, title FROM ai_memory_lorememory WHERE source = $1 ORDER BY title",
            )
            .bind(source)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Delete the entries of `source` whose title is not in `keep`. Returns the deleted titles.
    pub async fn prune_lore(
        &self,
        source: &str,
        keep: &[String],
    ) -> Result<Vec<String>, MemoryError> {
        let mut gone = Vec::new();
        for (id, title) in self.lore_titles(source).await? {
            if !keep.contains(&title) {
                self.delete_where(MemoryKind::Lore, "id = $1", id).await?;
                gone.push(title);
            }
        }
        Ok(gone)
    }

    /// Lore readable by an NPC with `npc_tags`, most similar first.
    pub async fn search_lore(
        &self,
        s: &LoreSearch,
    ) -> Result<Vec<Scored<LoreMemory>>, MemoryError> {
        self.check_top_k(s.top_k)?;
        let q = self
            .query_vector(
                s.query.as_deref(),
                self.caller_vector(&s.embedding, &s.embedding_b64)?,
            )
            .await?;
        self.search_lore_with_vector(s, &q).await
    }

    pub(crate) async fn search_lore_with_vector(
        &self,
        s: &LoreSearch,
        q: &[f32],
    ) -> Result<Vec<Scored<LoreMemory>>, MemoryError> {
        let npc_tags = normalized_tags(&s.npc_tags);
        let hits = match (&self.index, self.db.pool(Alias::AiMemory)) {
            (Some(index), _) => {
                self.sync_index().await?;
                index
                    .search(&PartitionKey::Lore, q, s.top_k, |_, m| {
                        admissible(&m.tags, &npc_tags)
                    })
                    .into_iter()
                    .map(|h| (h.id, h.score))
                    .collect()
            }
            (None, Pool::Postgres(pool)) => {
                let PgSearch { mut tx, tie_break } = self.pg_search_tx(pool, PgScope::Lore).await?;
                let rows: Vec<(i64, f32, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, (1 - (embedding_vector <=> $1))::REAL, created_at FROM ai_memory_lorememory
                     WHERE embedding_model = $2 AND embedding_vector IS NOT NULL AND scope_tags <@ $3
                     ORDER BY embedding_vector <=> $1{tie_break} LIMIT $4"
                )))
                .bind(pgvector::Vector::from(q.to_vec()))
                .bind(self.model())
                .bind(Json(&npc_tags))
                .bind(s.top_k as i64)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                order_pg_rows(rows, s.top_k)
            }
            (None, Pool::Sqlite(_)) => unreachable!("SQLite mode always has an index"),
        };
        self.results(hits, s.top_k, None, None).await
    }
}
