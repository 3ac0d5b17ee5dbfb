//! How many searches ranked exactly and how many went through an HNSW index,
//! since the process started: exported on `/metrics`, so an operator can see
//! which partitions have outgrown exact scans.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SearchCounts {
    exact: AtomicU64,
    index: AtomicU64,
}

impl SearchCounts {
    pub(crate) fn record(&self, exact: bool) {
        let counter = if exact { &self.exact } else { &self.index };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Searches ranked by an exact scan (in SQLite mode, one per partition searched).
    pub fn exact(&self) -> u64 {
        self.exact.load(Ordering::Relaxed)
    }

    /// Searches answered through an HNSW index.
    pub fn index(&self) -> u64 {
        self.index.load(Ordering::Relaxed)
    }
}
