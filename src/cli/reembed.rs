//! `mnemo reembed`: embed pending rows, or every row written with another model.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Cli, CliError};
use crate::embed::Embedder;
use crate::memory::{MemoryKind, MemorySettings, MemoryStore};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Npc,
    Combat,
    Lore,
    All,
}

#[derive(Debug, Args)]
pub struct ReembedArgs {
    /// Which store to re-embed.
    #[arg(long, value_enum, default_value = "all")]
    pub kind: KindArg,
    /// Only rows whose embedding is pending (the provider was down when they were stored).
    #[arg(long)]
    pub pending: bool,
    /// Rows per provider call and transaction.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// Re-embed in batches, each committed on its own: an interrupted run resumes
/// where it stopped, because finished rows already carry the current model.
pub async fn reembed(cli: &Cli, args: &ReembedArgs) -> Result<(), CliError> {
    let db = cli.open().await?;
    let embedder = cli.embedding.build()?;
    let store =
        MemoryStore::open_unchecked(db, embedder.clone(), MemorySettings::default()).await?;
    let kinds: Vec<MemoryKind> = match args.kind {
        KindArg::Npc => vec![MemoryKind::Npc],
        KindArg::Combat => vec![MemoryKind::Combat],
        KindArg::Lore => vec![MemoryKind::Lore],
        KindArg::All => MemoryKind::ALL.to_vec(),
    };
    let batch = args.batch.clamp(1, 2048);
    for kind in kinds {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!(
            "re-embedding {} memories with {}",
            kind.name(),
            embedder.model()
        ));
        loop {
            let n = store.embed_missing(kind, batch, !args.pending).await?;
            if n == 0 {
                break;
            }
            bar.inc(n as u64);
        }
        bar.finish();
        println!(
            "{}: {} rows embedded with {}",
            kind.name(),
            bar.position(),
            embedder.model()
        );
    }
    Ok(())
}
