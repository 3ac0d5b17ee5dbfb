//! The import run: the checks that refuse before anything is written (vector
//! dimensions, the vault), the migrations a fresh database needs, then every
//! table in an order that lets references be translated (accounts before the
//! payments and sessions naming them, item types before the NFTs of a type),
//! a batch per transaction, each batch's rows recorded with their original
//! ids so that a second run skips them and an interrupted one continues.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::memories::{self, COMBAT_TABLE, LORE_TABLE, NPC_TABLE};
use super::report::{Report, RowIssue, TableReport};
use super::source::{Source, SourceError};
use crate::accounts::import::{self as accounts, ACCOUNTS};
use crate::db::bulk::{self, BulkRow, OnExisting, Outcome, Written};
use crate::db::columns::{ColType, Column, CopySpec};
use crate::db::migrate::{self, MigrateError, MigrateParams};
use crate::db::{Alias, Db, SqlValue};
use crate::memory::{Combat, ImportedMemory, Kind, Lore, MemoryError, MemoryStore, Npc};
use crate::subscriptions::import::{self as subscriptions, AccountIds, PAYMENTS, PLANS};
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

/// How a memory table's row becomes a memory to import.
type Convert<N> = fn(i64, Vec<SqlValue>) -> Result<ImportedMemory<N>, String>;

/// A payment's account (its id here) and the expiry the original recorded for it.
type Paid = (i64, DateTime<Utc>);

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

/// A source table being read.
struct TableRun {
    table: &'static str,
    alias: Alias,
    columns: &'static [Column],
    after: i64,
    report: TableReport,
    ids: HashMap<i64, i64>,
}

impl Run<'_> {
    async fn steps(&mut self) -> Result<(), ImportError> {
        let wallets = accounts::wallets(
            self.pairs(PAYMENTS.source, "account_name", "wallet_address")
                .await?,
        );
        let mut names: HashMap<i64, String> = HashMap::new();
        self.copy(&ACCOUNTS, |id, values| {
            accounts::fill_wallet(values, &wallets);
            if let SqlValue::Text(Some(name)) = &values[ACCOUNTS.index_of("username")] {
                names.insert(id, name.clone());
            }
            Ok(())
        })
        .await?;
        let account_ids = self.account_ids(&names).await?;
        self.memories::<Npc>(NPC_TABLE, &memories::NPC_COLUMNS, memories::npc)
            .await?;
        self.memories::<Combat>(COMBAT_TABLE, &memories::COMBAT_COLUMNS, memories::combat)
            .await?;
        self.memories::<Lore>(LORE_TABLE, &memories::LORE_COLUMNS, memories::lore)
            .await?;
        for spec in &xrpl::TABLES {
            self.copy(spec, |_, values| xrpl::canonicalize(spec, values))
                .await?;
        }
        self.open_books().await?;
        self.copy(&PLANS, |_, _| Ok(())).await?;
        let mut paid: HashMap<i64, Paid> = HashMap::new();
        let written = self
            .copy(&PAYMENTS, |id, values| {
                subscriptions::prepare_payment(values, account_ids.as_ref())?;
                if let (SqlValue::Int(Some(account)), SqlValue::Time(Some(until))) = (
                    &values[PAYMENTS.index_of("account_id")],
                    &values[PAYMENTS.index_of("new_expiry")],
                ) {
                    paid.insert(id, (*account, *until));
                }
                Ok(())
            })
            .await?;
        self.settle(&written, &paid).await
    }

    /// Log the imported balances as opening entries (see `xrpl::import::open_books`).
    async fn open_books(&mut self) -> Result<(), ImportError> {
        if self.options.dry_run || !self.source.has_table("xrpl_fungiblegamestate").await? {
            return Ok(());
        }
        let vault = match original_vaults(self.source).await?.as_slice() {
            [one] => one.clone(),
            _ => self.options.vault_address.clone(),
        };
        let opened = xrpl::open_books(self.db, &vault).await?;
        if !opened.is_empty() {
            self.report.notes.push(format!(
                "the original logged no mints or burns: its balances of {} currencies are logged as \
                 opening entries (transfer type {}, between MINT or BURN and the vault {vault}), so \
                 `mnemo economy audit` balances",
                opened.len(),
                xrpl::OPENING_BALANCE
            ));
        }
        Ok(())
    }

    async fn pairs(
        &self,
        table: &str,
        a: &str,
        b: &str,
    ) -> Result<Vec<(String, String)>, ImportError> {
        if !self.source.has_table(table).await? {
            return Ok(Vec::new());
        }
        Ok(self.source.text_pairs(table, a, b).await?)
    }

    /// The accounts payments may name, once the accounts are in: their names
    /// as this run read them (`names`, by original id) or, for those an
    /// earlier run imported, as stored here. `None` when the original's
    /// accounts were not there to import.
    async fn account_ids(
        &self,
        names: &HashMap<i64, String>,
    ) -> Result<Option<AccountIds>, ImportError> {
        let Some(ids) = self.ids.get(ACCOUNTS.source) else {
            return Ok(None);
        };
        let earlier: Vec<i64> = ids
            .iter()
            .filter(|(original, _)| !names.contains_key(original))
            .map(|(_, &target)| target)
            .collect();
        let stored = accounts::usernames(self.db, &earlier).await?;
        let mut accounts = AccountIds::default();
        for (original, &target) in ids {
            if let Some(name) = names.get(original).or(stored.get(&target)) {
                accounts
                    .by_original
                    .insert(*original, (name.clone(), target));
                accounts.by_name.insert(name.clone(), target);
            }
        }
        Ok(Some(accounts))
    }

    /// The expiry of each account a newly imported payment names, and a note
    /// on those a replay had extended in the original.
    async fn settle(
        &mut self,
        written: &[Written],
        paid: &HashMap<i64, Paid>,
    ) -> Result<(), ImportError> {
        // The latest expiry the original recorded per account, replays included.
        let mut recorded: HashMap<i64, DateTime<Utc>> = HashMap::new();
        for w in written {
            if let Some(&(account, until)) = paid.get(&w.original_id) {
                let latest = recorded.entry(account).or_insert(until);
                *latest = (*latest).max(until);
            }
        }
        let mut accounts: Vec<i64> = written
            .iter()
            .filter(|w| w.outcome == Outcome::Imported)
            .filter_map(|w| paid.get(&w.original_id).map(|p| p.0))
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        if self.options.dry_run || accounts.is_empty() {
            return Ok(());
        }
        let expiries = subscriptions::settle_expiries(self.db, &accounts).await?;
        let shortened: Vec<String> = expiries
            .iter()
            .filter_map(|e| {
                let had = recorded.get(&e.account_id).filter(|r| **r > e.expires_at)?;
                Some(format!(
                    "account {}: {} (the original had {})",
                    e.account_id,
                    e.expires_at.format("%Y-%m-%d %H:%M"),
                    had.format("%Y-%m-%d %H:%M")
                ))
            })
            .collect();
        self.report.notes.push(format!(
            "subscription expiry set for {} account(s) from the payments kept",
            expiries.len()
        ));
        if !shortened.is_empty() {
            self.report.notes.push(format!(
                "{} account(s) had been extended by a replayed payment, whose time is not carried over:\n    {}",
                shortened.len(),
                shortened.join("\n    ")
            ));
        }
        Ok(())
    }

    /// Start reading `table`; `None` (and a line in the report) when the source lacks it.
    async fn start(
        &mut self,
        table: &'static str,
        alias: Alias,
        columns: &'static [Column],
    ) -> Result<Option<TableRun>, ImportError> {
        let mut report = TableReport::new(table);
        if !self.source.has_table(table).await? {
            report.absent = true;
            self.report.tables.push(report);
            return Ok(None);
        }
        self.progress
            .begin(table, self.source.count(table).await? as u64);
        Ok(Some(TableRun {
            table,
            alias,
            columns,
            after: 0,
            report,
            ids: HashMap::new(),
        }))
    }

    /// The next page's rows not imported before, their references
    /// translated; `None` at the end of the table.
    async fn next(
        &mut self,
        t: &mut TableRun,
    ) -> Result<Option<Vec<(i64, Vec<SqlValue>)>>, ImportError> {
        let page = self
            .source
            .page(t.table, t.columns, t.after, self.options.batch as i64)
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        t.after = last.id;
        t.report.read += page.len() as u64;
        self.progress.advance(page.len() as u64);
        let ids: Vec<i64> = page.iter().map(|r| r.id).collect();
        let done = bulk::imported(self.db.pool(t.alias), t.alias, t.table, &ids).await?;
        let mut rows = Vec::with_capacity(page.len());
        for row in page {
            if let Some(&target) = done.get(&row.id) {
                t.report.already += 1;
                t.ids.insert(row.id, target);
                continue;
            }
            match row.values {
                Ok(mut values) => {
                    self.translate(t.columns, &mut values);
                    rows.push((row.id, values));
                }
                Err(message) => self.fail(t, row.id, message),
            }
        }
        Ok(Some(rows))
    }

    /// References to other imported tables, as ids here.
    fn translate(&self, columns: &[Column], values: &mut [SqlValue]) {
        for (c, v) in columns.iter().zip(values.iter_mut()) {
            if let (ColType::Ref(table), SqlValue::Int(Some(id))) = (c.ty, &v)
                && let Some(&here) = self.ids.get(table).and_then(|m| m.get(id))
            {
                *v = SqlValue::Int(Some(here));
            }
        }
    }

    fn fail(&mut self, t: &mut TableRun, original_id: i64, message: String) {
        t.report.failed += 1;
        self.report.failures.push(RowIssue {
            table: t.table.to_owned(),
            original_id,
            message,
        });
    }

    /// Count what a batch did and remember where its rows went.
    fn absorb(&mut self, t: &mut TableRun, written: &[Written], failed: Vec<(i64, String)>) {
        t.report.absorb(written);
        for w in written.iter().filter(|w| w.outcome != Outcome::Duplicate) {
            t.ids.insert(w.original_id, w.target_id);
        }
        for (id, message) in failed {
            self.fail(t, id, message);
        }
    }

    fn finish(&mut self, t: TableRun) {
        self.progress.end();
        self.ids.insert(t.table, t.ids);
        self.report.tables.push(t.report);
    }

    async fn memories<K: Kind>(
        &mut self,
        table: &'static str,
        columns: &'static [Column],
        convert: Convert<K::New>,
    ) -> Result<(), ImportError> {
        let Some(mut t) = self.start(table, Alias::AiMemory, columns).await? else {
            return Ok(());
        };
        if !self.options.dry_run {
            let done =
                bulk::recorded(self.db.pool(Alias::AiMemory), Alias::AiMemory, table).await?;
            let incoming = (self.source.count(table).await? - done).max(0) as u64;
            self.store.prepare_bulk_load(K::ID, incoming).await?;
        }
        while let Some(rows) = self.next(&mut t).await? {
            let mut memories = Vec::with_capacity(rows.len());
            for (id, values) in rows {
                match convert(id, values) {
                    Ok(m) => memories.push(m),
                    Err(message) => self.fail(&mut t, id, message),
                }
            }
            let batch = self
                .store
                .import_memories::<K>(table, memories, &self.options.model, self.options.dry_run)
                .await?;
            t.report.pending += batch.pending as u64;
            self.absorb(&mut t, &batch.written, batch.failed);
        }
        self.finish(t);
        if !self.options.dry_run {
            let index = crate::memory::hnsw_index(K::ID);
            self.progress.begin(&format!("building {index}"), 0);
            let started = Instant::now();
            if self
                .store
                .finish_bulk_load(K::ID, |_| self.progress.advance(0))
                .await?
            {
                self.report.notes.push(format!(
                    "built the HNSW index {index} after loading, in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            self.progress.end();
        }
        Ok(())
    }

    /// Copy a table by its spec, each row through `fixup` (which may refuse
    /// it). Returns what this run wrote.
    async fn copy(
        &mut self,
        spec: &'static CopySpec,
        mut fixup: impl FnMut(i64, &mut [SqlValue]) -> Result<(), String>,
    ) -> Result<Vec<Written>, ImportError> {
        let mut all = Vec::new();
        let Some(mut t) = self.start(spec.source, spec.alias, spec.columns).await? else {
            return Ok(all);
        };
        let target = spec.target();
        let skip_key: Vec<(&str, usize)> = match spec.key {
            Some(k) if k.on_existing == OnExisting::Skip => {
                k.columns.iter().map(|c| (*c, spec.index_of(c))).collect()
            }
            _ => Vec::new(),
        };
        // Key of each row written this run (tables keyed to skip): a row
        // repeating one is a duplicate of it, in this batch or an earlier one.
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut keys: HashMap<i64, String> = HashMap::new();
        while let Some(rows) = self.next(&mut t).await? {
            let mut batch = Vec::with_capacity(rows.len());
            for (id, mut values) in rows {
                if let Err(message) = fixup(id, &mut values) {
                    self.fail(&mut t, id, message);
                    continue;
                }
                let mut duplicate_of = None;
                if !skip_key.is_empty() {
                    let key = key_text(&values, &skip_key);
                    duplicate_of = seen.get(&key).copied();
                    seen.entry(key.clone()).or_insert(id);
                    keys.insert(id, key);
                }
                batch.push(BulkRow {
                    original_id: id,
                    values,
                    duplicate_of,
                });
            }
            let dry_run = self.options.dry_run;
            let firsts: HashMap<i64, i64> = batch
                .iter()
                .filter_map(|r| r.duplicate_of.map(|f| (r.original_id, f)))
                .collect();
            let pool = self.db.pool(spec.alias);
            let result = bulk::write(pool, &target, spec.source, batch, dry_run, async |_, _| {
                Ok(())
            })
            .await?;
            for w in result
                .written
                .iter()
                .filter(|w| w.outcome == Outcome::Duplicate)
            {
                let what = match firsts.get(&w.original_id) {
                    Some(first) => format!("row #{first} of the original"),
                    None => format!("row {} already here", w.target_id),
                };
                self.report.duplicates.push(RowIssue {
                    table: spec.source.to_owned(),
                    original_id: w.original_id,
                    message: format!(
                        "{} repeats {what}: not imported again",
                        keys.get(&w.original_id).map_or("", String::as_str)
                    ),
                });
            }
            self.absorb(&mut t, &result.written, result.failed);
            all.extend(result.written);
        }
        self.finish(t);
        Ok(all)
    }
}

/// The key of a row as text (`tx_hash 1BC9…`), for matching and for the report.
fn key_text(values: &[SqlValue], key: &[(&str, usize)]) -> String {
    key.iter()
        .map(|&(name, i)| match &values[i] {
            SqlValue::Text(Some(t)) => format!("{name} {t}"),
            other => format!("{name} {other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
