//! `mnemo import original (--sqlite-dir DIR | --pg-url URL) [--model M]
//! [--dry-run] [--batch N]`: the original game's databases into this one
//! (see `original`), with a progress bar per table, a summary table, the
//! duplicates the original let through and every failed row; exit 1 when a
//! row failed.
//!
//! The original's Postgres database is `--pg-url`, not `--database-url`:
//! that flag (and `DATABASE_URL`) names mnemo's own database, where the
//! import writes.

use std::path::PathBuf;
use std::sync::Mutex;

use clap::{ArgGroup, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::settings::Settings;
use crate::embed;
use crate::memory::MemoryStore;
use crate::original::{self, ImportOptions, Progress, Source};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// The original game's databases: NPC, combat and lore memories with their vectors,
    /// the economy, subscriptions and accounts. A second run imports nothing; an
    /// interrupted one continues.
    Original(OriginalArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["sqlite_dir", "pg_url"])))]
pub struct OriginalArgs {
    /// Directory of the original's SQLite files: ai_memory.db3, xrpl.db3,
    /// subscriptions.db3 and, for accounts, evennia.db3 (those present are read).
    #[arg(long)]
    pub sqlite_dir: Option<PathBuf>,
    /// The original's Postgres database (postgres://…), read only. mnemo's own
    /// database stays DATABASE_URL / --database-url.
    #[arg(long)]
    pub pg_url: Option<String>,
    /// The embedding model the original's vectors were made with.
    #[arg(long, default_value = "text-embedding-3-small")]
    pub model: String,
    /// Count what would be imported; every write is rolled back.
    #[arg(long)]
    pub dry_run: bool,
    /// Rows per transaction (1 to 10000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub batch: u16,
}

pub async fn import(settings: &Settings, args: &ImportArgs) -> Result<(), CliError> {
    let ImportCommand::Original(args) = &args.command;
    let source = match (&args.sqlite_dir, &args.pg_url) {
        (Some(dir), _) => Source::sqlite_dir(dir).await?,
        (None, Some(url)) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Source::postgres(url).await?
        }
        _ => {
            return Err(CliError(
                "--pg-url must be a postgres:// or postgresql:// URL".into(),
            ));
        }
    };
    let embedding = &settings.embedding;
    let provider = embedding.provider.clone();
    let dimension = embed::dimension_of(&provider, &embedding.provider_settings).ok_or_else(|| {
        CliError(format!(
            "unknown embedding provider {provider:?}: expected \"hash\", \"openai\" or \"minilm\""
        ))
    })?;
    let options = ImportOptions {
        model: args.model.clone(),
        provider,
        dimension,
        vault_address: settings.vault_address.clone(),
        dry_run: args.dry_run,
        batch: usize::from(args.batch),
    };
    // Before the provider is even built: a model it would have to load is no
    // reason to write half an import.
    original::check_vectors(&source, &options).await?;
    let db = settings.open(false).await?;
    let store =
        MemoryStore::open_unchecked(db.clone(), settings.embedder()?, settings.memory.clone())
            .await?;
    eprintln!("importing {} into {}", source.describe(), db.describe());
    let bars = Bars::default();
    let report = original::import(&store, &source, &options, &bars).await;
    source.close().await;
    db.close().await;
    let report = report?;
    println!("{report}");
    for note in &report.notes {
        println!("note: {note}");
    }
    if !report.duplicates.is_empty() {
        println!(
            "{} duplicate(s) the original let through, not imported again:",
            report.duplicates.len()
        );
        for d in &report.duplicates {
            println!("  {d}");
        }
    }
    if report.failures.is_empty() {
        return Ok(());
    }
    for f in &report.failures {
        eprintln!("failed: {f}");
    }
    Err(CliError(format!(
        "{} row(s) failed (listed above with their table and original id); they were not imported, \
         and a second run tries them again",
        report.failures.len()
    )))
}

/// One progress bar per table, on stderr (hidden when it is not a terminal).
#[derive(Default)]
struct Bars(Mutex<Option<ProgressBar>>);

impl Bars {
    fn current(&self) -> Option<ProgressBar> {
        self.0.lock().ok().and_then(|b| b.clone())
    }
}

impl Progress for Bars {
    fn begin(&self, table: &str, rows: u64) {
        let bar = ProgressBar::new(rows).with_message(table.to_owned());
        bar.set_style(
            ProgressStyle::with_template("{msg:34} {bar:30} {pos:>7}/{len:7} {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, rows: u64) {
        if let Some(bar) = self.current() {
            bar.inc(rows);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.current() {
            bar.finish();
        }
    }
}
