//! `mnemo economy`: the hourly snapshot (what a cron job runs), one wallet's
//! balances as a table, and the conservation audit of the live database.

use clap::{Args, Subcommand};

use super::CliError;
use super::settings::Settings;
use crate::db::{Alias, Db, migrate, now_micros};
use crate::xrpl::{self, AuditReport, Balance, KEY_RETENTION_HOURS, Snapshots};

#[derive(Debug, Args)]
pub struct EconomyArgs {
    #[command(subcommand)]
    pub command: EconomyCommand,
}

#[derive(Debug, Subcommand)]
pub enum EconomyCommand {
    /// Take the snapshot of the current hour (run hourly; a second run within
    /// the hour changes nothing) and forget idempotency keys older than 24 hours.
    Snapshot,
    /// A wallet's balances at every location, as a table.
    Balances {
        /// The wallet address.
        #[arg(long)]
        wallet: String,
    },
    /// Check that every currency's holders sum to what the log minted minus
    /// burned, and that no balance is zero or negative; exit 1 with a report
    /// when anything is wrong.
    Audit,
}

pub async fn economy(settings: &Settings, args: &EconomyArgs) -> Result<(), CliError> {
    let db = settings.open(false).await?;
    let result = run(&db, &args.command).await;
    db.close().await;
    result
}

async fn run(db: &Db, command: &EconomyCommand) -> Result<(), CliError> {
    let status = migrate::status(db, &[Alias::Xrpl]).await?;
    if status.iter().any(|s| !s.pending.is_empty()) {
        return Err(CliError(
            "the xrpl database has pending migrations; run `mnemo migrate` first".into(),
        ));
    }
    match command {
        EconomyCommand::Snapshot => snapshot(db).await,
        EconomyCommand::Balances { wallet } => {
            let rows = xrpl::balances_by_wallet(db, wallet).await?;
            print!("{}", balance_table(wallet, &rows));
            Ok(())
        }
        EconomyCommand::Audit => {
            let report = xrpl::audit(db).await?;
            print!("{}", audit_text(&report));
            if report.is_sound() {
                Ok(())
            } else {
                Err(CliError(format!(
                    "the economy audit found {} problem(s)",
                    report.problems.len()
                )))
            }
        }
    }
}

async fn snapshot(db: &Db) -> Result<(), CliError> {
    let now = now_micros();
    let Snapshots {
        created,
        economy: e,
        resource_snapshots,
    } = xrpl::take_snapshot(db, now).await?;
    let hour = e.hour.to_rfc3339();
    if created {
        println!(
            "Snapshot of {hour} recorded: {} players online, {} active in the last 24 h, \
             gold in circulation {}, in the reserve {}; {resource_snapshots} resource snapshots.",
            e.figures.players_online,
            e.figures.unique_players_24h,
            e.figures.gold_circulation,
            e.figures.gold_reserve
        );
    } else {
        println!(
            "The snapshot of {hour} was already recorded (id {}); nothing changed.",
            e.id
        );
    }
    let forgotten = xrpl::purge_idempotency_keys(db, now).await?;
    println!("Forgot {forgotten} idempotency key(s) older than {KEY_RETENTION_HOURS} h.");
    Ok(())
}

fn balance_table(wallet: &str, rows: &[Balance]) -> String {
    if rows.is_empty() {
        return format!("No balances for wallet {wallet}.\n");
    }
    let key_width = rows
        .iter()
        .filter_map(|r| r.character_key.as_deref())
        .map(str::len)
        .max()
        .unwrap_or(0)
        .max("CHARACTER".len());
    let mut out = format!(
        "{:<40} {:<9} {:<key_width$} {:>24}\n",
        "CURRENCY", "LOCATION", "CHARACTER", "BALANCE"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<40} {:<9} {:<key_width$} {:>24}\n",
            r.currency_code,
            r.location,
            r.character_key.as_deref().unwrap_or("-"),
            r.balance
        ));
    }
    out
}

fn audit_text(report: &AuditReport) -> String {
    let audited = report.currencies.len();
    if report.is_sound() {
        return format!(
            "Audit passed: {audited} currencies; for each, the holders' sum equals minted minus \
             burned, and no balance is zero or negative.\n"
        );
    }
    let mut out = format!(
        "Audit FAILED: {} problem(s) across {audited} currencies:\n",
        report.problems.len()
    );
    for problem in &report.problems {
        out.push_str(&format!("  - {problem}\n"));
    }
    out
}
