//! `--kind`: one memory store, or all of them.

use clap::ValueEnum;

use crate::memory::MemoryKind;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Npc,
    Combat,
    Lore,
    All,
}

impl KindArg {
    pub fn kinds(self) -> Vec<MemoryKind> {
        match self {
            KindArg::Npc => vec![MemoryKind::Npc],
            KindArg::Combat => vec![MemoryKind::Combat],
            KindArg::Lore => vec![MemoryKind::Lore],
            KindArg::All => MemoryKind::ALL.to_vec(),
        }
    }
}
