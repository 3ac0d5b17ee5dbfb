//! `mnemo serve`.

use std::sync::Arc;

use clap::Args;
use tokio::sync::watch;

use super::CliError;
use super::settings::{Settings, vars};
use crate::accounts::tokens;
use crate::db::migrate;
use crate::embed::Embedder as _;
use crate::http::{AppState, STARTUP};
use crate::memory::{
    HOUSEKEEPING_EVERY, MemoryStore, STATISTICS_EVERY, WorkerSettings, spawn_housekeeping,
    spawn_pending_worker, spawn_statistics,
};
use crate::vector::BitRescore;

/// The readiness hold while the memory stores open (SQLite: partitions load).
pub const MEMORY_INDEX: &str = "memory index";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// MNEMO_BIND: address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub bind: Option<String>,
    /// Apply pending migrations before serving instead of refusing to start.
    #[arg(long)]
    pub migrate: bool,
    /// MNEMO_HNSW_THRESHOLD: partitions with at least this many rows are searched through
    /// an HNSW index; below it every search is an exact scan.
    #[arg(long)]
    pub hnsw_threshold: Option<usize>,
    /// MNEMO_EF_SEARCH: HNSW candidate list size at search time.
    #[arg(long)]
    pub ef_search: Option<usize>,
    /// MNEMO_INT8_RESCORE: SQLite mode's exact scans take an int8 pass and re-score
    /// this many times k candidates in f32 (0, the default: skip it).
    #[arg(long)]
    pub int8_rescore: Option<usize>,
    /// MNEMO_BINARY_RESCORE: SQLite mode's exact scans start with a sign-bit pass
    /// keeping this many times k candidates (`auto`, the default: by the
    /// vectors' dimension, 8 at 1536-d, 32 at 384-d; 0: skip it).
    #[arg(long)]
    pub binary_rescore: Option<BitRescore>,
    /// MNEMO_HNSW_BUILDS: SQLite mode's HNSW index builds that may run at once.
    #[arg(long)]
    pub hnsw_builds: Option<usize>,
    /// MNEMO_DEDUP_WINDOW_SECONDS: an NPC memory repeating one (same NPC, speaker
    /// and text, case and whitespace aside) stored this many seconds ago or less
    /// adds no row; 0: off.
    #[arg(long)]
    pub dedup_window_seconds: Option<u64>,
    /// MNEMO_NPC_MEMORY_BUDGET: most unexpired memories an NPC without a policy of
    /// its own keeps; unset: unlimited.
    #[arg(long)]
    pub npc_memory_budget: Option<u64>,
    /// MNEMO_FORGOTTEN_RETENTION_HOURS: how long the forgotten log keeps each entry.
    #[arg(long)]
    pub forgotten_retention_hours: Option<u64>,
}

impl ServeArgs {
    /// The flags given, as (variable, value).
    pub(super) fn given(&self) -> Vec<(&'static str, String)> {
        let number = |n: Option<usize>| n.map(|n| n.to_string());
        let long = |n: Option<u64>| n.map(|n| n.to_string());
        [
            (vars::MNEMO_BIND, self.bind.clone()),
            (vars::MNEMO_HNSW_THRESHOLD, number(self.hnsw_threshold)),
            (vars::MNEMO_EF_SEARCH, number(self.ef_search)),
            (vars::MNEMO_INT8_RESCORE, number(self.int8_rescore)),
            (
                vars::MNEMO_BINARY_RESCORE,
                self.binary_rescore.map(|b| b.to_string()),
            ),
            (vars::MNEMO_HNSW_BUILDS, number(self.hnsw_builds)),
            (
                vars::MNEMO_DEDUP_WINDOW_SECONDS,
                long(self.dedup_window_seconds),
            ),
            (vars::MNEMO_NPC_MEMORY_BUDGET, long(self.npc_memory_budget)),
            (
                vars::MNEMO_FORGOTTEN_RETENTION_HOURS,
                long(self.forgotten_retention_hours),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// Start listening at once (so `/healthz` answers and `/readyz` says what it
/// waits for), then open the memory stores, then serve until SIGINT/SIGTERM.
/// Shutdown: actix stops accepting and lets in-flight requests finish (up to
/// `MNEMO_SHUTDOWN_TIMEOUT_SECONDS`), then the pending-embedding worker is
/// told to stop and awaited, so its current batch is committed, and the
/// database pools are closed.
pub async fn serve(settings: &Settings, args: &ServeArgs) -> Result<(), CliError> {
    let embedder = settings.embedder()?;
    let db = settings.open(true).await?;
    if args.migrate {
        migrate::migrate(
            &db,
            &crate::db::Alias::ALL,
            &settings.migrate_params(),
            None,
        )
        .await?;
    }
    let pending = migrate::pending(&db).await?;
    if !pending.is_empty() {
        return Err(CliError(format!(
            "{} pending migration(s): {}; run `mnemo migrate` or start with `mnemo serve --migrate`",
            pending.len(),
            pending.join(", ")
        )));
    }
    // A fresh installation has no token at all, so nobody could create one over
    // the API: make an admin token and show it once, on stdout (logs go to stderr).
    if let Some((token, secret)) = tokens::ensure_bootstrap_admin(&db).await? {
        println!(
            "No API token existed: created admin token {:?}. It is shown once; store it now:\n{secret}",
            token.name
        );
    }
    let state = AppState::new(db.clone());
    state.readiness.hold(MEMORY_INDEX);
    state.readiness.release(STARTUP);
    let (_, server) = crate::http::start(state.clone(), settings.http.clone(), true)?;
    let handle = server.handle();
    let mut server = tokio::spawn(server);

    tracing::info!(
        model = embedder.model(),
        "opening the memory stores (loading partitions)"
    );
    let opened = tokio::select! {
        opened = MemoryStore::open(db.clone(), embedder, settings.memory.clone()) => opened,
        stopped = &mut server => {
            // A signal arrived while the partitions were loading.
            tracing::info!("stopped before the memory stores were open");
            db.close().await;
            return stopped.map_err(CliError::from)?.map_err(CliError::from);
        }
    };
    let store = match opened {
        Ok(store) => Arc::new(store),
        Err(e) => {
            handle.stop(false).await;
            let _ = server.await;
            db.close().await;
            return Err(CliError(e.to_string()));
        }
    };
    state.memory.set(store.clone());
    state.readiness.release(MEMORY_INDEX);
    tracing::info!("ready");

    let (stop_workers, workers_stop) = watch::channel(false);
    let housekeeping = spawn_housekeeping(store.clone(), HOUSEKEEPING_EVERY, workers_stop.clone());
    let statistics = spawn_statistics(store.clone(), STATISTICS_EVERY, workers_stop.clone());
    let worker = spawn_pending_worker(store, WorkerSettings::default(), workers_stop);
    let result = server.await;
    tracing::info!("server stopped; finishing the pending-embedding worker's batch");
    let _ = stop_workers.send(true);
    for (name, task) in [
        ("pending-embedding worker", worker),
        ("housekeeping", housekeeping),
        ("statistics", statistics),
    ] {
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "{name} ended abnormally");
        }
    }
    tracing::info!("closing database pools");
    db.close().await;
    result.map_err(CliError::from)?.map_err(CliError::from)
}
