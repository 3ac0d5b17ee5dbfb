//! The search engine, chosen once when the store opens: SQLite mode searches
//! its in-memory partitions ([`MemoryIndex`]), Postgres mode asks pgvector
//! ([`pgvector`]). Both rank a kind's rows in a [`Scope`] that pass a
//! [`Filter`], and both order ties the same way (newer first, then the larger
//! id), so the same data gives the same results on either.

mod pgvector;

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgPool, SqlitePool};

use super::error::MemoryError;
use super::filter::Filter;
use super::index::{KeyValue, MemoryIndex, PartitionKey};
use super::kind::{MemoryKind, Record};
use super::record_cache::RecordCache;
use super::search_counts::SearchCounts;
use crate::db::{Alias, Args, Db, Dialect, Pool, SqlValue};
use crate::vector::HnswSettings;

/// The rows one search ranks: values of the kind's partition column (some
/// NPCs, one mob type), or the whole kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Whole,
    Ints(Vec<i64>),
    Text(String),
}

impl Scope {
    /// The scope as SQL over `kind`'s table, its values pushed onto `args`.
    pub(crate) fn sql(&self, kind: MemoryKind, dialect: Dialect, args: &mut Args) -> String {
        let column = kind.spec().partition.map(|c| c.name());
        match (self, column) {
            (Scope::Ints(ids), Some(c)) => {
                let param = args.push(SqlValue::Ints(ids.clone()));
                dialect.in_list(c, &param)
            }
            (Scope::Text(v), Some(c)) => format!("{c} = {}", args.push(v.as_str())),
            _ => "TRUE".into(),
        }
    }

    fn keys(&self, kind: MemoryKind) -> Vec<PartitionKey> {
        let key = |value| PartitionKey { kind, value };
        match self {
            Scope::Whole => vec![key(KeyValue::Whole)],
            Scope::Ints(ids) => ids.iter().map(|i| key(KeyValue::Int(*i))).collect(),
            Scope::Text(t) => vec![key(KeyValue::Text(t.as_str().into()))],
        }
    }
}

/// How a search ranks: the model whose vectors it compares, and when a
/// scope is large enough for the HNSW index.
#[derive(Debug, Clone)]
pub struct Ranking<'a> {
    pub model: &'a str,
    pub hnsw: &'a HnswSettings,
    pub ef_search: usize,
    /// Postgres: candidates per result the sign-bit first pass keeps for exact
    /// re-scoring (off: exact cosine over the whole scope).
    pub pg_binary_rescore: crate::vector::BitRescore,
}

pub(crate) enum Engine {
    /// SQLite mode: every partition's vectors in memory, kept fresh from the change log.
    InMemory {
        pool: SqlitePool,
        index: Arc<MemoryIndex>,
    },
    /// Postgres mode: pgvector, exact below the HNSW threshold, the index above it.
    Pgvector {
        pool: PgPool,
        state: pgvector::PgState,
    },
}

impl Engine {
    /// The engine of `db`'s backend; SQLite's index loads on first use.
    pub fn open(
        db: &Db,
        dim: usize,
        model: &str,
        hnsw: &HnswSettings,
        cached_records: usize,
    ) -> Self {
        match db.pool(Alias::AiMemory) {
            Pool::Sqlite(pool) => Engine::InMemory {
                pool: pool.clone(),
                index: MemoryIndex::new(dim, model, hnsw.clone(), cached_records),
            },
            Pool::Postgres(pool) => Engine::Pgvector {
                pool: pool.clone(),
                state: pgvector::PgState::default(),
            },
        }
    }

    /// Load the in-memory index now (a no-op when loaded, and on Postgres).
    pub async fn load(&self) -> Result<(), MemoryError> {
        match self {
            Engine::InMemory { pool, index } => index.ensure_loaded(pool).await,
            Engine::Pgvector { .. } => Ok(()),
        }
    }

    /// SQLite mode: the cache of records searches read, caught up with every
    /// commit (see [`MemoryIndex::fresh_records`]). Postgres: none, as replicas
    /// could not tell each other what changed.
    pub async fn fresh_records(&self) -> Result<Option<&RecordCache>, MemoryError> {
        match self {
            Engine::InMemory { pool, index } => index.fresh_records(pool).await,
            Engine::Pgvector { .. } => Ok(None),
        }
    }

    /// Catch up with every committed write, ours and other processes' (a no-op
    /// on Postgres, and before the index's first load).
    pub async fn sync(&self) -> Result<(), MemoryError> {
        match self {
            Engine::InMemory { pool, index } => index.refresh(pool).await,
            Engine::Pgvector { .. } => Ok(()),
        }
    }

    /// Rows of `kind` in `scope` passing `filter`, the `k` most similar to
    /// `q`: (id, similarity), most similar first, ties newer first; and on
    /// Postgres their records, read by the same statement (one round trip per
    /// search instead of two). SQLite mode returns none: its records come from
    /// the record cache.
    pub async fn rank<R: Record>(
        &self,
        kind: MemoryKind,
        scope: &Scope,
        q: &[f32],
        k: usize,
        filter: &Filter,
        ranking: &Ranking<'_>,
    ) -> Result<(Vec<(i64, f32)>, HashMap<i64, R>), MemoryError> {
        match self {
            Engine::InMemory { pool, index } => {
                let predicate = filter.compile(kind.spec())?;
                index.ensure_loaded(pool).await?;
                let mut hits = Vec::new();
                for key in scope.keys(kind) {
                    let found = index.search(&key, q, k, |id, row| predicate.matches(id, row));
                    hits.extend(found.into_iter().map(|h| (h.id, h.score, h.created_at)));
                }
                Ok((order_hits(hits, k), HashMap::new()))
            }
            Engine::Pgvector { pool, state } => {
                let ranked =
                    pgvector::rank(pool, state, kind, scope, q, k, filter, ranking).await?;
                let mut hits = Vec::with_capacity(ranked.len());
                let mut records = HashMap::with_capacity(ranked.len());
                for (hit, row) in ranked {
                    records.insert(hit.0, R::from_row(&row)?);
                    hits.push(hit);
                }
                Ok((order_hits(hits, k), records))
            }
        }
    }

    /// Searches by strategy (exact scan or HNSW index) since the store opened.
    pub fn searches(&self) -> &SearchCounts {
        match self {
            Engine::InMemory { index, .. } => index.searches(),
            Engine::Pgvector { state, .. } => &state.searches,
        }
    }

    /// The in-memory index (SQLite mode), for metrics and tests.
    pub fn index(&self) -> Option<&MemoryIndex> {
        match self {
            Engine::InMemory { index, .. } => Some(index),
            Engine::Pgvector { .. } => None,
        }
    }

    /// SQLite mode: the partition is in memory, so it has searchable rows (an
    /// NPC search then skips asking the database whether the NPC has memories).
    pub fn surely_has(&self, kind: MemoryKind, value: KeyValue) -> bool {
        self.index()
            .is_some_and(|i| i.has_partition(&PartitionKey { kind, value }))
    }

    /// Delete the change-log rows every serving process has replayed (SQLite).
    pub async fn prune_changelog(&self) -> Result<u64, MemoryError> {
        match self {
            Engine::InMemory { pool, index } => index.prune_changelog(pool).await,
            Engine::Pgvector { .. } => Ok(0),
        }
    }
}

/// Order (id, similarity, created_at micros) hits by similarity, then newer,
/// then larger id, and keep `k`: O(n log n) in the hits, which are at most
/// k per partition searched.
pub(crate) fn order_hits(mut hits: Vec<(i64, f32, i64)>, k: usize) -> Vec<(i64, f32)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)));
    hits.truncate(k);
    hits.into_iter().map(|(id, s, _)| (id, s)).collect()
}
