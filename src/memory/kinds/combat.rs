//! CombatMemory: how fights went, searched per mob type (or per named mob)
//! before the next fight. Beyond the shared operations: the hybrid scope (the
//! named mob first, topped up from its type) and the decisiveness weight.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::memory::engine::Scope;
use crate::memory::error::MemoryError;
use crate::memory::filter::{Cond, Filter};
use crate::memory::kind::{
    KeyColumn, Kind, KindSpec, ListBy, MemoryKind, MetaColumn, NewRow, Record,
};
use crate::memory::model::Scored;
use crate::memory::store::MemoryStore;

use super::npc::object_or_empty;

pub struct Combat;

/// Outcome of a fight, from the mob's side.
pub const OUTCOMES: [&str; 4] = ["win", "loss", "fled", "draw"];

/// A stored combat encounter.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CombatMemory {
    pub id: i64,
    pub mob_type: String,
    pub mob_level: i32,
    pub mob_name: String,
    pub party_composition: Json<serde_json::Value>,
    pub party_size: i32,
    pub mob_tactics: String,
    pub enemy_tactics: String,
    pub rounds_survived: i32,
    pub outcome: String,
    pub hp_remaining_pct: f64,
    pub summary: String,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub embedding_model: Option<String>,
}

/// A new combat encounter record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCombatMemory {
    pub mob_type: String,
    #[serde(default = "one")]
    pub mob_level: i32,
    #[serde(default)]
    pub mob_name: String,
    #[serde(default)]
    pub party_composition: Option<serde_json::Value>,
    #[serde(default)]
    pub party_size: Option<i32>,
    #[serde(default)]
    pub mob_tactics: String,
    #[serde(default)]
    pub enemy_tactics: String,
    #[serde(default)]
    pub rounds_survived: i32,
    pub outcome: String,
    #[serde(default)]
    pub hp_remaining_pct: f64,
    pub summary: String,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The same vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
}

fn one() -> i32 {
    1
}

impl Record for CombatMemory {
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

fn check_outcome(outcome: &str) -> Result<(), MemoryError> {
    if OUTCOMES.contains(&outcome) {
        Ok(())
    } else {
        Err(MemoryError::invalid(
            "outcome",
            "must be one of win, loss, fled, draw",
        ))
    }
}

impl Kind for Combat {
    const ID: MemoryKind = MemoryKind::Combat;
    const SPEC: KindSpec = KindSpec {
        name: "combat",
        table: "ai_memory_combatmemory",
        text_column: "summary",
        columns: "id, mob_type, mob_level, mob_name, party_composition, party_size, mob_tactics, enemy_tactics, rounds_survived, outcome, hp_remaining_pct, summary, metadata, created_at, embedding_model",
        partition: Some(KeyColumn::Text("mob_type")),
        meta: &[
            MetaColumn::text("mob_name"),
            MetaColumn::text("outcome"),
            MetaColumn::int("party_size"),
        ],
        hnsw_index: "combatmemory_embedding_hnsw",
        unique: &[],
        noun: "combat memory",
    };
    const LIST_BY: &'static [ListBy] = &[ListBy::Text("mob_type"), ListBy::Text("mob_name")];
    type Record = CombatMemory;
    type Search = CombatSearch;
    type New = NewCombatMemory;

    fn prepare(store: &MemoryStore, m: NewCombatMemory) -> Result<NewRow, MemoryError> {
        store.check_text("mob_type", &m.mob_type, true)?;
        store.check_name("mob_type", &m.mob_type, 80)?;
        store.check_name("mob_name", &m.mob_name, 80)?;
        store.check_text("mob_tactics", &m.mob_tactics, false)?;
        store.check_text("enemy_tactics", &m.enemy_tactics, false)?;
        store.check_text("summary", &m.summary, true)?;
        check_outcome(&m.outcome)?;
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
        let metadata = object_or_empty("metadata", m.metadata)?;
        let composition = match m.party_composition {
            None => serde_json::json!([]),
            Some(p) if p.is_array() => p,
            Some(_) => {
                return Err(MemoryError::invalid(
                    "party_composition",
                    "must be a JSON list",
                ));
            }
        };
        let party_size = m
            .party_size
            .unwrap_or_else(|| composition.as_array().map_or(0, |a| a.len() as i32));
        Ok(NewRow {
            values: vec![
                ("mob_type", m.mob_type.into()),
                ("mob_level", m.mob_level.into()),
                ("mob_name", m.mob_name.into()),
                ("party_composition", composition.into()),
                ("party_size", party_size.into()),
                ("mob_tactics", m.mob_tactics.into()),
                ("enemy_tactics", m.enemy_tactics.into()),
                ("rounds_survived", m.rounds_survived.into()),
                ("outcome", m.outcome.into()),
                ("hp_remaining_pct", m.hp_remaining_pct.into()),
                ("summary", m.summary.clone().into()),
                ("metadata", metadata.into()),
            ],
            text: m.summary,
            embedding: m.embedding,
            embedding_b64: m.embedding_b64,
        })
    }

    fn search(
        store: &MemoryStore,
        search: &CombatSearch,
    ) -> impl Future<Output = Result<Vec<Scored<CombatMemory>>, MemoryError>> + Send {
        store.search_combat(search)
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
    /// Encounters similar to the query, scoped and filtered as asked.
    pub async fn search_combat(
        &self,
        s: &CombatSearch,
    ) -> Result<Vec<Scored<CombatMemory>>, MemoryError> {
        self.check_top_k(s.top_k)?;
        self.check_text("mob_type", &s.mob_type, true)?;
        if let Some(o) = &s.outcome {
            check_outcome(o)?;
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
            .query_vector(s.query.as_deref(), &s.embedding, &s.embedding_b64)
            .await?;
        let k = if s.decisiveness_weight > 0.0 {
            (s.top_k * 4).max(50)
        } else {
            s.top_k
        };
        let scope = Scope::Text(s.mob_type.clone());
        let filter = Filter::all()
            .and_some(s.outcome.clone().map(|o| Cond::Eq("outcome", o.into())))
            .and_some(
                s.party_size_min
                    .map(|n| Cond::AtLeast("party_size", n.into())),
            )
            .and_some(
                s.party_size_max
                    .map(|n| Cond::AtMost("party_size", n.into())),
            );
        let named = filter
            .clone()
            .and_some(mob_name.map(|n| Cond::Eq("mob_name", n.into())));
        let mut hits = self.rank(MemoryKind::Combat, &scope, &q, k, &named).await?;
        if s.scope == CombatScope::Hybrid && hits.len() < k {
            let have = hits.iter().map(|h| h.0).collect();
            let rest = filter.and(Cond::NotIds(have));
            let more = self
                .rank(MemoryKind::Combat, &scope, &q, k - hits.len(), &rest)
                .await?;
            hits.extend(more);
        }
        let mut results = self
            .results::<CombatMemory>(MemoryKind::Combat, hits, k, None, None)
            .await?;
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
}
