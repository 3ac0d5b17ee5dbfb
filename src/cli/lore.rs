//! `mnemo lore import DIR [--prune] [--dry-run]`: apply every lore file of a
//! directory (`*.yaml`, `*.yml`, `*.json`), the same import as
//! `POST /v1/memories/lore/import`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::settings::Settings;
use crate::memory::{ImportOptions, ImportReport, LoreFile, MemorySettings, MemoryStore};

#[derive(Debug, Args)]
pub struct LoreArgs {
    #[command(subcommand)]
    pub command: LoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum LoreCommand {
    /// Upsert every entry of the lore files in DIR by (source, title).
    Import {
        /// Directory of lore files (`*.yaml`, `*.yml`, or the JSON twin `*.json`).
        dir: PathBuf,
        /// Delete each source's entries that its file no longer lists.
        #[arg(long)]
        prune: bool,
        /// Report what would change; write and embed nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn lore(settings: &Settings, args: &LoreArgs) -> Result<(), CliError> {
    match &args.command {
        LoreCommand::Import {
            dir,
            prune,
            dry_run,
        } => {
            import(
                settings,
                dir,
                ImportOptions {
                    prune: *prune,
                    dry_run: *dry_run,
                },
            )
            .await
        }
    }
}

/// The lore files of `dir`, sorted by name.
fn lore_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError(format!("cannot read {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Parse one file; a file without `source` is named after itself.
fn read_file(path: &Path) -> Result<LoreFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut file = if path.extension().and_then(|e| e.to_str()) == Some("json") {
        LoreFile::from_json(&text)
    } else {
        LoreFile::from_yaml(&text)
    }
    .map_err(|e| e.to_string())?;
    if file.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
        file.source = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    }
    Ok(file)
}

async fn import(settings: &Settings, dir: &Path, options: ImportOptions) -> Result<(), CliError> {
    let paths = lore_files(dir)?;
    if paths.is_empty() {
        return Err(CliError(format!(
            "no lore files (*.yaml, *.yml, *.json) in {}",
            dir.display()
        )));
    }
    // Parse everything first: a broken file stops the run before any write.
    let mut files = Vec::new();
    let mut broken = Vec::new();
    for path in &paths {
        match read_file(path) {
            Ok(f) => files.push((path, f)),
            Err(e) => broken.push(format!("{}: {e}", path.display())),
        }
    }
    if !broken.is_empty() {
        return Err(CliError(format!(
            "{} lore file(s) could not be read:\n  {}",
            broken.len(),
            broken.join("\n  ")
        )));
    }
    let db = settings.open(false).await?;
    let embedder = settings.embedder()?;
    let store = MemoryStore::open_lazily(db.clone(), embedder, MemorySettings::default()).await?;
    let total: usize = files.iter().map(|(_, f)| f.entries.len()).sum();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = ImportReport {
        dry_run: options.dry_run,
        ..ImportReport::default()
    };
    for (path, file) in &files {
        bar.set_message(path.display().to_string());
        let report = store
            .import_lore(file, options, |_| bar.inc(1))
            .await
            .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
        // `bar.suspend`, not `bar.println`: the latter prints nothing when
        // stderr is not a terminal.
        for f in &report.failures {
            let field = f.field.as_deref().map(|x| format!("{x}: "));
            bar.suspend(|| {
                eprintln!(
                    "{}: {:?} failed: {}{}",
                    path.display(),
                    f.title,
                    field.unwrap_or_default(),
                    f.message
                )
            });
        }
        let verb = if options.dry_run {
            "would prune"
        } else {
            "pruned"
        };
        for title in &report.pruned {
            bar.suspend(|| println!("{}: {verb} {title:?}", report.source));
        }
        summary.absorb(report);
    }
    bar.finish_and_clear();
    db.close().await;
    println!(
        "{}{} file(s): {} created, {} updated, {} unchanged, {} failed, {} pruned",
        if options.dry_run { "dry run: " } else { "" },
        files.len(),
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.failed,
        summary.pruned.len()
    );
    if summary.failed > 0 {
        return Err(CliError(format!(
            "{} lore entr{} failed",
            summary.failed,
            if summary.failed == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}
