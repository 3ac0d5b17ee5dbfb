//! CombatMemory: how fights went, searched per mob type (or per named mob)
//! before the next fight.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;

use super::dialect::{MemoryDialect, vector_column};
use super::error::MemoryError;
use super::fetch::{Record, order_pg_rows};
use super::index::PartitionKey;
use super::model::{CombatMemory, MemoryKind, NewCombatMemory, OUTCOMES, Scored};
use super::npc::{Stored, stored};
use super::pg_search::{PgScope, PgSearch};
use super::store::{MemoryStore, log_change};
use crate::db::{Alias, Pool, now_micros};
use crate::with_pool;

impl Record for CombatMemory {
    const KIND: MemoryKind = MemoryKind::Combat;
    const COLUMNS: &'static str = "id, mob_type, mob_level, mob_name, party_composition, party_size, mob_tactics, enemy_tactics, rounds_survived, outcome, hp_remaining_pct, summary, metadata, created_at, embedding_model";
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

/// Which encounters a combat search looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CombatScope {
    /// Every encounter of the mob type.
    #[default]
    PerType,
    /// Only encounters of this named mob (`mob_name`).
    PerInstance,
    /// This mob's encounters first, topped up from its type when fewer than `top_k`.
    Hybrid,
}

/// A search for similar past encounters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombatSearch {
    pub mob_type: String,
    #[serde(default)]
    pub mob_name: Option<String>,
    #[serde(default)]
    pub scope: CombatScope,
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
    pub party_size_min: Option<i32>,
    #[serde(default)]
    pub party_size_max: Option<i32>,
    #[serde(default)]
    pub outcome: Option<String>,
    /// `score = similarity + decisiveness_weight · hp_remaining_pct / 100`; 0 (default) ranks by similarity.
    #[serde(default)]
    pub decisiveness_weight: f32,
}

fn default_top_k() -> usize {
    5
}

impl MemoryStore {
    fn check_new_combat(&self, m: &NewCombatMemory) -> Result<(), MemoryError> {
        self.check_text("mob_type", &m.mob_type, true)?;
        self.check_name("mob_type", &m.mob_type, 80)?;
        self.check_name("mob_name", &m.mob_name, 80)?;
        self.check_text("mob_tactics", &m.mob_tactics, false)?;
        self.check_text("enemy_tactics", &m.enemy_tactics, false)?;
        self.check_text("summary", &m.summary, true)?;
        if !OUTCOMES.contains(&m.outcome.as_str()) {
            return Err(MemoryError::invalid(
                "outcome",
                "must be one of win, loss, fled, draw",
            ));
        }
        if !(0.0..=100.0).contains(&m.hp_remaining_pct) {
            return Err(MemoryError::invalid(
                "hp_remaining_pct",
                "must be between 0 and 100",
            ));
        }
        if m.party_size.is_some_and(|s| s < 0) {
            return Err(MemoryError::invalid("party_size", "must not be negative"));
        }
        if m.rounds_survived < 0 {
            return Err(MemoryError::invalid(
                "rounds_survived",
                "must not be negative",
            ));
        }
        if m.metadata.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(MemoryError::invalid("metadata", "must be a JSON object"));
        }
        if m.party_composition.as_ref().is_some_and(|p| !p.is_array()) {
            return Err(MemoryError::invalid(
                "party_composition",
                "must be a JSON list",
            ));
        }
        Ok(())
    }

    /// Store one encounter record (pending when the provider fails).
    pub async fn store_combat(
        &self,
        m: NewCombatMemory,
    ) -> Result<Stored<CombatMemory>, MemoryError> {
        self.check_new_combat(&m)?;
        let given = self.caller_vector(&m.embedding, &m.embedding_b64)?;
        let vectors = self
            .vectors_for_write(std::slice::from_ref(&m.summary), vec![given])
            .await?;
        let vector = vectors.vectors.into_iter().next().flatten();
        let composition = m
            .party_composition
            .clone()
            .unwrap_or_else(|| serde_json::json!([]));
        let party_size = m
            .party_size
            .unwrap_or_else(|| composition.as_array().map_or(0, |a| a.len() as i32));
        let model = self.model().to_owned();
        // The row comes back from the INSERT itself (see `store_npc_batch`).
        let row: CombatMemory = with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "INSERT INTO ai_memory_combatmemory (mob_type, mob_level, mob_name, party_composition, party_size,
                   mob_tactics, enemy_tactics, rounds_survived, outcome, hp_remaining_pct, summary, metadata,
                   created_at, {}, embedding_model, embedding_error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING {}",
                vector_column(p),
                CombatMemory::COLUMNS
            );
            let mut tx = p.begin_write().await?;
            let row: CombatMemory = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&m.mob_type)
                .bind(m.mob_level)
                .bind(&m.mob_name)
                .bind(Json(&composition))
                .bind(party_size)
                .bind(&m.mob_tactics)
                .bind(&m.enemy_tactics)
                .bind(m.rounds_survived)
                .bind(&m.outcome)
                .bind(m.hp_remaining_pct)
                .bind(&m.summary)
                .bind(Json(
                    m.metadata.clone().unwrap_or_else(|| serde_json::json!({})),
                ))
                .bind(now_micros())
                .bind(p.vector_param(vector.as_deref()))
                .bind(vector.as_ref().map(|_| model.as_str()))
                .bind(vector.is_none().then(|| vectors.error.clone()).flatten())
                .fetch_one(&mut *tx)
                .await?;
            log_change!(p, tx, MemoryKind::Combat, row.id, "upsert");
            tx.commit().await?;
            row
        });
        self.sync_index().await?;
        Ok(stored(row, vectors.error))
    }

    pub async fn get_combat(&self, id: i64) -> Result<CombatMemory, MemoryError> {
        self.fetch::<CombatMemory>(&[id])
            .await?
            .remove(&id)
            .ok_or(MemoryError::NotFound("combat memory"))
    }

    /// Encounters with id greater than `after`, by id, optionally of one mob type / named mob.
    pub async fn list_combat(
        &self,
        mob_type: Option<&str>,
        mob_name: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<CombatMemory>, MemoryError> {
        super::lore::check_page_limit(limit)?;
        Ok(with_pool!(self.db.pool(Alias::AiMemory), |p| {
            let sql = format!(
                "SELECT {} FROM ai_memory_combatmemory WHERE id > $1 AND ($2 IS NULL OR mob_type = $2)
                 AND ($3 IS NULL OR mob_name = $3) ORDER BY id LIMIT $4",
                CombatMemory::COLUMNS
            );
            sqlx::query_as::<_, CombatMemory>(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(mob_type)
                .bind(mob_name)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    pub async fn delete_combat(&self, id: i64) -> Result<(), MemoryError> {
        if self.delete_where(MemoryKind::Combat, "id = $1", id).await? == 0 {
            return Err(MemoryError::NotFound("combat memory"));
        }
        Ok(())
    }

    /// Encounters similar to the query, scoped and filtered as asked.
    pub async fn search_combat(
        &self,
        s: &CombatSearch,
    ) -> Result<Vec<Scored<CombatMemory>>, MemoryError> {
        self.check_top_k(s.top_k)?;
        self.check_text("mob_type", &s.mob_type, true)?;
        if let Some(o) = &s.outcome
            && !OUTCOMES.contains(&o.as_str())
        {
            return Err(MemoryError::invalid(
                "outcome",
                "must be one of win, loss, fled, draw",
            ));
        }
        if !(s.decisiveness_weight.is_finite() && s.decisiveness_weight >= 0.0) {
            return Err(MemoryError::invalid(
                "decisiveness_weight",
                "must be finite and not negative",
            ));
        }
        let mob_name = match (s.scope, s.mob_name.as_deref()) {
            (CombatScope::PerType, _) => None,
            (_, Some(name)) if !name.trim().is_empty() => Some(name),
            _ => {
                return Err(MemoryError::invalid(
                    "mob_name",
                    "required for per_instance and hybrid scopes",
                ));
            }
        };
        let q = self
            .query_vector(
                s.query.as_deref(),
                self.caller_vector(&s.embedding, &s.embedding_b64)?,
            )
            .await?;
        let k = if s.decisiveness_weight > 0.0 {
            (s.top_k * 4).max(50)
        } else {
            s.top_k
        };
        let mut hits = self.rank_combat(s, &q, mob_name, &[], k).await?;
        if s.scope == CombatScope::Hybrid && hits.len() < k {
            let have: Vec<i64> = hits.iter().map(|h| h.0).collect();
            let more = self.rank_combat(s, &q, None, &have, k - hits.len()).await?;
            hits.extend(more);
        }
        let mut results = self.results::<CombatMemory>(hits, k, None, None).await?;
        if s.decisiveness_weight > 0.0 {
            for r in &mut results {
                r.score = r.similarity
                    + s.decisiveness_weight * (r.memory.hp_remaining_pct as f32 / 100.0);
            }
            results.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(b.memory.id.cmp(&a.memory.id))
            });
        }
        results.truncate(s.top_k);
        Ok(results)
    }

    async fn rank_combat(
        &self,
        s: &CombatSearch,
        q: &[f32],
        mob_name: Option<&str>,
        exclude: &[i64],
        k: usize,
    ) -> Result<Vec<(i64, f32)>, MemoryError> {
        match (&self.index, self.db.pool(Alias::AiMemory)) {
            (Some(index), _) => {
                self.sync_index().await?;
                let hits =
                    index.search(&PartitionKey::Combat(s.mob_type.clone()), q, k, |id, m| {
                        mob_name.is_none_or(|n| &*m.mob_name == n)
                            && s.outcome.as_deref().is_none_or(|o| &*m.outcome == o)
                            && s.party_size_min.is_none_or(|min| m.party_size >= min)
                            && s.party_size_max.is_none_or(|max| m.party_size <= max)
                            && !exclude.contains(&id)
                    });
                Ok(hits.into_iter().map(|h| (h.id, h.score)).collect())
            }
            (None, Pool::Postgres(pool)) => {
                let PgSearch { mut tx, tie_break } = self
                    .pg_search_tx(pool, PgScope::MobType(&s.mob_type))
                    .await?;
                let rows: Vec<(i64, f32, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT id, (1 - (embedding_vector <=> $1))::REAL, created_at FROM ai_memory_combatmemory
                     WHERE mob_type = $2 AND embedding_model = $3 AND embedding_vector IS NOT NULL
                       AND ($4::TEXT IS NULL OR mob_name = $4) AND ($5::TEXT IS NULL OR outcome = $5)
                       AND ($6::INTEGER IS NULL OR party_size >= $6) AND ($7::INTEGER IS NULL OR party_size <= $7)
                       AND NOT (id = ANY($8))
                     ORDER BY embedding_vector <=> $1{tie_break} LIMIT $9"
                )))
                .bind(pgvector::Vector::from(q.to_vec()))
                .bind(&s.mob_type)
                .bind(self.model())
                .bind(mob_name)
                .bind(s.outcome.as_deref())
                .bind(s.party_size_min)
                .bind(s.party_size_max)
                .bind(exclude)
                .bind(k as i64)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(order_pg_rows(rows, k))
            }
            (None, Pool::Sqlite(_)) => unreachable!("SQLite mode always has an index"),
        }
    }
}
