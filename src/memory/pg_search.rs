//! How a Postgres search ranks its rows: exactly when the searched scope is
//! small, through the HNSW index when it is large.
//!
//! The rule is SQLite mode's (`HnswSettings::threshold`): below the threshold
//! an exact scan is both exact and fast (with vectors stored inline, 5,000
//! 1536-d rows rank in about 7 ms, where a filtered HNSW walk that must skip
//! the other NPCs' rows took 22 ms and missed some neighbours), so both
//! backends rank small scopes by scanning every row. Above it the index answers,
//! with strict iterative scans so a filter never leaves fewer than `top_k`.

use super::error::MemoryError;
use super::store::MemoryStore;

/// The rows one search ranks before its other filters, counted (up to the
/// threshold) to pick the strategy.
pub(crate) enum PgScope<'a> {
    /// One or more NPCs' dialogue memories.
    Npcs(&'a [i64]),
    /// One mob type's combat memories.
    MobType(&'a str),
    /// All lore (its scope filter is a containment test an index cannot narrow).
    Lore,
}

impl PgScope<'_> {
    fn count_sql(&self) -> &'static str {
        match self {
            PgScope::Npcs(_) => {
                "SELECT count(*) FROM (SELECT 1 FROM ai_memory_npcmemory WHERE npc_id = ANY($3) LIMIT $2) s"
            }
            PgScope::MobType(_) => {
                "SELECT count(*) FROM (SELECT 1 FROM ai_memory_combatmemory WHERE mob_type = $3 LIMIT $2) s"
            }
            PgScope::Lore => "SELECT count(*) FROM (SELECT 1 FROM ai_memory_lorememory LIMIT $2) s",
        }
    }
}

/// A read transaction set up for one search.
pub(crate) struct PgSearch {
    pub tx: sqlx::Transaction<'static, sqlx::Postgres>,
    /// What follows the distance in `ORDER BY`. An exact scan sorts anyway, so
    /// it breaks exact ties as SQLite mode does (newer first, then higher id)
    /// before `LIMIT` cuts them; an HNSW scan yields rows in distance order
    /// only, and a second sort key would stop the planner from using it.
    pub tie_break: &'static str,
}

impl MemoryStore {
    /// Open the search transaction: HNSW settings, and for a small scope
    /// `enable_indexscan = off`, which leaves the planner a bitmap scan of the
    /// scope's b-tree index and a top-N sort (an HNSW scan is an index scan; a
    /// bitmap scan cannot produce its order). One round trip for all of it.
    pub(crate) async fn pg_search_tx(
        &self,
        pool: &sqlx::PgPool,
        scope: PgScope<'_>,
    ) -> Result<PgSearch, MemoryError> {
        let mut tx = pool.begin().await?;
        let sql = format!(
            "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true),
                    set_config('enable_indexscan', CASE WHEN ({}) < $2 THEN 'off' ELSE 'on' END, true)",
            scope.count_sql()
        );
        let threshold = i64::try_from(self.settings.hnsw.threshold).unwrap_or(i64::MAX);
        let query = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql))
            .bind(self.pg_search_settings())
            .bind(threshold);
        let query = match scope {
            PgScope::Npcs(ids) => query.bind(ids.to_vec()),
            PgScope::MobType(mob_type) => query.bind(mob_type.to_owned()),
            PgScope::Lore => query,
        };
        let (_, _, index_scans) = query.fetch_one(&mut *tx).await?;
        let exact = index_scans == "off";
        self.pg_searches.record(exact);
        Ok(PgSearch {
            tx,
            tie_break: if exact {
                ", created_at DESC, id DESC"
            } else {
                ""
            },
        })
    }
}
