//! `mnemo serve`.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use super::{Cli, CliError};
use crate::accounts::tokens;
use crate::db::migrate;
use crate::embed::Embedder as _;
use crate::http::{AppState, HttpSettings, STARTUP};
use crate::memory::{MemorySettings, MemoryStore, spawn_pending_worker};

/// The readiness hold while the memory stores open (SQLite: partitions load).
pub const MEMORY_INDEX: &str = "memory index";

/// How often the pending-embedding worker looks for work when idle.
const PENDING_IDLE: Duration = Duration::from_secs(10);

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
    /// SQLite mode: exact scans start with a sign-bit pass (1 bit per dimension,
    /// Hamming distance) keeping this many times k candidates for the int8 pass (or
    /// f32); 0 skips it. On by default at 32: on the recall data set (real text,
    /// minilm) recall@10 was 0.996 at 384 dimensions (0.987 at 16) and 1.000 at
    /// 1536, with scans 2.6x faster than int8 alone at 1536 (`loadgen scan`).
    #[arg(long, env = "MNEMO_BINARY_RESCORE", default_value_t = 32)]
    pub binary_rescore: usize,
    /// SQLite mode: HNSW index builds that may run at once; more partitions needing
    /// one wait their turn (each build already uses every core).
    #[arg(long, env = "MNEMO_HNSW_BUILDS", default_value_t = 1)]
    pub hnsw_builds: usize,
}

impl ServeArgs {
    fn memory_settings(&self) -> MemorySettings {
        MemorySettings {
            ef_search: self.ef_search,
            hnsw: crate::vector::HnswSettings {
                threshold: self.hnsw_threshold.max(1),
                ef_search: self.ef_search,
                int8_rescore: self.int8_rescore,
                binary_rescore: self.binary_rescore,
                build_pool: crate::vector::BuildPool::new(self.hnsw_builds),
                ..crate::vector::HnswSettings::default()
            },
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
    let db = cli.open().await?;
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
            "No active API token existed: created admin token {:?}. It is shown once; store it now:\n{secret}",
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

    let (stop_worker, worker_stop) = watch::channel(false);
    let worker = spawn_pending_worker(store, PENDING_IDLE, worker_stop);
    let result = server.await;
    tracing::info!("server stopped; finishing the pending-embedding worker's batch");
    let _ = stop_worker.send(true);
    if let Err(e) = worker.await {
        tracing::warn!(error = %e, "pending-embedding worker ended abnormally");
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
    fn binary_first_pass_and_one_build_at_a_time_are_the_defaults() {
        let defaults = Wrapper::parse_from(["mnemo"]).serve.memory_settings();
        assert_eq!(defaults.hnsw.binary_rescore, 32);
        assert_eq!(defaults.hnsw.build_pool.limit(), 1);
        let changed = Wrapper::parse_from(["mnemo", "--binary-rescore", "0", "--hnsw-builds", "2"])
            .serve
            .memory_settings();
        assert_eq!(changed.hnsw.binary_rescore, 0);
        assert_eq!(changed.hnsw.build_pool.limit(), 2);
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
}
