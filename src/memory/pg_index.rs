//! The HNSW index on each Postgres vector column: its state, building it and
//! dropping it (`mnemo index`; `mnemo reembed` after a resize).
//!
//! pgvector inserts into an HNSW index one row at a time, which costs about
//! 4–5 ms per 1536-d row on one core; building the index over rows already
//! there is about ten times cheaper per row. So a bulk import is fastest with
//! the index dropped first and built once at the end. Builds run
//! `CONCURRENTLY`, so a serving instance keeps accepting writes meanwhile; an
//! interrupted build leaves an invalid index, which the next build replaces.

use std::time::Duration;

use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, PgConnection, PgExecutor, PgPool};

use super::error::MemoryError;
use super::kind::MemoryKind;
use crate::db::{Alias, Db, Pool};

/// The index definition of migrations/postgres/ai_memory/0002_pgvector.sql,
/// kept identical so a rebuilt index is the one a fresh migration makes.
const HNSW_DEFINITION: &str =
    "USING hnsw (embedding_vector vector_cosine_ops) WITH (m = 16, ef_construction = 64)";

/// How often a build reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The HNSW index on a kind's vector column, named as the migration names it.
pub fn hnsw_index(kind: MemoryKind) -> &'static str {
    kind.spec().hnsw_index
}

/// Where a kind's HNSW index stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Built and used by searches.
    Ready,
    /// Left invalid by an interrupted build: searches ignore it, writes still
    /// maintain it. The next build replaces it.
    Invalid,
    /// None: searches of scopes above the HNSW threshold scan every row.
    Missing,
}

impl IndexState {
    pub fn name(self) -> &'static str {
        match self {
            IndexState::Ready => "ready",
            IndexState::Invalid => "invalid (interrupted build)",
            IndexState::Missing => "missing",
        }
    }
}

/// A build's progress, from `pg_stat_progress_create_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProgress {
    /// Postgres's name for the current phase, e.g. "building index: loading tuples".
    pub phase: String,
    pub done: u64,
    /// 0 while unknown.
    pub total: u64,
}

/// The one Postgres pool, or an error naming the backend that has no index on disk.
fn postgres(db: &Db) -> Result<&PgPool, MemoryError> {
    match db.pool(Alias::AiMemory) {
        Pool::Postgres(pool) => Ok(pool),
        Pool::Sqlite(_) => Err(MemoryError::invalid(
            "backend",
            "SQLite mode keeps its HNSW indexes in the server's memory, built as partitions grow; \
             only Postgres has an index to build or drop",
        )),
    }
}

pub(crate) async fn state_on(pool: &PgPool, kind: MemoryKind) -> Result<IndexState, MemoryError> {
    let valid: Option<(bool,)> =
        sqlx::query_as("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)")
            .bind(hnsw_index(kind))
            .fetch_optional(pool)
            .await?;
    Ok(match valid {
        Some((true,)) => IndexState::Ready,
        Some((false,)) => IndexState::Invalid,
        None => IndexState::Missing,
    })
}

/// The state of `kind`'s HNSW index (Postgres only).
pub async fn index_state(db: &Db, kind: MemoryKind) -> Result<IndexState, MemoryError> {
    state_on(postgres(db)?, kind).await
}

/// Drop `kind`'s HNSW index (Postgres only), without blocking searches or
/// writes while it goes. Returns the state it was in.
pub async fn drop_index(db: &Db, kind: MemoryKind) -> Result<IndexState, MemoryError> {
    let pool = postgres(db)?;
    let before = state_on(pool, kind).await?;
    drop_on(pool, kind).await?;
    if before != IndexState::Missing {
        tracing::info!(
            kind = kind.name(),
            index = hnsw_index(kind),
            "HNSW index dropped"
        );
    }
    Ok(before)
}

async fn drop_on(pool: &PgPool, kind: MemoryKind) -> Result<(), MemoryError> {
    let sql = format!("DROP INDEX CONCURRENTLY IF EXISTS {}", hnsw_index(kind));
    sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

/// Build `kind`'s HNSW index unless it is ready (Postgres only), replacing an
/// invalid one, then refresh the table's planner statistics. `maintenance_work_mem` (a Postgres memory setting such as
/// `"1GB"`) applies to this build only: pgvector builds far faster while the
/// graph fits in it. `on_progress` hears from the build about once a second.
/// Returns false when the index was already ready.
pub async fn build_index(
    db: &Db,
    kind: MemoryKind,
    maintenance_work_mem: Option<&str>,
    on_progress: impl FnMut(BuildProgress),
) -> Result<bool, MemoryError> {
    build_on(postgres(db)?, kind, maintenance_work_mem, on_progress).await
}

pub(crate) async fn build_on(
    pool: &PgPool,
    kind: MemoryKind,
    maintenance_work_mem: Option<&str>,
    mut on_progress: impl FnMut(BuildProgress),
) -> Result<bool, MemoryError> {
    match state_on(pool, kind).await? {
        IndexState::Ready => return Ok(false),
        IndexState::Invalid => drop_on(pool, kind).await?,
        IndexState::Missing => {}
    }
    // A connection of its own, closed afterwards: the memory setting must not
    // stay on a connection the pool hands to someone else. A build takes
    // minutes, so sqlx's slow-statement warning would only be noise.
    let options = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options).await?;
    if let Some(memory) = maintenance_work_mem {
        sqlx::query("SELECT set_config('maintenance_work_mem', $1, false)")
            .bind(memory)
            .execute(&mut conn)
            .await
            .map_err(|e| match &e {
                // invalid_parameter_value: Postgres's own words on the setting.
                sqlx::Error::Database(d) if d.code().as_deref() == Some("22023") => {
                    MemoryError::invalid("maintenance_work_mem", d.message().to_owned())
                }
                _ => MemoryError::Database(e),
            })?;
    }
    let sql = format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} {HNSW_DEFINITION}",
        hnsw_index(kind),
        kind.table()
    );
    {
        let create = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn);
        tokio::pin!(create);
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.tick().await;
        loop {
            tokio::select! {
                built = &mut create => {
                    built?;
                    break;
                }
                _ = ticks.tick() => {
                    // Progress is a nicety: a failed look is not the build failing.
                    if let Ok(Some(progress)) = read_progress(pool, kind).await {
                        on_progress(progress);
                    }
                }
            }
        }
    }
    // The planner picks the index by the table's statistics, which a bulk
    // load leaves stale until autovacuum comes by: without fresh ones it took
    // a 24,000-row NPC for a few rows and sorted them all (52 ms a search
    // instead of 5).
    sqlx::query(AssertSqlSafe(format!("ANALYZE {}", kind.table())))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    tracing::info!(
        kind = kind.name(),
        index = hnsw_index(kind),
        "HNSW index built, statistics refreshed"
    );
    Ok(true)
}

async fn read_progress(
    pool: &PgPool,
    kind: MemoryKind,
) -> Result<Option<BuildProgress>, sqlx::Error> {
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index
         WHERE relid = to_regclass($1) LIMIT 1",
    )
    .bind(kind.table())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(phase, done, total)| BuildProgress {
        phase,
        done: u64::try_from(done).unwrap_or(0),
        total: u64::try_from(total).unwrap_or(0),
    }))
}

/// Say so at start when a kind's HNSW index is missing or invalid (a build or
/// a re-embedding stopped before it finished): searches stay correct, but
/// scopes above the threshold scan every row.
pub(crate) async fn warn_if_index_missing(
    pool: &PgPool,
    kind: MemoryKind,
) -> Result<(), MemoryError> {
    let state = state_on(pool, kind).await?;
    if state != IndexState::Ready {
        tracing::warn!(
            kind = kind.name(),
            index = hnsw_index(kind),
            state = state.name(),
            "the HNSW index is not ready, so large searches scan the whole table; `mnemo index build --kind {}` builds it",
            kind.name()
        );
    }
    Ok(())
}

/// The `N` of a kind's `vector(N)` column; `None` for a column without a
/// dimension, or none at all (ai_memory not migrated to the pgvector step).
pub(crate) async fn column_dimension(
    executor: impl PgExecutor<'_>,
    kind: MemoryKind,
) -> Result<Option<usize>, MemoryError> {
    let typmod: Option<(i32,)> = sqlx::query_as(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_vector' AND NOT attisdropped",
    )
    .bind(kind.table())
    .fetch_optional(executor)
    .await?;
    Ok(typmod.and_then(|(t,)| usize::try_from(t).ok().filter(|&t| t > 0)))
}
