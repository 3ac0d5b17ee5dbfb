//! How a Postgres search ranks its rows: exactly when the searched scope is
//! small, through the HNSW index when it is large.
//!
//! The rule is SQLite mode's (`HnswSettings::threshold`): below the threshold
//! an exact ranking is both exact and fast, so both backends rank small scopes
//! by looking at every row; above it the index answers.
//!
//! - **Exact, with the sign-bit first pass** (the default): the scope's rows are
//!   ranked by Hamming distance between the sign bits of their rotated vectors
//!   (`vector::sign_bits`, written beside each vector) in an index-only scan of
//!   the covering b-tree of migration `0010_rotated_sign_bits` (256 bytes a row
//!   at 1536-d instead of a 6 KB vector on its own heap page), and the best
//!   `binary_rescore × k` are re-scored by exact cosine. One statement, one
//!   round trip.
//! - **Exact, f32 only** (`binary_rescore = 0`): a bitmap scan
//!   of the scope and a top-N sort (index scans turned off for the statement, so
//!   the planner cannot walk the HNSW index instead).
//! - **HNSW** (a scope at or above the threshold): strict iterative scans with
//!   `hnsw.max_scan_tuples` raised to the scope's size, so a selective filter
//!   cannot stop the walk short of `top_k`; should it still come back short, the
//!   exact ranking answers instead.
//!
//! A scope's size decides the strategy; it is counted (up to the threshold)
//! and kept for [`SIZE_TTL`], so a search usually costs one round trip.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};

use super::{Ranking, Scope};
use crate::db::{Args, Backend, Dialect, SqlValue};
use crate::memory::error::MemoryError;
use crate::memory::filter::Filter;
use crate::memory::kind::MemoryKind;
use crate::memory::search_counts::SearchCounts;

/// How long a counted scope size is trusted. A scope crossing the threshold
/// meanwhile is ranked with the other strategy for at most this long; both
/// give full, correct results.
pub const SIZE_TTL: Duration = Duration::from_secs(30);

/// (id, similarity, created_at micros).
type Hit = (i64, f32, i64);

/// A hit, and its row with the kind's record columns.
pub(super) type Ranked = (Hit, PgRow);

/// `ranking` (a statement selecting `id, sim, created_at`) joined with `kind`'s
/// table, so that a search reads its answer's records in the statement that
/// ranks them: one round trip instead of two. The hit is in the `r_*` columns
/// (the first three), the record in the kind's own.
fn with_records(kind: MemoryKind, ranking: &str) -> String {
    format!(
        "SELECT r.r_id, r.r_sim, r.r_created, {columns} FROM
           (SELECT id AS r_id, sim AS r_sim, created_at AS r_created FROM ({ranking}) ranked) r
         JOIN {table} ON {table}.id = r.r_id",
        columns = kind.spec().columns,
        table = kind.table()
    )
}

/// The Postgres engine's own state: search counts, and scope sizes.
#[derive(Default)]
pub(crate) struct PgState {
    pub searches: SearchCounts,
    sizes: Mutex<HashMap<(MemoryKind, Scope), (i64, Instant)>>,
}

const PG: Dialect = Dialect(Backend::Postgres);

/// The `k` rows of `kind` in `scope` passing `filter` nearest `q`, each with
/// its record (see [`with_records`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn rank(
    pool: &PgPool,
    state: &PgState,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
) -> Result<Vec<Ranked>, MemoryError> {
    let threshold = i64::try_from(ranking.hnsw.threshold).unwrap_or(i64::MAX);
    let size = scope_size(pool, state, kind, scope, threshold).await?;
    if size >= threshold {
        state.searches.record(false);
        let hits = hnsw(pool, kind, scope, q, k, filter, ranking, size).await?;
        if hits.len() >= k {
            return Ok(hits);
        }
        // The walk came back short of k: the exact ranking knows better.
    }
    state.searches.record(true);
    let factor = ranking.pg_binary_rescore.factor(q.len());
    if factor > 0 {
        let n = k.saturating_mul(factor);
        first_pass(pool, kind, scope, q, k, n, filter, ranking).await
    } else {
        exact(pool, kind, scope, q, k, filter, ranking).await
    }
}

/// The scope's row count, up to `threshold` (exactly when at or above it), from
/// the cache while it is fresh.
async fn scope_size(
    pool: &PgPool,
    state: &PgState,
    kind: MemoryKind,
    scope: &Scope,
    threshold: i64,
) -> Result<i64, MemoryError> {
    let key = (kind, scope.clone());
    let cached = lock(&state.sizes).get(&key).copied();
    if let Some((size, at)) = cached
        && at.elapsed() < SIZE_TTL
    {
        return Ok(size);
    }
    let mut args = Args::new();
    let in_scope = scope.sql(kind, PG, &mut args);
    let limit = args.push(threshold);
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {in_scope} LIMIT {limit}) s",
        kind.table()
    );
    let (mut size,): (i64,) = sqlx::query_as_with(AssertSqlSafe(sql), args.postgres()?)
        .fetch_one(pool)
        .await?;
    if size >= threshold {
        // Large: its whole size sets how far an HNSW walk may go.
        let mut args = Args::new();
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {}",
            kind.table(),
            scope.sql(kind, PG, &mut args)
        );
        (size,) = sqlx::query_as_with(AssertSqlSafe(sql), args.postgres()?)
            .fetch_one(pool)
            .await?;
    }
    let mut sizes = lock(&state.sizes);
    if sizes.len() > 100_000 {
        // A bound on a cache keyed by callers' NPC lists; refilled on demand.
        sizes.clear();
    }
    sizes.insert(key, (size, Instant::now()));
    Ok(size)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map holds only sizes to count again: a poisoned lock is safe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ranking's common `WHERE`: scope, model, filter; values onto `args`.
fn passes(
    kind: MemoryKind,
    scope: &Scope,
    filter: &Filter,
    ranking: &Ranking<'_>,
    args: &mut Args,
) -> String {
    let in_scope = scope.sql(kind, PG, args);
    let model = args.push(ranking.model);
    let filtered = filter.sql(PG, args);
    format!("{in_scope} AND embedding_model = {model} AND {filtered}")
}

/// Sign bits by Hamming distance in an index-only scan, then exact cosine over
/// the best `n` and over every row whose signs are not written yet (rows older
/// than migration 0010 until housekeeping fills them in); ties newer first,
/// then the larger id, as SQLite mode orders them.
#[allow(clippy::too_many_arguments)]
async fn first_pass(
    pool: &PgPool,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    n: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
) -> Result<Vec<Ranked>, MemoryError> {
    let table = kind.table();
    let mut args = Args::new();
    let query = args.push(SqlValue::Vector(Some(q.to_vec())));
    let signs = args.push(SqlValue::Bits(Some(crate::vector::sign_bits(q))));
    let rows_passing = passes(kind, scope, filter, ranking, &mut args);
    let candidates = args.push(i64::try_from(n).unwrap_or(i64::MAX));
    let limit = args.push(i64::try_from(k).unwrap_or(i64::MAX));
    let sql = format!(
        "WITH c AS MATERIALIZED (
           (SELECT id FROM {table} WHERE {rows_passing} AND embedding_signs IS NOT NULL
            ORDER BY embedding_signs <~> {signs} LIMIT {candidates})
           UNION ALL
           SELECT id FROM {table} WHERE {rows_passing}
             AND embedding_signs IS NULL AND embedding_vector IS NOT NULL)
         SELECT id, sim, created_at FROM (
           SELECT id, (1 - (embedding_vector <=> {query}))::REAL AS sim, created_at FROM {table}
           WHERE id IN (SELECT id FROM c)) r
         ORDER BY sim DESC, created_at DESC, id DESC LIMIT {limit}"
    );
    fetch(pool, kind, &sql, args).await
}

/// Every row of the scope by exact cosine: a bitmap scan and a top-N sort.
async fn exact(
    pool: &PgPool,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
) -> Result<Vec<Ranked>, MemoryError> {
    let mut tx = pool.begin().await?;
    // An HNSW scan is an index scan; a bitmap scan cannot produce its order.
    sqlx::query("SELECT set_config('enable_indexscan', 'off', true)")
        .execute(&mut *tx)
        .await?;
    // A sort anyway: ties newer first, then the larger id, as SQLite mode.
    let rows = by_distance(
        &mut tx,
        kind,
        scope,
        q,
        k,
        filter,
        ranking,
        ", created_at DESC, id DESC",
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The HNSW index with strict iterative scans, allowed to visit the whole scope.
#[allow(clippy::too_many_arguments)]
async fn hnsw(
    pool: &PgPool,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
    size: i64,
) -> Result<Vec<Ranked>, MemoryError> {
    let mut tx = pool.begin().await?;
    // pgvector stops an iterative scan after max_scan_tuples (default 20,000)
    // visited rows; a filter keeping 1 % of a 100,000-row scope needs ~100 x k.
    let max_scan = size.max(20_000).to_string();
    sqlx::query(
        "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true),
                set_config('hnsw.max_scan_tuples', $2, true), set_config('hnsw.scan_mem_multiplier', '2', true)",
    )
    .bind(ranking.ef_search.clamp(1, 1000).to_string())
    .bind(max_scan)
    .execute(&mut *tx)
    .await?;
    // Distance alone in ORDER BY: a second sort key would stop the planner using the index.
    let rows = by_distance(&mut tx, kind, scope, q, k, filter, ranking, "").await?;
    tx.commit().await?;
    Ok(rows)
}

/// The `k` rows passing nearest `q` by exact cosine distance, ties broken by
/// `tie_break` (SQL after the distance in `ORDER BY`), on the plan the
/// transaction's settings leave the planner.
#[allow(clippy::too_many_arguments)]
async fn by_distance(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    kind: MemoryKind,
    scope: &Scope,
    q: &[f32],
    k: usize,
    filter: &Filter,
    ranking: &Ranking<'_>,
    tie_break: &str,
) -> Result<Vec<Ranked>, MemoryError> {
    let mut args = Args::new();
    let query = args.push(SqlValue::Vector(Some(q.to_vec())));
    let rows_passing = passes(kind, scope, filter, ranking, &mut args);
    let limit = args.push(i64::try_from(k).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT id, (1 - (embedding_vector <=> {query}))::REAL AS sim, created_at FROM {}
         WHERE {rows_passing} AND embedding_vector IS NOT NULL
         ORDER BY embedding_vector <=> {query}{tie_break} LIMIT {limit}",
        kind.table()
    );
    fetch(&mut **tx, kind, &sql, args).await
}

/// Run the ranking statement `sql` with the records of `kind` joined on.
async fn fetch<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    kind: MemoryKind,
    sql: &str,
    args: Args,
) -> Result<Vec<Ranked>, MemoryError> {
    let rows: Vec<PgRow> =
        sqlx::query_with(AssertSqlSafe(with_records(kind, sql)), args.postgres()?)
            .fetch_all(executor)
            .await?;
    rows.into_iter()
        .map(|row| {
            let created: DateTime<Utc> = row.try_get(2)?;
            let hit = (row.try_get(0)?, row.try_get(1)?, created.timestamp_micros());
            Ok((hit, row))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(MemoryError::from)
}
