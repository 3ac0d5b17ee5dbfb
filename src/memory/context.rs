//! Everything the prompt builder needs before an NPC replies, in one call with
//! one embedding of the player's message. When the message cannot be embedded,
//! lore and memories come from keyword search instead, and the answer says it
//! is `degraded`.

use serde::{Deserialize, Serialize};

use super::error::MemoryError;
use super::kinds::{LastInteraction, LoreMemory, LoreSearch, NpcMemory, NpcSearch};
use super::model::{Aged, Scored};
use super::modes::{Embedded, Query, SearchMode};
use super::search::Clock;
use super::store::MemoryStore;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRequest {
    pub npc_id: i64,
    pub speaker_id: i64,
    pub message: String,
    #[serde(default)]
    pub lore_tags: Vec<String>,
    #[serde(default)]
    pub npc_name: Option<String>,
    #[serde(default)]
    pub speaker_name: Option<String>,
    /// How lore and memories are searched (vector by default).
    #[serde(default)]
    pub mode: SearchMode,
    /// The game world's clock now (RFC 3339), for ages.
    #[serde(default)]
    pub game_now: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// Top 3 admissible lore entries for the message.
    pub lore: Vec<Scored<LoreMemory>>,
    /// The NPC's newest 10 memories with this speaker, oldest first.
    pub recent: Vec<Aged<NpcMemory>>,
    pub last_interaction: Option<LastInteraction>,
    /// Top 5 memories with this speaker most like the message.
    pub memories: Vec<Scored<NpcMemory>>,
    /// True when the message could not be embedded: `lore` and `memories`
    /// come from keyword search; `recent` and `last_interaction` are as ever.
    pub degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_reason: Option<String>,
}

impl MemoryStore {
    pub async fn context(&self, r: &ContextRequest) -> Result<Context, MemoryError> {
        self.check_text("message", &r.message, true)?;
        let clock = Clock::parse(r.game_now.as_deref())?;
        let recent = self
            .recent_npc(
                r.npc_id,
                10,
                Some(r.speaker_id),
                r.npc_name.as_deref(),
                clock,
            )
            .await?;
        let last_interaction = self.last_interaction(r.npc_id, r.speaker_id, clock).await?;
        let query = Query {
            text: Some(&r.message),
            embedding: &None,
            embedding_b64: &None,
            mode: match r.mode {
                SearchMode::Keyword => SearchMode::Keyword,
                // A message that cannot be embedded falls back to its words.
                SearchMode::Vector | SearchMode::Hybrid => SearchMode::Hybrid,
            },
            top_k: 5,
        };
        let q: Embedded = self.embed_query_for(&query).await?;
        let mode = match (&q.vector, r.mode) {
            (None, _) => SearchMode::Keyword,
            (Some(_), mode) => mode,
        };
        let lore = self
            .search_lore_embedded(
                &LoreSearch {
                    query: Some(r.message.clone()),
                    npc_tags: r.lore_tags.clone(),
                    top_k: 3,
                    mode,
                    ..LoreSearch::default()
                },
                &q,
                clock,
            )
            .await?;
        let memories = self
            .search_npc_embedded(
                &NpcSearch {
                    npc_id: r.npc_id,
                    query: Some(r.message.clone()),
                    speaker_id: Some(r.speaker_id),
                    speaker_name: r.speaker_name.clone(),
                    npc_name: r.npc_name.clone(),
                    top_k: 5,
                    mode,
                    ..NpcSearch::default()
                },
                &q,
                clock,
            )
            .await?;
        Ok(Context {
            lore: lore.items,
            recent,
            last_interaction,
            memories: memories.items,
            degraded: q.degraded.is_some(),
            degraded_reason: q.degraded,
        })
    }
}
