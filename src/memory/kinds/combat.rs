//! CombatMemory: how fights went, searched per mob type (or per named mob)
//! before the next fight. Beyond the shared operations: the hybrid scope (the
//! named mob first, topped up from its type) and the decisiveness weight.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::db::now_micros;
use crate::memory::engine::Scope;
use crate::memory::error::MemoryError;
use crate::memory::expiry::Lifecycle;
use crate::memory::filter::{Cond, Filter};
use crate::memory::kind::{
    KeyColumn, Kind, KindSpec, ListBy, MemoryKind, MetaColumn, NewRow, Record,
};
use crate::memory::modes::{Query, SearchMode};
use crate::memory::search::{Clock, SearchResults, Shape};
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
    /// When it is forgotten; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The game world's clock when it was made.
    pub game_time: Option<DateTime<Utc>>,
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
    /// When to forget it (RFC 3339, wall clock); not with `ttl_seconds`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Forget it this many seconds after storing it.
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
    /// The game world's clock now (RFC 3339).
    #[serde(default)]
    pub game_time: Option<String>,
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
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    fn is_embedded(&self) -> bool {
        self.embedding_model.is_some()
    }
    fn game_time(&self) -> Option<DateTime<Utc>> {
        self.game_time
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
        columns: "id, mob_type, mob_level, mob_name, party_composition, party_size, mob_tactics, enemy_tactics, rounds_survived, outcome, hp_remaining_pct, summary, metadata, created_at, embedding_model, expires_at, game_time",
        partition: Some(KeyColumn::Text("mob_type")),
        meta: &[
            MetaColumn::text("mob_name"),
            MetaColumn::text("outcome"),
            MetaColumn::int("party_size"),
        ],
        hnsw_index: "combatmemory_embedding_hnsw",
        unique: &[],
        noun: "combat memory",
        npc_column: None,
        dedup_by: &[],
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
        let lifecycle = Lifecycle {
            expires_at: m.expires_at.as_deref(),
            ttl_seconds: m.ttl_seconds,
            game_time: m.game_time.as_deref(),
        }
        .values(now_micros())?;
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
            ]
            .into_iter()
            .chain(lifecycle)
            .collect(),
            text: m.summary,
            embedding: m.embedding,
            embedding_b64: m.embedding_b64,
        })
    }

    fn search(
        store: &MemoryStore,
        search: &CombatSearch,
    ) -> impl Future<Output = Result<SearchResults<CombatMemory>, MemoryError>> + Send {
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
    #[serde(default)]
    pub mode: SearchMode,
    /// The game world's clock now (RFC 3339), for `time_ago`.
    #[serde(default)]
    pub game_now: Option<String>,
}

fn default_top_k() -> usize {
    5
}

impl MemoryStore {
    /// Encounters like the query, scoped and filtered as asked, in the
    /// request's mode.
    pub async fn search_combat(
        &self,
        s: &CombatSearch,
    ) -> Result<SearchResults<CombatMemory>, MemoryError> {
        let query = Query {
            text: s.query.as_deref(),
            embedding: &s.embedding,
            embedding_b64: &s.embedding_b64,
            mode: s.mode,
            top_k: s.top_k,
        };
        self.check_query(&query, None, None)?;
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
        if s.decisiveness_weight > 0.0 && s.mode != SearchMode::Vector {
            return Err(MemoryError::invalid(
                "decisiveness_weight",
                "adds to the similarity: only with mode vector",
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
        let clock = Clock::parse(s.game_now.as_deref())?;
        let q = self.embed_query_for(&query).await?;
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
        let find = |filter: Filter, k: usize| {
            let (scope, q) = (&scope, &q);
            async move {
                self.find::<CombatMemory>(
                    MemoryKind::Combat,
                    scope,
                    &filter,
                    s.mode,
                    query.text,
                    q,
                    k,
                    k,
                )
                .await
            }
        };
        let mut found = find(named, k).await?;
        if s.scope == CombatScope::Hybrid && found.hits.len() < k {
            let have = found.hits.iter().map(|h| h.id).collect();
            let more = find(filter.and(Cond::NotIds(have)), k - found.hits.len()).await?;
            found.hits.extend(more.hits);
            found.records.extend(more.records);
        }
        found.exhausted = found.hits.len() < s.top_k;
        let shape = Shape {
            top_k: k,
            min_similarity: None,
            weights: None,
            clock,
        };
        let mut results = self
            .answer::<CombatMemory>(MemoryKind::Combat, found, shape)
            .await?;
        if s.decisiveness_weight > 0.0 {
            for r in &mut results.items {
                r.score = r.similarity.unwrap_or_default()
                    + s.decisiveness_weight * (r.memory.hp_remaining_pct as f32 / 100.0);
            }
            results.items.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(b.memory.id.cmp(&a.memory.id))
            });
        }
        results.items.truncate(s.top_k);
        results.requested = s.top_k;
        results.returned = results.items.len();
        Ok(results)
    }
}
