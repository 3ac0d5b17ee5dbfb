//! Nothing fades silently: every memory that goes (expired, evicted over an
//! NPC's budget, deleted through the API) is deleted by [`MemoryStore::forget_rows`],
//! which records its id, text and the reason in `ai_memory_forgotten` in the
//! same transaction. The log is read per NPC ([`MemoryStore::forgotten`]) and
//! pruned by the housekeeping job after the retention time.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::rows::{check_page_limit, log_change};
use super::store::MemoryStore;
use crate::db::{Alias, Args, Tx, now_micros};

/// Why a memory was forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its `expires_at` passed.
    Expired,
    /// Its NPC was over budget and it had the lowest retention.
    Budget,
    /// Deleted through the API (one memory, an NPC, a speaker, a pruned lore entry).
    Deleted,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::Expired, Reason::Budget, Reason::Deleted];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Budget => "budget",
            Reason::Deleted => "deleted",
        }
    }
}

/// One entry of the forgotten log.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Forgotten {
    /// The entry's position in the log (the `after` cursor).
    pub seq: i64,
    /// The forgotten memory's id.
    pub id: i64,
    /// Its embedded text.
    pub summary: String,
    pub reason: String,
    /// When the memory was stored.
    pub created_at: DateTime<Utc>,
    pub forgotten_at: DateTime<Utc>,
}

/// Memories forgotten by this process since it started, by reason (for `/metrics`).
#[derive(Debug, Default)]
pub struct ForgetCounts([AtomicU64; 3]);

impl ForgetCounts {
    pub(crate) fn add(&self, reason: Reason, n: usize) {
        self.0[reason as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(&self, reason: Reason) -> u64 {
        self.0[reason as usize].load(Ordering::Relaxed)
    }
}

/// Log rows written per statement: 7 values each, far below either backend's
/// parameter limit.
const LOG_CHUNK: usize = 100;

/// A deleted row as the log records it: id, NPC, text, creation time.
type Gone = (i64, Option<i64>, String, DateTime<Utc>);

impl MemoryStore {
    /// Delete the rows of `kind` meeting `condition` (SQL over the kind's
    /// table, its values in `args`) inside `tx`, recording each in the
    /// forgotten log and the change log. Returns how many went; the caller
    /// counts them in [`ForgetCounts`] once `tx` commits.
    pub(crate) async fn forget_rows(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        condition: &str,
        args: Args,
        reason: Reason,
    ) -> Result<usize, MemoryError> {
        let spec = kind.spec();
        let sql = format!(
            "DELETE FROM {} WHERE {condition} RETURNING id, {}, {}, created_at",
            spec.table,
            spec.npc_column.unwrap_or("CAST(NULL AS BIGINT)"),
            spec.text_column
        );
        let mut gone: Vec<Gone> = tx.fetch_all(&sql, args).await?;
        // Logged in id order: `RETURNING` promises none.
        gone.sort_unstable_by_key(|g| g.0);
        let now = now_micros();
        for chunk in gone.chunks(LOG_CHUNK) {
            let mut args = Args::new();
            let rows: Vec<String> = chunk
                .iter()
                .map(|(id, npc, text, created_at)| {
                    format!(
                        "({}, {}, {}, {}, {}, {}, {})",
                        args.push(kind.name()),
                        args.push(*id),
                        args.push(*npc),
                        args.push(text.as_str()),
                        args.push(reason.name()),
                        args.push(*created_at),
                        args.push(now)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO ai_memory_forgotten
                   (kind, memory_id, npc_id, summary, reason, created_at, forgotten_at) VALUES {}",
                rows.join(", ")
            );
            tx.execute(&sql, args).await?;
        }
        for (id, ..) in &gone {
            log_change(tx, kind, *id, "delete").await?;
        }
        Ok(gone.len())
    }

    /// What an NPC forgot, oldest entry first, entries after `after`.
    pub async fn forgotten(
        &self,
        npc_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Forgotten>, MemoryError> {
        check_page_limit(limit)?;
        let mut args = Args::new();
        let sql = format!(
            "SELECT seq, memory_id AS id, summary, reason, created_at, forgotten_at
             FROM ai_memory_forgotten WHERE npc_id = {} AND kind = {} AND seq > {}
             ORDER BY seq LIMIT {}",
            args.push(npc_id),
            args.push(MemoryKind::Npc.name()),
            args.push(after),
            args.push(limit)
        );
        Ok(self.db.pool(Alias::AiMemory).fetch_all(&sql, args).await?)
    }

    /// Delete log entries older than the retention time. Returns how many went.
    pub async fn prune_forgotten(&self) -> Result<u64, MemoryError> {
        let retention = chrono::Duration::from_std(self.settings.forgotten_retention)
            .unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = now_micros().checked_sub_signed(retention) else {
            return Ok(0);
        };
        let mut args = Args::new();
        let sql = format!(
            "DELETE FROM ai_memory_forgotten WHERE forgotten_at < {}",
            args.push(cutoff)
        );
        let mut tx = self.db.pool(Alias::AiMemory).begin().await?;
        let pruned = tx.execute(&sql, args).await?;
        tx.commit().await?;
        Ok(pruned)
    }

    /// Memories this process forgot, by reason.
    pub fn forget_counts(&self) -> &ForgetCounts {
        &self.forgets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_reason() {
        let counts = ForgetCounts::default();
        counts.add(Reason::Budget, 2);
        counts.add(Reason::Expired, 1);
        counts.add(Reason::Budget, 3);
        assert_eq!(counts.get(Reason::Budget), 5);
        assert_eq!(counts.get(Reason::Expired), 1);
        assert_eq!(counts.get(Reason::Deleted), 0);
    }
}
