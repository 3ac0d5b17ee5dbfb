//! Periodic upkeep of a serving process:
//! - SQLite mode's change log is pruned of what every live reader has replayed
//!   (see `index`), so it stays bounded by the write rate over a few minutes
//!   instead of growing by a row per write forever (about 300 MB a day at 100
//!   writes a second);
//! - expired memories are purged (reads leave them out from their expiry on;
//!   this frees their rows and records them in the forgotten log);
//! - NPCs over their memory budget (by more than a write evicts itself) are
//!   brought back to it;
//! - the forgotten log is pruned of entries past its retention;
//! - Postgres mode: rows stored before the sign bits were written beside each
//!   vector get theirs (see `pg_signs`);
//! - Postgres mode: the memory tables' planner statistics are refreshed once a
//!   table grew by a fifth, checked every second (see `db::statistics`), where
//!   autovacuum would leave a table filled from empty unplanned for a minute.
//!
//! Each task's failure is logged and retried at the next run; one failing
//! never stops the others.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::MemoryError;
use super::kind::MemoryKind;
use super::store::MemoryStore;

/// How often upkeep runs. Each run is a handful of small statements; a minute
/// keeps the change log to about a minute of writes when every reader keeps up,
/// and expired memories to about a minute past their expiry on disk.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// How often the memory tables' statistics are checked (Postgres mode): a
/// catalog read of a fraction of a millisecond, and an `ANALYZE` only when one
/// grew by a fifth. A bulk load writes a few thousand rows a second, all of
/// them planned on no statistics until the first check after its first
/// thousand (at five seconds, the dedup look-up still cost 10 s of a 20,000-row
/// load's 35 s of statements).
pub const STATISTICS_EVERY: Duration = Duration::from_secs(1);

/// What one run of upkeep did, per task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upkeep {
    pub changelog_pruned: u64,
    pub expired: u64,
    pub evicted: u64,
    pub forgotten_pruned: u64,
    pub signed: u64,
}

impl MemoryStore {
    /// One run of upkeep: every task, each independent of the others' failure
    /// (the first error is returned after all ran).
    pub async fn housekeeping(&self) -> Result<Upkeep, MemoryError> {
        let mut first_error = None;
        let mut keep = |result: Result<u64, MemoryError>, task: &str| match result {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, task, "housekeeping task failed; will retry");
                first_error.get_or_insert(e);
                0
            }
        };
        let changelog_pruned = keep(self.prune_changelog().await, "change log pruning");
        let expired = keep(self.purge_expired().await, "expiry purge");
        let evicted = keep(self.enforce_budgets().await, "budget enforcement");
        let forgotten_pruned = keep(self.prune_forgotten().await, "forgotten log pruning");
        let signed = keep(self.fill_signs().await, "sign bits fill");
        let done = Upkeep {
            changelog_pruned,
            expired,
            evicted,
            forgotten_pruned,
            signed,
        };
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

/// Run upkeep every `every` until `shutdown` turns true.
pub fn spawn_housekeeping(
    store: Arc<MemoryStore>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    spawn_every(every, shutdown, move || {
        let store = store.clone();
        async move {
            if let Ok(done) = store.housekeeping().await
                && done != Upkeep::default()
            {
                tracing::debug!(?done, "housekeeping");
            }
        }
    })
}

/// Refresh the memory tables' stale statistics every `every` until `shutdown`
/// turns true (nothing to do in SQLite mode).
pub fn spawn_statistics(
    store: Arc<MemoryStore>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    spawn_every(every, shutdown, move || {
        let store = store.clone();
        async move {
            let tables = MemoryKind::ALL.map(MemoryKind::table);
            match store.db.refresh_statistics(&tables).await {
                Ok(analysed) if !analysed.is_empty() => {
                    tracing::debug!(?analysed, "planner statistics refreshed");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refreshing statistics failed; will retry"),
            }
        }
    })
}

/// Run `task` every `every` until `shutdown` turns true.
fn spawn_every<F, Fut>(
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    task: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            task().await;
        }
    })
}
