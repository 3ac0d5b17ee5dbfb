//! Everything the prompt builder needs before an NPC replies, in one call with
//! one embedding of the player's message.

use serde::{Deserialize, Serialize};

use super::error::MemoryError;
use super::kinds::{LastInteraction, LoreMemory, LoreSearch, NpcMemory, NpcSearch};
use super::model::Scored;
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// Top 3 admissible lore entries for the message.
    pub lore: Vec<Scored<LoreMemory>>,
    /// The NPC's newest 10 memories with this speaker, oldest first.
    pub recent: Vec<NpcMemory>,
    pub last_interaction: Option<LastInteraction>,
    /// Top 5 memories with this speaker most similar to the message.
    pub memories: Vec<Scored<NpcMemory>>,
    /// True when the message could not be embedded: `lore` and `memories` are
    /// empty, `recent` and `last_interaction` are still given.
    pub degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_reason: Option<String>,
}

impl MemoryStore {
    pub async fn context(&self, r: &ContextRequest) -> Result<Context, MemoryError> {
        self.check_text("message", &r.message, true)?;
        let recent = self
            .recent_npc(r.npc_id, 10, Some(r.speaker_id), r.npc_name.as_deref())
            .await?;
        let last_interaction = self.last_interaction(r.npc_id, r.speaker_id).await?;
        let q = match self.query_vector(Some(&r.message), &None, &None).await {
            Ok(q) => q,
            Err(MemoryError::EmbeddingUnavailable(e)) => {
                return Ok(Context {
                    lore: Vec::new(),
                    recent,
                    last_interaction,
                    memories: Vec::new(),
                    degraded: true,
                    degraded_reason: Some(e.to_string()),
                });
            }
            Err(e) => return Err(e),
        };
        let lore = self
            .search_lore_with_vector(
                &LoreSearch {
                    npc_tags: r.lore_tags.clone(),
                    top_k: 3,
                    ..LoreSearch::default()
                },
                &q,
            )
            .await?;
        let memories = self
            .search_npc_with_vector(
                &NpcSearch {
                    npc_id: r.npc_id,
                    speaker_id: Some(r.speaker_id),
                    speaker_name: r.speaker_name.clone(),
                    npc_name: r.npc_name.clone(),
                    top_k: 5,
                    ..NpcSearch::default()
                },
                &q,
            )
            .await?;
        Ok(Context {
            lore,
            recent,
            last_interaction,
            memories,
            degraded: false,
            degraded_reason: None,
        })
    }
}
