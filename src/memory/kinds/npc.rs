//! NpcMemory: what an NPC heard and said, searched per NPC (and speaker).
//! Beyond the shared operations: the name fallbacks after a game wipe; the
//! newest memories, the last interaction and forgetting an NPC or a speaker
//! are in `npc_recall`. NPC memories are the kind deduplicated and held to
//! per-NPC budgets (`dedup_by`, `npc_column`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::db::{Alias, Args, SqlValue, now_micros};
use crate::memory::engine::Scope;
use crate::memory::error::MemoryError;
use crate::memory::expiry::Lifecycle;
use crate::memory::filter::{Cond, Filter};
use crate::memory::index::KeyValue;
use crate::memory::kind::{
    KeyColumn, Kind, KindSpec, ListBy, MemoryKind, MetaColumn, NewRow, Record,
};
use crate::memory::modes::{Embedded, Query, SearchMode};
use crate::memory::search::{Clock, SearchResults, Shape, Weights, candidates};
use crate::memory::store::MemoryStore;

pub struct Npc;

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
    /// When it is forgotten; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The game world's clock when it was made.
    pub game_time: Option<DateTime<Utc>>,
    /// How often it was stored within the dedup window (1: once).
    pub repeat_count: i32,
    /// When it was last stored again (its `created_at` until repeated).
    pub last_seen_at: DateTime<Utc>,
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

impl Record for NpcMemory {
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
    fn importance(&self) -> f32 {
        self.importance.unwrap_or(0.0) as f32
    }
    fn game_time(&self) -> Option<DateTime<Utc>> {
        self.game_time
    }
}

impl Kind for Npc {
    const ID: MemoryKind = MemoryKind::Npc;
    const SPEC: KindSpec = KindSpec {
        name: "npc",
        table: "ai_memory_npcmemory",
        text_column: "summary",
        columns: "id, npc_id, speaker_id, speaker_name, npc_name, user_message, assistant_message, summary, interaction_type, importance, metadata, created_at, embedding_model, expires_at, game_time, repeat_count, COALESCE(last_seen_at, created_at) AS last_seen_at",
        partition: Some(KeyColumn::Int("npc_id")),
        meta: &[
            MetaColumn::int("speaker_id"),
            MetaColumn::text("speaker_name"),
        ],
        hnsw_index: "npcmemory_embedding_hnsw",
        unique: &[],
        noun: "npc memory",
        npc_column: Some("npc_id"),
        dedup_by: &["npc_id", "speaker_id"],
    };
    const LIST_BY: &'static [ListBy] = &[ListBy::Int("npc_id"), ListBy::Int("speaker_id")];
    type Record = NpcMemory;
    type Search = NpcSearch;
    type New = NewNpcMemory;

    fn prepare(store: &MemoryStore, m: NewNpcMemory) -> Result<NewRow, MemoryError> {
        store.check_name("speaker_name", &m.speaker_name, 80)?;
        store.check_name("npc_name", &m.npc_name, 80)?;
        store.check_text("user_message", &m.user_message, false)?;
        store.check_text("assistant_message", &m.assistant_message, false)?;
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
        let metadata = object_or_empty("metadata", m.metadata.clone())?;
        let interaction = m.interaction_type.clone().unwrap_or_else(|| "say".into());
        if interaction.is_empty() || interaction.len() > 20 {
            return Err(MemoryError::invalid(
                "interaction_type",
                "must be 1 to 20 characters",
            ));
        }
        let summary = m.effective_summary();
        store.check_text("summary", &summary, true)?;
        let lifecycle = Lifecycle {
            expires_at: m.expires_at.as_deref(),
            ttl_seconds: m.ttl_seconds,
            game_time: m.game_time.as_deref(),
        }
        .values(now_micros())?;
        Ok(NewRow {
            values: vec![
                ("npc_id", m.npc_id.into()),
                ("speaker_id", m.speaker_id.into()),
                ("speaker_name", m.speaker_name.into()),
                ("npc_name", m.npc_name.into()),
                ("user_message", m.user_message.into()),
                ("assistant_message", m.assistant_message.into()),
                ("summary", summary.clone().into()),
                ("interaction_type", interaction.into()),
                ("importance", m.importance.into()),
                ("metadata", metadata.into()),
            ]
            .into_iter()
            .chain(lifecycle)
            .collect(),
            text: summary,
            embedding: m.embedding,
            embedding_b64: m.embedding_b64,
        })
    }

    fn search(
        store: &MemoryStore,
        search: &NpcSearch,
    ) -> impl Future<Output = Result<SearchResults<NpcMemory>, MemoryError>> + Send {
        store.search_npc(search)
    }
}

/// A JSON object, `{}` when absent; anything else is refused naming `field`.
pub(crate) fn object_or_empty(
    field: &'static str,
    value: Option<serde_json::Value>,
) -> Result<serde_json::Value, MemoryError> {
    match value {
        None => Ok(serde_json::json!({})),
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(MemoryError::invalid(field, "must be a JSON object")),
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
    #[serde(default)]
    pub mode: SearchMode,
    /// The game world's clock now (RFC 3339): ages (`time_ago`, recency) of
    /// memories with a `game_time` are measured on it.
    #[serde(default)]
    pub game_now: Option<String>,
}

fn default_top_k() -> usize {
    5
}

impl NpcSearch {
    fn query(&self) -> Query<'_> {
        Query {
            text: self.query.as_deref(),
            embedding: &self.embedding,
            embedding_b64: &self.embedding_b64,
            mode: self.mode,
            top_k: self.top_k,
        }
    }
}

impl MemoryStore {
    /// The NPC ids to search: `npc_id` when it has memories, else every id that
    /// has memories under `npc_name` (ids change when a game world is rebuilt).
    pub(super) async fn resolve_npcs(
        &self,
        npc_id: i64,
        npc_name: Option<&str>,
    ) -> Result<Vec<i64>, MemoryError> {
        // Without a name there is nothing to fall back on: no query. SQLite mode:
        // an NPC with searchable rows has a partition in memory, so the common
        // case needs no query either.
        let Some(name) = npc_name.filter(|n| !n.trim().is_empty()) else {
            return Ok(vec![npc_id]);
        };
        if self
            .engine
            .surely_has(MemoryKind::Npc, KeyValue::Int(npc_id))
        {
            return Ok(vec![npc_id]);
        }
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let sql = format!(
            "SELECT id FROM ai_memory_npcmemory WHERE npc_id = {} LIMIT 1",
            args.push(npc_id)
        );
        let has_rows: Option<(i64,)> = pool.fetch_optional(&sql, args).await?;
        if has_rows.is_some() {
            return Ok(vec![npc_id]);
        }
        let mut args = Args::new();
        let sql = format!(
            "SELECT DISTINCT npc_id FROM ai_memory_npcmemory WHERE npc_name = {}",
            args.push(name)
        );
        let ids: Vec<(i64,)> = pool.fetch_all(&sql, args).await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// The speaker condition: by id when that id has memories with these NPCs,
    /// else by name when one is given.
    async fn speaker_cond(
        &self,
        npc_ids: &[i64],
        speaker_id: Option<i64>,
        speaker_name: Option<&str>,
    ) -> Result<Option<Cond>, MemoryError> {
        let name = speaker_name.filter(|n| !n.trim().is_empty());
        let by_name = || name.map(|n| Cond::Eq("speaker_name", n.into()));
        let Some(id) = speaker_id else {
            return Ok(by_name());
        };
        if name.is_none() {
            return Ok(Some(Cond::Eq("speaker_id", id.into())));
        }
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let speaker = args.push(id);
        let npcs = args.push(SqlValue::Ints(npc_ids.to_vec()));
        let sql = format!(
            "SELECT id FROM ai_memory_npcmemory WHERE speaker_id = {speaker} AND {} LIMIT 1",
            pool.dialect().in_list("npc_id", &npcs)
        );
        let found: Option<(i64,)> = pool.fetch_optional(&sql, args).await?;
        Ok(match found {
            Some(_) => Some(Cond::Eq("speaker_id", id.into())),
            None => by_name(),
        })
    }

    /// Search one NPC's memories in the request's mode (best first).
    pub async fn search_npc(&self, s: &NpcSearch) -> Result<SearchResults<NpcMemory>, MemoryError> {
        let query = s.query();
        self.check_query(&query, s.weights.as_ref(), s.min_similarity)?;
        let clock = Clock::parse(s.game_now.as_deref())?;
        let q = self.embed_query_for(&query).await?;
        self.search_npc_embedded(s, &q, clock).await
    }

    /// [`search_npc`](Self::search_npc) with the query already embedded (or not,
    /// for keyword search).
    pub(crate) async fn search_npc_embedded(
        &self,
        s: &NpcSearch,
        q: &Embedded,
        clock: Clock,
    ) -> Result<SearchResults<NpcMemory>, MemoryError> {
        let npc_ids = self.resolve_npcs(s.npc_id, s.npc_name.as_deref()).await?;
        let speaker = self
            .speaker_cond(&npc_ids, s.speaker_id, s.speaker_name.as_deref())
            .await?;
        let filter = Filter::all()
            .and_some(speaker)
            .and_some(s.since.map(|t| Cond::AtLeast("created_at", t.into())))
            .and_some(s.until.map(|t| Cond::Below("created_at", t.into())));
        let k = candidates(s.top_k, &s.weights);
        let scope = Scope::Ints(npc_ids);
        let text = s.query.as_deref();
        let found = self
            .find::<NpcMemory>(
                MemoryKind::Npc,
                &scope,
                &filter,
                s.mode,
                text,
                q,
                k,
                s.top_k,
            )
            .await?;
        let shape = Shape {
            top_k: s.top_k,
            min_similarity: s.min_similarity,
            weights: s.weights,
            clock,
        };
        self.answer(MemoryKind::Npc, found, shape).await
    }
}
