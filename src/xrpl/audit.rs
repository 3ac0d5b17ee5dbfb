//! The conservation check over a live database (`mnemo economy audit`).
//!
//! Every unit of a currency enters the in-game books through a logged credit
//! (a transfer from `MINT`; the seeded reserve is logged as such by the
//! `0008_genesis_log` migration) and leaves through a logged debit (to
//! `BURN`); every other move is between holders. So for every currency the
//! sum over all holders must equal minted minus burned, no balance may be
//! zero or negative (zero rows are deleted), and no row may name a currency
//! missing from the catalogue. Everything is read in one snapshot, so writes
//! running meanwhile cannot make a sound economy look broken.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;

use super::{BURN, MINT, XrplError, amount_text, stored_decimal};
use crate::db::{Alias, Args, Db};

/// One currency's books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyAudit {
    pub currency_code: String,
    /// Decimal texts with six places.
    pub held: String,
    pub minted: String,
    pub burned: String,
    /// `held == minted - burned`.
    pub balanced: bool,
}

/// What the audit found: every currency's books and every problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub currencies: Vec<CurrencyAudit>,
    /// One sentence per problem; empty when the economy is sound.
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// (currency, wallet, location, character key, balance text).
type BalanceRow = (String, String, String, Option<String>, String);
/// (currency, from, to, amount text) of a credit or debit.
type BookRow = (String, String, String, String);

#[derive(Default)]
struct Books {
    held: Decimal,
    minted: Decimal,
    burned: Decimal,
}

fn add(total: &mut Decimal, text: &str, code: &str) -> Result<(), XrplError> {
    *total = total
        .checked_add(stored_decimal(text)?)
        .ok_or_else(|| XrplError::Corrupt(format!("the {code} total overflows")))?;
    Ok(())
}

/// Check the books of every currency.
pub async fn audit(db: &Db) -> Result<AuditReport, XrplError> {
    // One snapshot for every read, so writes running meanwhile cannot make a
    // sound economy look broken.
    let mut tx = db.pool(Alias::Xrpl).begin_snapshot().await?;
    let codes: Vec<(String,)> = tx
        .fetch_all(
            "SELECT currency_code FROM xrpl_currencytype ORDER BY id",
            Args::new(),
        )
        .await?;
    let balances: Vec<BalanceRow> = tx
        .fetch_all(
            "SELECT currency_code, wallet_address, location, character_key, CAST(balance AS TEXT)
             FROM xrpl_fungiblegamestate",
            Args::new(),
        )
        .await?;
    let mut args = Args::new();
    args.push(MINT);
    args.push(BURN);
    let book: Vec<BookRow> = tx
        .fetch_all(
            "SELECT currency_code, from_wallet, to_wallet, CAST(amount AS TEXT)
             FROM xrpl_fungibletransferlog WHERE from_wallet = $1 OR to_wallet = $2",
            args,
        )
        .await?;
    tx.commit().await?;
    let known: BTreeSet<&str> = codes.iter().map(|(code,)| code.as_str()).collect();
    let mut books: BTreeMap<&str, Books> = BTreeMap::new();
    let mut problems = Vec::new();
    for (code, wallet, location, key, text) in &balances {
        let value = stored_decimal(text)?;
        if value <= Decimal::ZERO {
            let key = key.as_deref().unwrap_or("");
            problems.push(format!(
                "{wallet} {location} {key:?} holds {text} {code}: balances must be above zero"
            ));
        }
        if !known.contains(code.as_str()) {
            problems.push(format!(
                "{wallet} {location} holds {code}, which is not in the catalogue"
            ));
        }
        add(&mut books.entry(code).or_default().held, text, code)?;
    }
    for (code, from, to, text) in &book {
        let entry = books.entry(code).or_default();
        if from == MINT {
            add(&mut entry.minted, text, code)?;
        }
        if to == BURN {
            add(&mut entry.burned, text, code)?;
        }
    }
    let currencies = books
        .into_iter()
        .map(|(code, b)| {
            let balanced = b.held == b.minted - b.burned;
            if !balanced {
                problems.push(format!(
                    "{code}: holders have {} but the log minted {} and burned {} (expected {})",
                    amount_text(b.held),
                    amount_text(b.minted),
                    amount_text(b.burned),
                    amount_text(b.minted - b.burned)
                ));
            }
            CurrencyAudit {
                currency_code: code.to_owned(),
                held: amount_text(b.held),
                minted: amount_text(b.minted),
                burned: amount_text(b.burned),
                balanced,
            }
        })
        .collect();
    Ok(AuditReport {
        currencies,
        problems,
    })
}
