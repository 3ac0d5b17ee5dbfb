//! Fungible chain deposits and withdrawals: the balance move, its transfer
//! log row and the `xrpl_xrpltransactionlog` row, in one transaction. A
//! `tx_hash` already confirmed is refused and nothing moves. Hashes are
//! parsed into their canonical spelling ([`TxHash`]) before anything is read
//! or written, so a replay in another letter case is refused like any other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fungible::{check_currency, ensure_currency, log_fungible_transfer, move_between};
use super::holder::{HOLDER, check_wallet};
use super::tx::write;
use super::{FungibleLocation, Holder, XrplError, amount_text, parse_amount};
use crate::db::{Alias, Args, Db, Tx, is_unique_violation, now_micros};
use crate::tx_hash::TxHash;

/// One row of `xrpl_xrpltransactionlog`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TransactionLog {
    pub id: i64,
    pub tx_hash: String,
    /// `import`, `export`, `nft_import`, `nft_export`, ...
    pub tx_type: String,
    pub currency_code: Option<String>,
    pub nftoken_id: Option<String>,
    /// Decimal text with six places.
    pub amount: Option<String>,
    pub wallet_address: String,
    /// `pending`, `confirmed` or `failed`.
    pub status: String,
    pub ledger_index: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A fungible deposit or withdrawal between a player's wallet and the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMove {
    pub currency_code: String,
    /// The player's wallet (its ACCOUNT location in game).
    pub wallet_address: String,
    /// Decimal text, greater than 0, at most six places.
    pub amount: String,
    /// The vault wallet (its RESERVE location in game).
    pub vault_address: String,
    pub tx_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReceipt {
    pub transaction: TransactionLog,
    pub transfer_log_id: i64,
    /// The player's ACCOUNT balance after the move.
    pub account_balance: String,
    /// The vault's RESERVE balance after the move.
    pub reserve_balance: String,
}

/// The columns of a [`TransactionLog`].
pub(crate) const TX_COLUMNS: &str =
    "id, tx_hash, tx_type, currency_code, nftoken_id, CAST(amount AS TEXT) AS amount,
     wallet_address, status, ledger_index, created_at, updated_at";

/// Inside a write transaction: refuse a `tx_hash` already confirmed, and lock
/// an earlier pending or failed row of the same hash, returning its id.
pub(crate) async fn claim_tx(tx: &mut Tx, hash: &str) -> Result<Option<i64>, XrplError> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, status FROM xrpl_xrpltransactionlog WHERE tx_hash = {}{}",
        args.push(hash),
        tx.dialect().for_update()
    );
    let row: Option<(i64, String)> = tx.fetch_optional(&sql, args).await?;
    match row {
        Some((_, status)) if status == "confirmed" => Err(XrplError::AlreadyProcessed {
            tx_hash: hash.to_owned(),
        }),
        Some((id, _)) => Ok(Some(id)),
        None => Ok(None),
    }
}

/// The fields of a confirmed transaction log row.
pub(crate) struct Confirmed<'a> {
    pub tx_hash: &'a str,
    pub tx_type: &'static str,
    pub currency_code: Option<&'a str>,
    pub nftoken_id: Option<&'a str>,
    pub amount: Option<String>,
    pub wallet_address: &'a str,
}

/// Inside the transaction that claimed the hash: write the confirmed row
/// (completing the earlier pending/failed row `existing` of the hash, if
/// any). A concurrent confirmation of the same hash loses on the unique index.
pub(crate) async fn confirm_tx(
    tx: &mut Tx,
    existing: Option<i64>,
    c: &Confirmed<'_>,
    now: DateTime<Utc>,
) -> Result<TransactionLog, XrplError> {
    let d = tx.dialect();
    let mut args = Args::new();
    let sql = match existing {
        Some(id) => format!(
            "UPDATE xrpl_xrpltransactionlog SET tx_type = {}, currency_code = {}, nftoken_id = {},
               amount = {}, wallet_address = {}, status = 'confirmed', updated_at = {}
             WHERE id = {} RETURNING {TX_COLUMNS}",
            args.push(c.tx_type),
            args.push(c.currency_code.map(str::to_owned)),
            args.push(c.nftoken_id.map(str::to_owned)),
            d.numeric(&args.push(c.amount.clone())),
            args.push(c.wallet_address),
            args.push(now),
            args.push(id)
        ),
        None => format!(
            "INSERT INTO xrpl_xrpltransactionlog
               (tx_hash, tx_type, currency_code, nftoken_id, amount, wallet_address, status, created_at, updated_at)
             VALUES ({}, {}, {}, {}, {}, {}, 'confirmed', {now}, {now}) RETURNING {TX_COLUMNS}",
            args.push(c.tx_hash),
            args.push(c.tx_type),
            args.push(c.currency_code.map(str::to_owned)),
            args.push(c.nftoken_id.map(str::to_owned)),
            d.numeric(&args.push(c.amount.clone())),
            args.push(c.wallet_address),
            now = args.push(now)
        ),
    };
    match tx.fetch_one(&sql, args).await {
        Ok(row) => Ok(row),
        Err(e) if is_unique_violation(&e) => Err(XrplError::AlreadyProcessed {
            tx_hash: c.tx_hash.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn check_move(m: &ChainMove) -> Result<TxHash, XrplError> {
    check_currency(&m.currency_code)?;
    let tx_hash = TxHash::parse("tx_hash", &m.tx_hash)?;
    check_wallet("vault_address", &m.vault_address)?;
    Holder::new(m.wallet_address.clone(), FungibleLocation::Account).check(HOLDER)?;
    if m.wallet_address == m.vault_address {
        return Err(XrplError::invalid(
            "wallet_address",
            "must differ from the vault address",
        ));
    }
    Ok(tx_hash)
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Deposit,
    Withdraw,
}

/// A player deposited currency on chain to the vault: the vault's RESERVE is
/// debited, the player's ACCOUNT credited, a `deposit_from_chain` transfer
/// and a confirmed `import` transaction are logged.
pub async fn deposit_from_chain_in(tx: &mut Tx, m: &ChainMove) -> Result<ChainReceipt, XrplError> {
    chain_move(tx, m, Direction::Deposit).await
}

/// A player withdraws currency to their XRPL wallet: the player's ACCOUNT is
/// debited, the vault's RESERVE credited, a `withdraw_to_chain` transfer and
/// a confirmed `export` transaction are logged.
pub async fn withdraw_to_chain_in(tx: &mut Tx, m: &ChainMove) -> Result<ChainReceipt, XrplError> {
    chain_move(tx, m, Direction::Withdraw).await
}

/// [`deposit_from_chain_in`] in a transaction of its own.
pub async fn deposit_from_chain(db: &Db, m: &ChainMove) -> Result<ChainReceipt, XrplError> {
    write(db, async |tx| deposit_from_chain_in(tx, m).await).await
}

/// [`withdraw_to_chain_in`] in a transaction of its own.
pub async fn withdraw_to_chain(db: &Db, m: &ChainMove) -> Result<ChainReceipt, XrplError> {
    write(db, async |tx| withdraw_to_chain_in(tx, m).await).await
}

async fn chain_move(tx: &mut Tx, m: &ChainMove, dir: Direction) -> Result<ChainReceipt, XrplError> {
    let tx_hash = check_move(m)?;
    let amount = parse_amount("amount", &m.amount)?;
    let now = now_micros();
    let account = Holder::new(m.wallet_address.clone(), FungibleLocation::Account);
    let reserve = Holder::new(m.vault_address.clone(), FungibleLocation::Reserve);
    let (from, to, from_field, transfer_type, tx_type) = match dir {
        Direction::Deposit => (
            &reserve,
            &account,
            "vault_address",
            "deposit_from_chain",
            "import",
        ),
        Direction::Withdraw => (
            &account,
            &reserve,
            "wallet_address",
            "withdraw_to_chain",
            "export",
        ),
    };
    let currency = m.currency_code.as_str();
    let confirmed = Confirmed {
        tx_hash: tx_hash.as_str(),
        tx_type,
        currency_code: Some(currency),
        nftoken_id: None,
        amount: Some(amount_text(amount)),
        wallet_address: &m.wallet_address,
    };
    let existing = claim_tx(tx, tx_hash.as_str()).await?;
    ensure_currency(tx, currency).await?;
    let (from_balance, to_balance) =
        move_between(tx, currency, from, from_field, to, amount, now).await?;
    let (from_wallet, to_wallet) = (&from.wallet_address, &to.wallet_address);
    let transfer_log_id = log_fungible_transfer(
        tx,
        currency,
        from_wallet,
        to_wallet,
        amount,
        transfer_type,
        now,
    )
    .await?;
    let transaction = confirm_tx(tx, existing, &confirmed, now).await?;
    let (account_balance, reserve_balance) = match dir {
        Direction::Deposit => (to_balance, from_balance),
        Direction::Withdraw => (from_balance, to_balance),
    };
    Ok(ChainReceipt {
        transaction,
        transfer_log_id,
        account_balance: amount_text(account_balance),
        reserve_balance: amount_text(reserve_balance),
    })
}

/// The transaction log row of a hash, in any spelling.
pub async fn transaction(db: &Db, tx_hash: &str) -> Result<Option<TransactionLog>, XrplError> {
    let tx_hash = TxHash::parse("tx_hash", tx_hash)?;
    let mut args = Args::new();
    args.push(tx_hash.as_str());
    let sql = format!("SELECT {TX_COLUMNS} FROM xrpl_xrpltransactionlog WHERE tx_hash = $1");
    Ok(db.pool(Alias::Xrpl).fetch_optional(&sql, args).await?)
}
