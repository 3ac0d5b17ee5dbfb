//! The memory kinds, one file each: NPC dialogue, combat encounters, world lore.

mod combat;
mod lore;
mod npc;
mod npc_recall;

pub use combat::{Combat, CombatMemory, CombatScope, CombatSearch, NewCombatMemory, OUTCOMES};
pub use lore::{
    Lore, LoreMemory, LoreSearch, NewLoreMemory, SCOPE_LEVELS, admissible, normalized_tags,
};
pub use npc::{NewNpcMemory, Npc, NpcMemory, NpcSearch};
pub use npc_recall::LastInteraction;
