//! `mnemo index`: the Postgres HNSW indexes. `status` shows them; `drop` before
//! a bulk import and `build` after it make the import several times faster
//! than inserting into the index row by row (see `memory::pg_index`).

use std::time::Instant;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::CliError;
use super::kind_arg::KindArg;
use super::settings::Settings;
use crate::db::{Alias, Backend, migrate};
use crate::memory::{IndexState, hnsw_index, pg_index};

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(subcommand)]
    pub command: IndexCommand,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Show each store's HNSW index: ready, missing, or invalid (an interrupted build).
    Status,
    /// Build the HNSW index of each chosen store unless it is ready; writes go
    /// on meanwhile.
    Build {
        #[arg(long, value_enum, default_value = "all")]
        kind: KindArg,
        /// Postgres `maintenance_work_mem` for the build (e.g. 1GB): pgvector
        /// builds far faster while the graph fits in it. Default: the server's.
        #[arg(long)]
        maintenance_work_mem: Option<String>,
    },
    /// Drop the HNSW index of a store, before a bulk import. Until it is built
    /// again, searches of scopes above the HNSW threshold scan every row.
    Drop {
        /// Which store; required, so nothing is dropped by default.
        #[arg(long, value_enum)]
        kind: KindArg,
    },
}

pub async fn index(settings: &Settings, args: &IndexArgs) -> Result<(), CliError> {
    let db = settings.open(false).await?;
    if db.backend() == Backend::Sqlite {
        return Err(CliError(
            "SQLite mode keeps its HNSW indexes in the server's memory, built as partitions grow; \
             `mnemo index` manages the Postgres indexes (set DATABASE_URL)"
                .into(),
        ));
    }
    let status = migrate::status(&db, &[Alias::AiMemory]).await?;
    if status.iter().any(|s| !s.pending.is_empty()) {
        return Err(CliError(
            "ai_memory has pending migrations; run `mnemo migrate` first".into(),
        ));
    }
    match &args.command {
        IndexCommand::Status => {
            for kind in KindArg::All.kinds() {
                let state = pg_index::index_state(&db, kind).await?;
                println!("{}: {} {}", kind.name(), hnsw_index(kind), state.name());
            }
        }
        IndexCommand::Drop { kind } => {
            for kind in kind.kinds() {
                let before = pg_index::drop_index(&db, kind).await?;
                let what = if before == IndexState::Missing {
                    "was already missing"
                } else {
                    "dropped"
                };
                println!("{}: {} {what}", kind.name(), hnsw_index(kind));
            }
        }
        IndexCommand::Build {
            kind,
            maintenance_work_mem,
        } => {
            for kind in kind.kinds() {
                let name = kind.name();
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("{name}: building {}", hnsw_index(kind)));
                let started = Instant::now();
                let built =
                    pg_index::build_index(&db, kind, maintenance_work_mem.as_deref(), |p| {
                        let of = if p.total > 0 {
                            format!("/{}", p.total)
                        } else {
                            String::new()
                        };
                        bar.set_message(format!("{name}: {}, {}{of} rows", p.phase, p.done));
                    })
                    .await?;
                bar.finish_and_clear();
                if built {
                    println!(
                        "{name}: {} built in {:.1} s",
                        hnsw_index(kind),
                        started.elapsed().as_secs_f64()
                    );
                } else {
                    println!("{name}: {} was already ready", hnsw_index(kind));
                }
            }
        }
    }
    Ok(())
}
