//! Postgres: fresh planner statistics for tables that grow faster than
//! autovacuum looks at them.
//!
//! Autovacuum analyses a table once a minute at best (`autovacuum_naptime`),
//! and only after a tenth of it changed. A memory table filled from empty by a
//! bulk load or an import is planned on no statistics for that minute: the
//! planner then takes `expires_at IS NULL` for a rare condition (its default
//! guess, 0.5 %) and answered the dedup look-up of every batch by walking the
//! retention index over all the table's rows (950 ms a batch at 6,000 rows)
//! instead of probing the dedup index. Measured with 4 × 5,000 rows loaded over
//! HTTP into a fresh database: 315 rows/s planned on no statistics; refreshed
//! as below, see the README's figures.
//!
//! [`Db::refresh_statistics`] analyses a table once it changed by
//! [`STALE_AFTER_ROWS`] rows and [`STALE_FRACTION`] of its size since its last
//! statistics, which keeps a growing table's statistics within a fifth of its
//! size for the cost of a catalog read per check.

use sqlx::{AssertSqlSafe, Row};

use super::{Db, Inner};

/// Changes below this many rows never trigger an analysis: small tables plan
/// well on any statistics.
pub const STALE_AFTER_ROWS: f64 = 1_000.0;

/// The share of a table that must have changed since its statistics.
pub const STALE_FRACTION: f64 = 0.2;

/// Whether a table with `changed` rows inserted, updated or deleted since its
/// last analysis, and `rows` rows then (`-1` when never analysed), is due.
pub fn statistics_stale(changed: i64, rows: f32) -> bool {
    let changed = changed as f64;
    changed >= STALE_AFTER_ROWS && changed >= STALE_FRACTION * f64::from(rows.max(0.0))
}

/// Two replicas checking at once: one analyses, the other leaves it be.
const ANALYSE_LOCK: i64 = 0x6d6e_656d_6f5f_616e; // "mnemo_an"

impl Db {
    /// Postgres: `ANALYZE` each of `tables` whose statistics are stale (see
    /// [`statistics_stale`]); the tables analysed. While another process is
    /// doing this, none. SQLite: none (its planner does not depend on
    /// statistics for these statements).
    pub async fn refresh_statistics(&self, tables: &[&str]) -> Result<Vec<String>, sqlx::Error> {
        let Inner::Postgres { pool, .. } = &*self.inner else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        let rows = sqlx::query(
            "SELECT c.relname::text, s.n_mod_since_analyze, c.reltuples
               FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
              WHERE c.relname = ANY($1) AND c.relnamespace = to_regnamespace(current_schema())",
        )
        .bind(&names)
        .fetch_all(pool)
        .await?;
        let mut stale: Vec<String> = Vec::new();
        for row in rows {
            if statistics_stale(row.try_get(1)?, row.try_get(2)?) {
                stale.push(row.try_get(0)?);
            }
        }
        if stale.is_empty() {
            return Ok(stale);
        }
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(ANALYSE_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(Vec::new());
        }
        // The names came from the catalog and are this service's own tables.
        let mut analysed = Vec::with_capacity(stale.len());
        for table in stale {
            if !lock_now(&mut tx, &table).await? {
                continue;
            }
            sqlx::query(AssertSqlSafe(format!("ANALYZE {table}")))
                .execute(&mut *tx)
                .await?;
            analysed.push(table);
        }
        tx.commit().await?;
        Ok(analysed)
    }
}

/// Take the lock `ANALYZE` needs on `table` (within a savepoint), or report it
/// busy at once.
///
/// Waiting for it could deadlock: `CREATE INDEX CONCURRENTLY` (`mnemo index
/// build`) holds that lock while it waits for every transaction with an older
/// snapshot to end, this one included, which would be waiting for the lock.
/// Postgres then cancels one of them, and it was the index build. A busy table
/// is analysed by a later check.
async fn lock_now(tx: &mut sqlx::PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("SAVEPOINT lock_for_analyse")
        .execute(&mut *tx)
        .await?;
    let locked = sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT"
    )))
    .execute(&mut *tx)
    .await;
    match locked {
        Ok(_) => Ok(true),
        // lock_not_available
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
            sqlx::query("ROLLBACK TO SAVEPOINT lock_for_analyse")
                .execute(&mut *tx)
                .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_never_analysed_is_due_once_it_has_a_thousand_changes() {
        assert!(!statistics_stale(999, -1.0));
        assert!(statistics_stale(1_000, -1.0));
    }

    #[test]
    fn a_large_table_is_due_once_a_fifth_of_it_changed() {
        assert!(!statistics_stale(19_999, 100_000.0));
        assert!(statistics_stale(20_000, 100_000.0));
        assert!(!statistics_stale(5_000, 100_000.0));
    }
}
