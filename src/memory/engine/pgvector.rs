//! How a Postgres search ranks its rows: exactly when the searched scope is
//! small, through the HNSW index when it is large.
//!
//! The rule is SQLite mode's (`HnswSettings::threshold`): below the threshold
//! an exact scan is both exact and fast (with vectors stored inline, 5,000
//! 1536-d rows rank in about 7 ms, where a filtered HNSW walk that must skip
//! the other NPCs' rows took 22 ms and missed some neighbours), so both
//! backends rank small scopes by scanning every row. Above it the index answers,
//! with strict iterative scans so a filter never leaves fewer than `top_k`.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool};

use super::{Ranking, Scope};
use crate::db::{Args, Backend, Dialect, SqlValue};
use crate::memory::error::MemoryError;
use crate::memory::filter::Filter;
use crate::memory::kind::MemoryKind;
use crate::memory::search_counts::SearchCounts;

/// The scope as SQL, its values pushed onto `args`.
fn scope_sql(kind: MemoryKind, scope: &Scope, args: &mut Args) -> String {
    let column = kind.spec().partition.map(|c| c.name());
    match (scope, column) {
        (Scope::Ints(ids), Some(c)) => {
            let param = args.push(SqlValue::Ints(ids.clone()));
            Dialect(Backend::Postgres).in_list(c, &param)
        }
        (Scope::Text(v), Some(c)) => format!("{c} = {}", args.push(v.as_str())),
        _ => "TRUE".into(),
    }
}

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
    let in_scope = scope_sql(kind, scope, &mut args);
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
    let exact = index_scans == "off";
    searches.record(exact);
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
    let in_scope = scope_sql(kind, scope, &mut args);
    let passes = filter.sql(Dialect(Backend::Postgres), &mut args);
    let limit = args.push(i64::try_from(k).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT id, (1 - (embedding_vector <=> {query}))::REAL, created_at FROM {table}
         WHERE {in_scope} AND embedding_model = {model} AND embedding_vector IS NOT NULL AND {passes}
         ORDER BY embedding_vector <=> {query}{tie_break} LIMIT {limit}"
    );
    let rows: Vec<(i64, f32, DateTime<Utc>)> =
        sqlx::query_as_with(AssertSqlSafe(sql), args.postgres()?)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(id, s, t)| (id, s, t.timestamp_micros()))
        .collect())
}
