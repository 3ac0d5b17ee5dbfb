//! What makes a memory kind, written once per kind in its own file
//! (`kinds/npc.rs`, `kinds/combat.rs`, `kinds/lore.rs`): where its rows live
//! ([`KindSpec`]), its record and input types and how an input becomes a row
//! ([`Kind`]). Everything else (store, batch store, get, list, delete, the
//! search engines, pending rows, re-embedding, the routes) is written once over
//! these.
//!
//! A fourth kind is a file implementing [`Kind`] with its [`KindSpec`], a
//! variant in [`MemoryKind`] (the names the CLI, the change log and the metrics
//! use), a migration with its table, and a line registering its routes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::MemoryError;
use super::kinds::{Combat, Lore, Npc};
use super::search::SearchResults;
use super::store::MemoryStore;
use crate::db::{FromBothRows, SqlValue};

/// Where a kind's rows live and what of them the engines need.
#[derive(Debug, PartialEq, Eq)]
pub struct KindSpec {
    /// `npc`, `combat`, `lore`: in paths, the change log, metrics, the CLI.
    pub name: &'static str,
    pub table: &'static str,
    /// The column whose text is embedded.
    pub text_column: &'static str,
    /// The record's columns, as the record type reads them.
    pub columns: &'static str,
    /// The column a search scope is made of (one NPC's memories, one mob type's
    /// encounters); `None`: the whole kind is one scope (lore).
    pub partition: Option<KeyColumn>,
    /// Columns the in-memory engine keeps beside each vector, for filters.
    pub meta: &'static [MetaColumn],
    /// Its pgvector HNSW index.
    pub hnsw_index: &'static str,
    /// The columns that identify a row besides its id (lore's source and
    /// title): what an upsert or an import matches on. Empty: none.
    pub unique: &'static [&'static str],
    /// How a missing record is named in a 404: "npc memory".
    pub noun: &'static str,
    /// The column naming the NPC a memory belongs to: per-NPC budgets and the
    /// forgotten log's `npc_id`. `None` for kinds no NPC owns.
    pub npc_column: Option<&'static str>,
    /// Columns which, with the normalised text, make a repeated memory (stored
    /// again within the dedup window, it grows the first one's `repeat_count`
    /// instead of adding a row). Empty: the kind is never deduplicated.
    pub dedup_by: &'static [&'static str],
}

/// The partition column and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyColumn {
    Int(&'static str),
    Text(&'static str),
}

impl KeyColumn {
    pub fn name(self) -> &'static str {
        match self {
            KeyColumn::Int(c) | KeyColumn::Text(c) => c,
        }
    }
}

/// A column kept in memory for filters, and how it is typed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaColumn {
    pub name: &'static str,
    pub ty: MetaType,
}

impl MetaColumn {
    pub const fn int(name: &'static str) -> Self {
        Self {
            name,
            ty: MetaType::Int,
        }
    }

    pub const fn text(name: &'static str) -> Self {
        Self {
            name,
            ty: MetaType::Text,
        }
    }

    pub const fn tags(name: &'static str) -> Self {
        Self {
            name,
            ty: MetaType::Tags,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaType {
    Int,
    Text,
    /// A JSON list of strings (lore's `scope_tags`).
    Tags,
}

/// A new row of a kind: its values by column, the text to embed and the
/// caller's own vector in whichever wire form it came.
#[derive(Debug, Clone, Default)]
pub struct NewRow {
    pub values: Vec<(&'static str, SqlValue)>,
    pub text: String,
    pub embedding: Option<Vec<f32>>,
    pub embedding_b64: Option<String>,
}

/// A stored record of some kind.
pub trait Record: FromBothRows + Serialize + Clone + Send + Sync + 'static {
    fn id(&self) -> i64;
    fn created_at(&self) -> chrono::DateTime<chrono::Utc>;
    /// When the memory expires, if it does.
    fn expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>>;
    /// Whether the record has its vector (else its embedding is pending).
    fn is_embedded(&self) -> bool;
    /// For blended ranking; kinds without one rank it 0.
    fn importance(&self) -> f32 {
        0.0
    }
    /// The game world's clock when the memory was made, when the game gave it.
    fn game_time(&self) -> Option<chrono::DateTime<chrono::Utc>>;
}

/// A memory kind: its spec, its types, and how an input becomes a row.
pub trait Kind: Send + Sync + 'static {
    const ID: MemoryKind;
    const SPEC: KindSpec;
    /// The columns a listing may be narrowed by (`?npc_id=3`), each an equality.
    const LIST_BY: &'static [ListBy];
    type Record: Record;
    /// What a caller sends to store one.
    type New: DeserializeOwned + Send + Sync;
    /// What a caller sends to search.
    type Search: DeserializeOwned + Send + Sync;
    /// Check `new` (naming the offending field) and make its row.
    fn prepare(store: &MemoryStore, new: Self::New) -> Result<NewRow, MemoryError>;
    /// The kind's search: its scope, its filters, its ranking.
    fn search(
        store: &MemoryStore,
        search: &Self::Search,
    ) -> impl Future<Output = Result<SearchResults<Self::Record>, MemoryError>> + Send;
}

/// A column a listing may be narrowed by, named as the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListBy {
    Int(&'static str),
    Text(&'static str),
}

/// The kinds there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    Npc,
    Combat,
    Lore,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 3] = [MemoryKind::Npc, MemoryKind::Combat, MemoryKind::Lore];

    pub fn spec(self) -> &'static KindSpec {
        match self {
            MemoryKind::Npc => &Npc::SPEC,
            MemoryKind::Combat => &Combat::SPEC,
            MemoryKind::Lore => &Lore::SPEC,
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn table(self) -> &'static str {
        self.spec().table
    }

    /// The column whose text is embedded.
    pub fn text_column(self) -> &'static str {
        self.spec().text_column
    }

    pub fn parse(s: &str) -> Option<Self> {
        MemoryKind::ALL.into_iter().find(|k| k.name() == s)
    }
}
