//! Records of the three memory kinds, what callers send to create them, and the
//! shape of search results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

/// The three memory stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    Npc,
    Combat,
    Lore,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 3] = [MemoryKind::Npc, MemoryKind::Combat, MemoryKind::Lore];

    pub fn name(self) -> &'static str {
        match self {
            MemoryKind::Npc => "npc",
            MemoryKind::Combat => "combat",
            MemoryKind::Lore => "lore",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            MemoryKind::Npc => "ai_memory_npcmemory",
            MemoryKind::Combat => "ai_memory_combatmemory",
            MemoryKind::Lore => "ai_memory_lorememory",
        }
    }

    /// The column whose text is embedded.
    pub fn text_column(self) -> &'static str {
        match self {
            MemoryKind::Npc | MemoryKind::Combat => "summary",
            MemoryKind::Lore => "content",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        MemoryKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A stored NPC dialogue memory.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct NpcMemory {
    pub id: i64,
    pub npc_id: i64,
    pub speaker_id: i64,
    pub speaker_name: String,
    pub npc_name: String,
    pub user_message: String,
    pub assistant_message: String,
    pub summary: String,
    pub interaction_type: String,
    pub importance: Option<f64>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    /// `None` while the embedding is pending.
    pub embedding_model: Option<String>,
}

/// A new NPC memory. `summary` defaults to the original's
/// `{speaker} said: "{user}" | {npc} replied: "{assistant}"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNpcMemory {
    pub npc_id: i64,
    #[serde(default)]
    pub speaker_id: i64,
    #[serde(default)]
    pub speaker_name: String,
    #[serde(default)]
    pub npc_name: String,
    #[serde(default)]
    pub user_message: String,
    #[serde(default)]
    pub assistant_message: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub interaction_type: Option<String>,
    #[serde(default)]
    pub importance: Option<f64>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The caller's own vector instead of an embedding of the summary.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The same vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
}

impl NewNpcMemory {
    /// The embedded text: the caller's summary, or the original's format.
    pub fn effective_summary(&self) -> String {
        match &self.summary {
            Some(s) if !s.trim().is_empty() => s.clone(),
            _ => format!(
                "{} said: \"{}\" | {} replied: \"{}\"",
                self.speaker_name, self.user_message, self.npc_name, self.assistant_message
            ),
        }
    }
}

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

/// Scope levels of lore entries.
pub const SCOPE_LEVELS: [&str; 4] = ["continental", "regional", "local", "faction"];

/// A stored lore entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LoreMemory {
    pub id: i64,
    pub title: String,
    pub content: String,
    pub scope_level: String,
    pub scope_tags: Json<Vec<String>>,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub embedding_model: Option<String>,
}

/// A lore entry to upsert by (source, title).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLoreMemory {
    pub title: String,
    pub content: String,
    pub scope_level: String,
    #[serde(default)]
    pub scope_tags: Vec<String>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The same vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Whether a stored row is searchable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingState {
    /// Embedded and searchable.
    Ready,
    /// Stored; the embedding provider failed and the background worker will retry.
    Pending,
}

/// One search result: the record, its cosine similarity to the query and the
/// original's wording of its age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored<T> {
    #[serde(flatten)]
    pub memory: T,
    pub similarity: f32,
    /// The blended score when weights were given, else equal to `similarity`.
    pub score: f32,
    pub time_ago: String,
}
