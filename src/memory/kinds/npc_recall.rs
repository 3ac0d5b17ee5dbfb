//! What an NPC recalls without a query: its newest memories, when it last
//! talked with a speaker; and forgetting an NPC or a speaker.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::npc::{Npc, NpcMemory};
use crate::db::{Alias, Args, SqlValue, now_micros};
use crate::memory::error::MemoryError;
use crate::memory::filter::{Cond, Filter};
use crate::memory::kind::{Kind, MemoryKind};
use crate::memory::model::Aged;
use crate::memory::search::Clock;
use crate::memory::store::MemoryStore;

/// The newest memory between an NPC and a speaker.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LastInteraction {
    pub created_at: DateTime<Utc>,
    /// The game world's clock then, when the game gave it.
    pub game_time: Option<DateTime<Utc>>,
    /// How long ago, on the game clock when `game_now` was given and the
    /// memory has a `game_time`.
    #[sqlx(skip)]
    pub time_ago: String,
}

impl MemoryStore {
    /// The newest `limit` memories of an NPC (optionally with one speaker),
    /// returned oldest first; pending rows included.
    pub async fn recent_npc(
        &self,
        npc_id: i64,
        limit: i64,
        speaker_id: Option<i64>,
        npc_name: Option<&str>,
        clock: Clock,
    ) -> Result<Vec<Aged<NpcMemory>>, MemoryError> {
        if !(1..=100).contains(&limit) {
            return Err(MemoryError::invalid("limit", "must be between 1 and 100"));
        }
        let npc_ids = self.resolve_npcs(npc_id, npc_name).await?;
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let npcs = args.push(SqlValue::Ints(npc_ids));
        let speaker = match speaker_id {
            Some(id) => format!("AND speaker_id = {}", args.push(id)),
            None => String::new(),
        };
        let live = format!(
            "AND (expires_at IS NULL OR expires_at > {})",
            args.push(now_micros())
        );
        // Pick the ids first, then read the rows: sorting whole rows would read
        // every matching row's columns, and on SQLite those stored after the
        // vector blob sit in overflow pages (5,000 rows: ~5 ms).
        let sql = format!(
            "SELECT {} FROM ai_memory_npcmemory WHERE id IN (
               SELECT id FROM ai_memory_npcmemory WHERE {} {speaker} {live}
               ORDER BY created_at DESC, id DESC LIMIT {})
             ORDER BY created_at DESC, id DESC",
            Npc::SPEC.columns,
            pool.dialect().in_list("npc_id", &npcs),
            args.push(limit)
        );
        let rows: Vec<NpcMemory> = pool.fetch_all(&sql, args).await?;
        Ok(rows
            .into_iter()
            .rev()
            .map(|memory| Aged {
                time_ago: clock.time_ago(memory.created_at, memory.game_time),
                memory,
            })
            .collect())
    }

    /// When this NPC last talked with this speaker.
    pub async fn last_interaction(
        &self,
        npc_id: i64,
        speaker_id: i64,
        clock: Clock,
    ) -> Result<Option<LastInteraction>, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT created_at, game_time FROM ai_memory_npcmemory WHERE npc_id = {} AND speaker_id = {}
               AND (expires_at IS NULL OR expires_at > {})
             ORDER BY created_at DESC, id DESC LIMIT 1",
            args.push(npc_id),
            args.push(speaker_id),
            args.push(now_micros())
        );
        let newest: Option<LastInteraction> = self
            .db
            .pool(Alias::AiMemory)
            .fetch_optional(&sql, args)
            .await?;
        Ok(newest.map(|last| LastInteraction {
            time_ago: clock.time_ago(last.created_at, last.game_time),
            ..last
        }))
    }

    /// Forget everything an NPC remembers. Returns how many memories went.
    pub async fn forget_npc(&self, npc_id: i64) -> Result<u64, MemoryError> {
        let filter = Filter::all().and(Cond::Eq("npc_id", npc_id.into()));
        self.delete_where(MemoryKind::Npc, &filter).await
    }

    /// Forget a speaker in every NPC's memory. Returns how many memories went.
    pub async fn forget_speaker(&self, speaker_id: i64) -> Result<u64, MemoryError> {
        let filter = Filter::all().and(Cond::Eq("speaker_id", speaker_id.into()));
        self.delete_where(MemoryKind::Npc, &filter).await
    }
}
