//! The three memory stores (NPC dialogue, combat, lore) on one vector-search core.

mod dialect;
mod error;
mod fetch;
mod index;
mod model;
mod npc;
mod store;
mod time_ago;

pub use error::MemoryError;
pub use fetch::Weights;
pub use index::MemoryIndex;
pub use model::*;
pub use npc::{LastInteraction, NpcSearch, Stored};
pub use store::{MemorySettings, MemoryStore, check_models};
pub use time_ago::time_ago;
