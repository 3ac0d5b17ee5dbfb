//! `mnemo reembed`: embed pending rows, or every row written with another model or
//! dimension (switching providers, also across dimensions on Postgres).

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::CliError;
use super::kind_arg::KindArg;
use super::settings::Settings;
use crate::db::{Alias, migrate};
use crate::embed::Embedder;
use crate::memory::{EmbedScope, MemorySettings, MemoryStore, ReembedEvent};

#[derive(Debug, Args)]
pub struct ReembedArgs {
    /// Which store to re-embed.
    #[arg(long, value_enum, default_value = "all")]
    pub kind: KindArg,
    /// Only rows whose embedding is pending (the provider was down when they were stored).
    #[arg(long, conflicts_with = "failed")]
    pub pending: bool,
    /// Only rows the provider refused before (marked failed), e.g. after raising a limit or
    /// switching to a model that takes longer texts.
    #[arg(long)]
    pub failed: bool,
    /// Rows per provider call and transaction.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// Re-embed in batches, each committed on its own: an interrupted run resumes
/// where it stopped, because finished rows already carry the current model.
/// On Postgres a provider of another dimension first resizes the vector column
/// (see `MemoryStore::reembed`); the run says so, and when it builds an index.
pub async fn reembed(settings: &Settings, args: &ReembedArgs) -> Result<(), CliError> {
    let db = settings.open(false).await?;
    // Without the pgvector step the columns this command writes do not exist yet.
    let status = migrate::status(&db, &[Alias::AiMemory]).await?;
    let pending: Vec<String> = status.into_iter().flat_map(|s| s.pending).collect();
    if !pending.is_empty() {
        return Err(CliError(format!(
            "pending ai_memory migration(s): {}; run `mnemo migrate` first",
            pending.join(", ")
        )));
    }
    let embedder = settings.embedder()?;
    let store =
        MemoryStore::open_unchecked(db, embedder.clone(), MemorySettings::default()).await?;
    let kinds = args.kind.kinds();
    let batch = args.batch.clamp(1, 2048);
    let model = embedder.model();
    let scope = if args.pending {
        EmbedScope::Pending
    } else if args.failed {
        EmbedScope::Failed
    } else {
        EmbedScope::NotCurrent
    };
    let mut refused = 0;
    for kind in kinds {
        let name = kind.name();
        // Hidden until the row count is known, so it never shows an empty 0/0 bar.
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("re-embedding {name} memories with {model}"));
        let done = store
            .reembed(kind, batch, scope, |event| match event {
                ReembedEvent::ColumnResized { from, to } => bar.suspend(|| {
                    println!(
                        "{name}: column changed from vector({from}) to vector({to}); \
                         its vectors were cleared and its rows will be re-embedded"
                    )
                }),
                ReembedEvent::ToEmbed(n) => {
                    bar.set_length(n);
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
                ReembedEvent::Batch(done) => {
                    bar.inc((done.rows + done.failed + done.changed) as u64)
                }
                ReembedEvent::BuildingIndex(index) => {
                    bar.set_message(format!("building HNSW index {index}"));
                    bar.tick();
                }
                ReembedEvent::IndexBuilt(index) => {
                    bar.suspend(|| println!("{name}: HNSW index {index} built"))
                }
            })
            .await?;
        bar.finish_and_clear();
        println!("{name}: {} rows embedded with {model}", done.rows);
        if done.changed > 0 {
            println!(
                "{name}: {} rows changed while being embedded; they stay pending for the new text",
                done.changed
            );
        }
        if done.failed > 0 {
            println!(
                "{name}: {} rows refused by the provider, marked failed (GET /v1/memories/failed lists them; \
                 `mnemo reembed --failed` tries them again)",
                done.failed
            );
            refused += done.failed;
        }
    }
    if refused > 0 {
        return Err(CliError(format!(
            "{refused} rows could not be embedded: the provider refused their text"
        )));
    }
    Ok(())
}
