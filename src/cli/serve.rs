//! `mnemo serve`.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use super::{Cli, CliError};
use crate::accounts::tokens;
use crate::db::{Db, migrate};
use crate::embed::Embedder as _;
use crate::http::{AppState, HttpSettings, STARTUP};
use crate::memory::{
    HOUSEKEEPING_EVERY, MemorySettings, MemoryStore, WorkerSettings, spawn_housekeeping,
    spawn_pending_worker,
};

/// The readiness hold while the memory stores open (SQLite: partitions load).
pub const MEMORY_INDEX: &str = "memory index";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MNEMO_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Apply pending migrations before serving instead of refusing to start.
    #[arg(long)]
    pub migrate: bool,
    /// SQLite mode: partitions with at least this many rows get an in-memory HNSW
    /// index (below it every search is an exact scan; see `HnswSettings`).
    #[arg(long, env = "MNEMO_HNSW_THRESHOLD", default_value_t = 20_000)]
    pub hnsw_threshold: usize,
    /// HNSW candidate list size at search time (pgvector `hnsw.ef_search` and the in-memory index).
    #[arg(long, env = "MNEMO_EF_SEARCH", default_value_t = 100)]
    pub ef_search: usize,
    /// SQLite mode: exact scans take an int8 first pass and re-score this many
    /// times k candidates in f32; 0 scans f32 only. On by default: on the recall
    /// data set (real text, minilm) it kept recall@10 at 1.000 at 384 and 1536
    /// dimensions while scanning 2.5x (384-d) to 5.6x (1536-d) faster
    /// (benches/results).
    #[arg(long, env = "MNEMO_INT8_RESCORE", default_value_t = 4)]
    pub int8_rescore: usize,
    /// An NPC memory repeating one (same NPC, speaker and text, case and
    /// whitespace aside) stored this many seconds ago or less adds no row; 0: off.
    #[arg(long, env = "MNEMO_DEDUP_WINDOW_SECONDS", default_value_t = 600)]
    pub dedup_window_seconds: u64,
    /// Most unexpired memories an NPC without a policy of its own keeps; unset: unlimited.
    #[arg(long, env = "MNEMO_NPC_MEMORY_BUDGET", value_parser = clap::value_parser!(u64).range(1..))]
    pub npc_memory_budget: Option<u64>,
    /// How long the forgotten log keeps each entry.
    #[arg(long, env = "MNEMO_FORGOTTEN_RETENTION_HOURS", default_value_t = 720, value_parser = clap::value_parser!(u64).range(1..))]
    pub forgotten_retention_hours: u64,
}

impl ServeArgs {
    fn memory_settings(&self) -> MemorySettings {
        MemorySettings {
            ef_search: self.ef_search,
            hnsw: crate::vector::HnswSettings {
                threshold: self.hnsw_threshold.max(1),
                ef_search: self.ef_search,
                int8_rescore: self.int8_rescore,
                ..crate::vector::HnswSettings::default()
            },
            dedup_window: Duration::from_secs(self.dedup_window_seconds),
            npc_budget: self.npc_memory_budget,
            forgotten_retention: Duration::from_secs(
                self.forgotten_retention_hours.saturating_mul(3600),
            ),
            ..MemorySettings::default()
        }
    }
}

/// Start listening at once (so `/healthz` answers and `/readyz` says what it
/// waits for), then open the memory stores, then serve until SIGINT/SIGTERM.
/// Shutdown: actix stops accepting and lets in-flight requests finish (up to
/// `MNEMO_SHUTDOWN_TIMEOUT_SECONDS`), then the pending-embedding worker is
/// told to stop and awaited, so its current batch is committed, and the
/// database pools are closed.
pub async fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), CliError> {
    // Settings first: a typo in a variable should stop us before any database work.
    let settings = HttpSettings {
        bind: args.bind.clone(),
        ..HttpSettings::from_env().map_err(CliError)?
    };
    let embedder = cli.embedding.build()?;
    let db = Db::open_with(&cli.target()?, &cli.db_settings(true)?).await?;
    if args.migrate {
        migrate::migrate(&db, &crate::db::Alias::ALL, &cli.migrate_params(), None).await?;
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
    let (_, server) = crate::http::start(state.clone(), settings, true)?;
    let handle = server.handle();
    let mut server = tokio::spawn(server);

    tracing::info!(
        model = embedder.model(),
        "opening the memory stores (loading partitions)"
    );
    let opened = tokio::select! {
        opened = MemoryStore::open(db.clone(), embedder, args.memory_settings()) => opened,
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
    let worker = spawn_pending_worker(store, WorkerSettings::default(), workers_stop);
    let result = server.await;
    tracing::info!("server stopped; finishing the pending-embedding worker's batch");
    let _ = stop_workers.send(true);
    for (name, task) in [
        ("pending-embedding worker", worker),
        ("housekeeping", housekeeping),
    ] {
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "{name} ended abnormally");
        }
    }
    tracing::info!("closing database pools");
    db.close().await;
    result.map_err(CliError::from)?.map_err(CliError::from)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServeArgs;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn int8_first_pass_is_on_by_default_and_can_be_turned_off() {
        let defaults = Wrapper::parse_from(["mnemo"]).serve.memory_settings();
        assert_eq!(defaults.hnsw.int8_rescore, 4);
        let off = Wrapper::parse_from(["mnemo", "--int8-rescore", "0"])
            .serve
            .memory_settings();
        assert_eq!(off.hnsw.int8_rescore, 0);
    }

    #[test]
    fn lifecycle_defaults_and_overrides() {
        let defaults = Wrapper::parse_from(["mnemo"]).serve.memory_settings();
        assert_eq!(defaults.dedup_window, std::time::Duration::from_secs(600));
        assert_eq!(defaults.npc_budget, None);
        assert_eq!(
            defaults.forgotten_retention,
            std::time::Duration::from_secs(720 * 3600)
        );
        let set = Wrapper::parse_from([
            "mnemo",
            "--dedup-window-seconds",
            "0",
            "--npc-memory-budget",
            "200",
            "--forgotten-retention-hours",
            "2",
        ])
        .serve
        .memory_settings();
        assert!(set.dedup_window.is_zero());
        assert_eq!(set.npc_budget, Some(200));
        assert_eq!(
            set.forgotten_retention,
            std::time::Duration::from_secs(7200)
        );
        assert!(
            Wrapper::try_parse_from(["mnemo", "--npc-memory-budget", "0"]).is_err(),
            "a budget of 0 would forget everything: refused"
        );
    }
}
