//! The import run: the checks that refuse before anything is written (vector
//! dimensions, the vault), the migrations a fresh database needs, then every
//! table in an order that lets references be translated (accounts before the
//! payments and sessions naming them, item types before the NFTs of a type),
//! a batch per transaction, each batch's rows recorded with their original
//! ids so that a second run skips them and an interrupted one continues.
//! [`steps`]: the tables in order and what follows them; [`tables`]: one
//! table read in pages and written in batches.

mod steps;
mod tables;

use std::collections::HashMap;
use std::time::Instant;

use super::memories;
use super::report::Report;
use super::source::{Source, SourceError};
use crate::db::migrate::{self, MigrateError, MigrateParams};
use crate::db::{Alias, Db};
use crate::memory::{MemoryError, MemoryStore};
use crate::xrpl::XrplError;
use crate::xrpl::import as xrpl;

/// The migration that seeds the vault's RESERVE balances.
const VAULT_SEED: &str = "xrpl/0005_seed_vault_reserve";

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The model the original's vectors are recorded as made by.
    pub model: String,
    /// The configured embedding provider's name and dimension: vectors of
    /// another dimension are refused.
    pub provider: String,
    pub dimension: usize,
    /// The vault for the xrpl seed when the original has none to give.
    pub vault_address: String,
    pub dry_run: bool,
    /// Rows per transaction.
    pub batch: usize,
}

/// Told how far the import is, table by table.
pub trait Progress: Sync {
    fn begin(&self, table: &str, rows: u64);
    fn advance(&self, rows: u64);
    fn end(&self);
}

/// Progress that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "{table} holds {rows} vectors of {found} dimensions, but the configured embedding provider \
         ({provider}) makes {configured}: nothing was imported. Import with a provider of {found} \
         dimensions (MNEMO_EMBEDDING_PROVIDER=openai for the original's text-embedding-3-small), \
         then switch to {provider} with `MNEMO_EMBEDDING_PROVIDER={provider} mnemo reembed`, which \
         re-embeds every memory with it"
    )]
    Dimension {
        table: &'static str,
        rows: i64,
        found: i64,
        provider: String,
        configured: usize,
    },
    #[error(
        "this database's vault is {here} (MNEMO_XRPL_VAULT_ADDRESS when it was migrated), the \
         original's is {original}: importing would leave two vaults holding RESERVE balances. \
         Import into a fresh database (`mnemo import original` migrates it with the original's \
         vault) or one migrated with MNEMO_XRPL_VAULT_ADDRESS={original}; nothing was imported"
    )]
    Vault { here: String, original: String },
    #[error(
        "the database has pending migrations ({0}); a dry run writes nothing, so run `mnemo migrate` first"
    )]
    NotMigrated(String),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Xrpl(#[from] XrplError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Refuse, before anything is written, vectors whose dimension is not the
/// configured provider's.
pub async fn check_vectors(source: &Source, options: &ImportOptions) -> Result<(), ImportError> {
    for table in memories::TABLES {
        if !source.has_table(table).await? {
            continue;
        }
        for (found, rows) in source.vector_dimensions(table).await? {
            if found != options.dimension as i64 {
                return Err(ImportError::Dimension {
                    table,
                    rows,
                    found,
                    provider: options.provider.clone(),
                    configured: options.dimension,
                });
            }
        }
    }
    Ok(())
}

/// Import everything `source` holds into the store's databases (migrated
/// first when they need it: the store may be opened on a fresh database).
pub async fn import(
    store: &MemoryStore,
    source: &Source,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Report, ImportError> {
    let started = Instant::now();
    let db = store.db();
    check_vectors(source, options).await?;
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    let vaults = original_vaults(source).await?;
    let pending = migrate::pending(db).await?;
    if !pending.iter().any(|p| p == VAULT_SEED)
        && let Some(here) = xrpl::reserve_wallets(db)
            .await?
            .into_iter()
            .find(|w| !vaults.is_empty() && !vaults.contains(w))
    {
        return Err(ImportError::Vault {
            here,
            original: vaults.join(", "),
        });
    }
    if !pending.is_empty() {
        if options.dry_run {
            return Err(ImportError::NotMigrated(pending.join(", ")));
        }
        let vault_address = match vaults.as_slice() {
            [one] => one.clone(),
            _ => options.vault_address.clone(),
        };
        let params = MigrateParams {
            vault_address: vault_address.clone(),
            embedding_dim: options.dimension,
        };
        let applied = migrate::migrate(db, &Alias::ALL, &params, None).await?;
        report.notes.push(format!(
            "applied {} pending migration(s) first, seeding the economy for the vault {vault_address}",
            applied.len()
        ));
    }
    store.check_vector_columns().await?;
    let mut run = Run {
        db,
        store,
        source,
        options,
        progress,
        report,
        ids: HashMap::new(),
    };
    run.steps().await?;
    let mut report = run.report;
    report
        .notes
        .extend(model_note(&report, options, store.model()));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The wallets holding the original's RESERVE balances: its vault.
async fn original_vaults(source: &Source) -> Result<Vec<String>, ImportError> {
    let table = "xrpl_fungiblegamestate";
    if !source.has_table(table).await? {
        return Ok(Vec::new());
    }
    let mut vaults: Vec<String> = source
        .text_pairs(table, "wallet_address", "location")
        .await?
        .into_iter()
        .filter(|(_, location)| location == "RESERVE")
        .map(|(wallet, _)| wallet)
        .collect();
    vaults.sort();
    vaults.dedup();
    Ok(vaults)
}

fn model_note(report: &Report, options: &ImportOptions, configured: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let pending: u64 = report.tables.iter().map(|t| t.pending).sum();
    if pending > 0 {
        notes.push(format!(
            "{pending} memories had no vector in the original (its embedding call had failed, and it \
             never found them again): they are pending here and become searchable once embedded, by \
             `mnemo serve`'s background worker or `mnemo reembed --pending`"
        ));
    }
    let embedded = report
        .tables
        .iter()
        .filter(|t| memories::TABLES.contains(&t.table.as_str()))
        .any(|t| t.changed() > t.pending);
    if embedded && options.model != configured {
        notes.push(format!(
            "the original's vectors are recorded as {}, but the configured provider is {configured}: \
             serve with a provider of that model (MNEMO_EMBEDDING_PROVIDER=openai), or switch every \
             memory to {configured} with `mnemo reembed`; until then `mnemo serve` refuses the mix",
            options.model
        ));
    }
    notes
}

/// One import under way.
struct Run<'a> {
    db: &'a Db,
    store: &'a MemoryStore,
    source: &'a Source,
    options: &'a ImportOptions,
    progress: &'a dyn Progress,
    report: Report,
    /// Per source table: original id -> id here, of the rows done now or before.
    ids: HashMap<&'static str, HashMap<i64, i64>>,
}
