//! Write transactions, and the in-process queue SQLite writers wait in.
//!
//! SQLite lets one writer at a time hold a database file. A writer that finds
//! it held waits in SQLite's busy handler, which sleeps with a growing back-off
//! (up to 100 ms per sleep): at 8 concurrent batch writers that cut throughput
//! below one writer's and put p99 at 0.6 s. So this process's writers to one
//! file first queue on a FIFO lock (the gate), and only then `BEGIN
//! IMMEDIATE`; the busy handler is left to writers in other processes (the
//! CLI beside the server), which still meet the busy timeout.
//!
//! The gate is taken inside [`BackendPool::begin_write`](super::BackendPool),
//! so no writer can forget it. It is keyed by the database file, found from
//! the pool itself: every pool this process opens on one file shares it.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sqlx::{Database, SqlitePool, Transaction};
use tokio::sync::OwnedMutexGuard;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// One gate per SQLite file this process has written to. Entries are never
/// removed: a process opens a handful of files (tests a few hundred).
static GATES: LazyLock<Mutex<HashMap<PathBuf, Gate>>> = LazyLock::new(Default::default);

fn gate_for(file: &Path) -> Gate {
    // The map is only read and inserted into: a panic elsewhere cannot leave it
    // half-updated, so a poisoned lock is safe to use.
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(gate) = gates.get(file) {
        return gate.clone();
    }
    gates.entry(file.to_owned()).or_default().clone()
}

/// Wait for this process's turn to write to the file behind `pool`.
pub(super) async fn sqlite_turn(pool: &SqlitePool) -> OwnedMutexGuard<()> {
    let options = pool.connect_options();
    gate_for(options.get_filename()).lock_owned().await
}

/// A write transaction. On SQLite it holds this process's turn to write to the
/// file until it commits or is dropped (rolled back). Dereferences to the
/// connection, like [`Transaction`]: run statements on `&mut *tx`.
pub struct WriteTx<DB: Database> {
    tx: Transaction<'static, DB>,
    turn: Option<OwnedMutexGuard<()>>,
}

impl<DB: Database> WriteTx<DB> {
    pub(super) fn new(tx: Transaction<'static, DB>, turn: Option<OwnedMutexGuard<()>>) -> Self {
        Self { tx, turn }
    }

    /// Commit, then let the next writer in.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { tx, turn } = self;
        let committed = tx.commit().await;
        drop(turn);
        committed
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}
