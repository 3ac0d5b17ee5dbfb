//! The tables in the order their references need (accounts first, then the
//! memories, the economy, plans and payments), and what follows them: the
//! accounts payments may name, the opening entries of the imported books,
//! the expiries the payments kept give.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{ImportError, Run, original_vaults};
use crate::accounts::import::{self as accounts, ACCOUNTS};
use crate::db::SqlValue;
use crate::db::bulk::{Outcome, Written};
use crate::memory::{Combat, Lore, Npc};
use crate::original::memories::{self, COMBAT_TABLE, LORE_TABLE, NPC_TABLE};
use crate::subscriptions::import::{self as subscriptions, AccountIds, PAYMENTS, PLANS};
use crate::xrpl::import as xrpl;

/// A payment's account (its id here) and the expiry the original recorded for it.
type Paid = (i64, DateTime<Utc>);

impl Run<'_> {
    pub(super) async fn steps(&mut self) -> Result<(), ImportError> {
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
        if account_ids.is_none() && self.source.has_table(PAYMENTS.source).await? {
            self.report.notes.push(
                "the original's accounts (evennia.db3) were not given: payments keep the account \
                 ids the original wrote, pre-rebuild ones included"
                    .into(),
            );
        }
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
}
