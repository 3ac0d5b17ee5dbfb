//! The three memory stores (NPC dialogue, combat, lore) on one vector-search core.
//!
//! - [`kind`]: what makes a kind; [`kinds`]: the three, one file each;
//! - [`rows`]: store, batch store, get, list, delete, written once over a kind;
//! - [`engine`]: the search engine, in memory (SQLite mode, [`index`]) or
//!   pgvector; [`filter`]: a kind's filters as data both engines read;
//!   [`modes`]: vector, [`keyword`] or hybrid; [`search`]: hits into results;
//! - [`pending`]: rows waiting for their embedding, the background worker;
//!   [`reembed`]: switching providers; [`provider_check`]: refusing another
//!   provider's vectors; [`pg_index`]: the Postgres HNSW indexes; [`pg_signs`]:
//!   the sign bits Postgres' first pass ranks by;
//! - the lifecycle: [`expiry`] (expiring memories, game time), [`dedup`]
//!   (repeats), [`budget`] (per-NPC budgets), [`forgotten`] (the log of what
//!   went and why);
//! - [`context`]: everything a reply needs in one call; [`housekeeping`]:
//!   periodic upkeep (change log, expiry purge, budgets, the forgotten log);
//!   [`import`]: memories brought in from another system.

mod budget;
mod context;
mod dedup;
mod engine;
mod error;
mod expiry;
mod filter;
mod forgotten;
mod housekeeping;
mod import;
mod index;
mod keyword;
mod kind;
mod kinds;
mod lore_import;
mod model;
mod modes;
mod pending;
pub mod pg_index;
mod pg_signs;
mod provider_check;
mod record_cache;
mod reembed;
mod rows;
mod search;
mod search_counts;
mod store;
mod time_ago;

pub use budget::{
    DEFAULT_HALF_LIFE_HOURS, DEFAULT_IMPORTANCE, MemoryPolicy, NewMemoryPolicy, PolicyView,
    retention,
};
pub use context::{Context, ContextRequest};
pub use dedup::normalise;
pub use engine::Scope;
pub use error::MemoryError;
pub use expiry::MAX_TTL_SECONDS;
pub use filter::{Cond, Filter};
pub use forgotten::{ForgetCounts, Forgotten, Reason};
pub use housekeeping::{
    HOUSEKEEPING_EVERY, STATISTICS_EVERY, Upkeep, spawn_housekeeping, spawn_statistics,
};
pub use import::{ImportedBatch, ImportedMemory, NO_VECTOR};
pub use index::{MemoryIndex, READER_TTL};
pub use keyword::{MAX_MATCHES, query_terms, words};
pub use kind::{Kind, KindSpec, ListBy, MemoryKind, NewRow, Record};
pub use kinds::*;
pub use lore_import::{ImportFailure, ImportOptions, ImportReport, LoreEntry, LoreFile};
pub use model::*;
pub use modes::{Hit, RRF_K, SearchMode, fuse, fusion_depth};
pub use pending::{
    EmbedScope, EmbeddedBatch, FailedEmbedding, WorkerSettings, spawn_pending_worker,
};
pub use pg_index::{IndexState, hnsw_index};
pub use provider_check::check_models;
pub use reembed::ReembedEvent;
pub use search::{Clock, SearchResults, Weights};
pub use search_counts::SearchCounts;
pub use store::{
    DEFAULT_DEDUP_WINDOW, DEFAULT_FORGOTTEN_RETENTION, MemorySettings, MemoryStore,
    decode_b64_vector, encode_b64_vector,
};
pub use time_ago::time_ago;
