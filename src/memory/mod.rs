//! The three memory stores (NPC dialogue, combat, lore) on one vector-search core.

mod combat;
mod context;
mod dialect;
mod error;
mod fetch;
mod index;
mod lore;
mod lore_import;
mod model;
mod npc;
mod pending;
pub mod pg_index;
mod pg_search;
mod reembed;
mod search_counts;
mod store;
mod time_ago;

pub use combat::{CombatScope, CombatSearch};
pub use context::{Context, ContextRequest};
pub use error::MemoryError;
pub use fetch::Weights;
pub use index::MemoryIndex;
pub use lore::{LoreSearch, admissible};
pub use lore_import::{ImportFailure, ImportOptions, ImportReport, LoreEntry, LoreFile};
pub use model::*;
pub use npc::{LastInteraction, NpcSearch, Stored};
pub use pending::{
    EmbedScope, EmbeddedBatch, FailedEmbedding, WorkerSettings, spawn_pending_worker,
};
pub use pg_index::{IndexState, hnsw_index};
pub use reembed::ReembedEvent;
pub use search_counts::SearchCounts;
pub use store::{MemorySettings, MemoryStore, check_models, decode_b64_vector, encode_b64_vector};
pub use time_ago::time_ago;
