//! How a Postgres search ranks its rows: exactly when the searched scope is
//! small, through the HNSW index when it is large.
//!
//! The rule is SQLite mode's (`HnswSettings::threshold`): below the threshold
//! an exact scan is both exact and fast (with vectors stored inline, 5,000
//! 1536-d rows rank in about 7 ms, where a filtered HNSW walk that must skip
//! the other NPCs' rows took 22 ms and missed some neighbours), so both
//! backends rank small scopes by scanning every row. Above it the index answers,
//! with strict iterative scans so a filter never leaves fewer than `top_k`; and
//! should the scan still come back short of rows that match, they are ranked
//! exactly, so a search returns `min(k, matching)` rows whatever the plan.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool};

use super::{Ranking, Scope};
use crate::db::{Args, Backend, Dialect, SqlValue};
use crate::memory::error::MemoryError;
use crate::memory::filter::Filter;
use crate::memory::kind::MemoryKind;
use crate::memory::search_counts::SearchCounts;

const PG: Dialect = Dialect(Backend::Postgres);

/// (id, similarity, created_at micros) of the `k` rows nearest `q`.
///
/// One transaction, two round trips: the first sets `hnsw.ef_search`, strict
/// iterative scans and, for a scope under the threshold (counted up to it),
/// `enable_indexscan = off`, which leaves the planner a bitmap scan of the
/// scope's b-tree index and a top-N sort (an HNSW scan is an index scan; a
/// bitmap scan cannot produce its order). The second ranks.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rank(
    pool: &PgPool,
    searches: &SearchCounts,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
) -> Result<Vec<(i64, f32, i64)>, MemoryError> {
    let table = kind.table();
    let mut tx = pool.begin().await?;
    let mut args = Args::new();
    let ef = args.push(ranking.ef_search.clamp(1, 1000).to_string());
    let threshold = args.push(i64::try_from(ranking.hnsw.threshold).unwrap_or(i64::MAX));
    let in_scope = scope.sql(kind, PG, &mut args);
    let settings = format!(
        "SELECT set_config('hnsw.ef_search', {ef}, true), set_config('hnsw.iterative_scan', 'strict_order', true),
                set_config('enable_indexscan', CASE WHEN
                  (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {in_scope} LIMIT {threshold}) s) < {threshold}
                THEN 'off' ELSE 'on' END, true)"
    );
    let (_, _, index_scans): (String, String, String) =
        sqlx::query_as_with(AssertSqlSafe(settings), args.postgres()?)
            .fetch_one(&mut *tx)
            .await?;
    let mut exact = index_scans == "off";
    let mut rows = ranked(&mut tx, kind, scope, q, k, filter, ranking, exact).await?;
    if !exact && rows.len() < k {
        // The index's iterative scan gives up after `hnsw.max_scan_tuples`: when
        // fewer rows came back than asked, count the matching rows, and when there
        // are more than it found, rank them exactly (the engines never starve).
        let matching = count(&mut tx, kind, scope, filter, ranking).await?;
        if matching > rows.len() {
            sqlx::query("SELECT set_config('enable_indexscan', 'off', true)")
                .execute(&mut *tx)
                .await?;
            exact = true;
            rows = ranked(&mut tx, kind, scope, q, k, filter, ranking, exact).await?;
        }
    }
    searches.record(exact);
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(id, s, t)| (id, s, t.timestamp_micros()))
        .collect())
}

/// What a ranking statement reads: id, similarity, creation time.
type RankedRow = (i64, f32, DateTime<Utc>);

/// The ranking statement, on the plan `set_config` chose (`exact`: a sort).
#[allow(clippy::too_many_arguments)]
async fn ranked(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
    exact: bool,
) -> Result<Vec<RankedRow>, MemoryError> {
    let table = kind.table();
    // An exact scan sorts anyway, so it breaks ties as SQLite mode does (newer
    // first, then higher id) before LIMIT cuts them; an HNSW scan yields rows in
    // distance order only, and a second sort key would stop the planner using it.
    let tie_break = if exact {
        ", created_at DESC, id DESC"
    } else {
        ""
    };
    let mut args = Args::new();
    let query = args.push(SqlValue::Vector(Some(q.to_vec())));
    let model = args.push(ranking.model);
    let in_scope = scope.sql(kind, PG, &mut args);
    let passes = filter.sql(PG, &mut args);
    let limit = args.push(i64::try_from(k).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT id, (1 - (embedding_vector <=> {query}))::REAL, created_at FROM {table}
         WHERE {in_scope} AND embedding_model = {model} AND embedding_vector IS NOT NULL AND {passes}
         ORDER BY embedding_vector <=> {query}{tie_break} LIMIT {limit}"
    );
    Ok(sqlx::query_as_with(AssertSqlSafe(sql), args.postgres()?)
        .fetch_all(&mut **tx)
        .await?)
}

/// How many rows the ranking statement could return at most.
async fn count(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    kind: MemoryKind,
    scope: &Scope,
    filter: &Filter,
    ranking: &Ranking<'_>,
) -> Result<usize, MemoryError> {
    let mut args = Args::new();
    let model = args.push(ranking.model);
    let in_scope = scope.sql(kind, PG, &mut args);
    let passes = filter.sql(PG, &mut args);
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {in_scope} AND embedding_model = {model}
         AND embedding_vector IS NOT NULL AND {passes}",
        kind.table()
    );
    let (n,): (i64,) = sqlx::query_as_with(AssertSqlSafe(sql), args.postgres()?)
        .fetch_one(&mut **tx)
        .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}
