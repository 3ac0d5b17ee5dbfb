//! The original game's accounts (Evennia's `accounts_accountdb`) as `mnemo
//! import original` copies them into `accounts_account`: username, email,
//! superuser and active flags, and `date_joined` as `created_at`. An account
//! keeps its id where no account here has it yet, since the game goes on
//! naming accounts by their Evennia id (in payments, sessions, listings); an
//! account whose username exists here is matched to it. The import's origin
//! table keeps the mapping either way.
//!
//! The original kept an account's wallet in an Evennia attribute (a pickled
//! value, not read here); its payments name the account with the wallet it
//! paid from, so an account whose payments all came from one wallet gets it.

use std::collections::HashMap;

use crate::db::bulk::{NaturalKey, OnExisting};
use crate::db::columns::{ColType::*, Column as C, CopySpec};
use crate::db::{Alias, Args, Db, SqlValue};

pub const ACCOUNTS: CopySpec = CopySpec {
    source: "accounts_accountdb",
    target: "accounts_account",
    alias: Alias::Default,
    columns: &[
        C::same("username", Text),
        C::same("email", Text),
        C::same("is_superuser", Bool),
        C::same("is_active", Bool),
        C::renamed("date_joined", "created_at", Time),
        C::derived("wallet_address", Text),
    ],
    key: Some(NaturalKey {
        columns: &["username"],
        on_existing: OnExisting::Update,
    }),
    keep_ids: true,
};

/// Each account name's wallet, from (account name, wallet) pairs: only names
/// that paid from exactly one wallet get one.
pub fn wallets(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    for (name, wallet) in pairs {
        seen.entry(name)
            .and_modify(|w| {
                if w.as_deref() != Some(wallet.as_str()) {
                    *w = None;
                }
            })
            .or_insert(Some(wallet));
    }
    seen.into_iter()
        .filter_map(|(name, w)| w.map(|w| (name, w)))
        .collect()
}

/// Fill an account row's wallet from `wallets`.
pub fn fill_wallet(values: &mut [SqlValue], wallets: &HashMap<String, String>) {
    if let SqlValue::Text(Some(name)) = &values[ACCOUNTS.index_of("username")] {
        values[ACCOUNTS.index_of("wallet_address")] = SqlValue::Text(wallets.get(name).cloned());
    }
}

/// The usernames of the accounts with `ids` here.
pub async fn usernames(db: &Db, ids: &[i64]) -> Result<HashMap<i64, String>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pool = db.pool(Alias::Default);
    let mut args = Args::new();
    let wanted = args.push(SqlValue::Ints(ids.to_vec()));
    let sql = format!(
        "SELECT id, username FROM accounts_account WHERE {}",
        pool.dialect().in_list("id", &wanted)
    );
    let rows: Vec<(i64, String)> = pool.fetch_all(&sql, args).await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_is_known_only_when_it_is_the_only_one() {
        let w = wallets(vec![
            ("ann".into(), "rA".into()),
            ("ann".into(), "rA".into()),
            ("bob".into(), "rB".into()),
            ("bob".into(), "rC".into()),
        ]);
        assert_eq!(w.get("ann").map(String::as_str), Some("rA"));
        assert_eq!(w.get("bob"), None);
    }
}
