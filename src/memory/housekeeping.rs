//! Periodic upkeep of a serving process: SQLite mode's change log is pruned of
//! what every live reader has replayed (see `index`), so it stays bounded by
//! the write rate over a few minutes instead of growing by a row per write
//! forever (about 300 MB a day at 100 writes a second).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::store::MemoryStore;

/// How often upkeep runs. Each run is a handful of small statements; a minute
/// keeps the change log to about a minute of writes when every reader keeps up.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// Run upkeep every `every` until `shutdown` turns true.
pub fn spawn_housekeeping(
    store: Arc<MemoryStore>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            match store.prune_changelog().await {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(rows, "change log pruned"),
                Err(e) => tracing::warn!(error = %e, "change log pruning failed; will retry"),
            }
        }
    })
}
