//! Fungible balance changes (`xrpl_fungiblegamestate`) and their transfer log:
//! credits, debits and transfers between holders.
//!
//! One row per (currency, wallet, location) — per character key too for
//! CHARACTER — with a balance above zero: a debit that empties a row deletes it.
//!
//! Every change of a currency's total is logged: a credit (currency entering
//! the in-game books) as a transfer from [`MINT`], a debit (leaving them) as a
//! transfer to [`BURN`], so the log accounts for every unit held and
//! [`audit`](super::audit) can prove it. Transfers between two wallets are
//! logged as the original logs them; moves inside one wallet (bank/unbank,
//! the vault's RESERVE <-> SPAWNED) are not, as in the original, and change no
//! total.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::holder::{FROM, HOLDER, TO};
use super::tx::write;
use super::{
    BURN, CURRENCY_MAX, Holder, MINT, TRANSFER_TYPE_MAX, XrplError, amount_text, check_text,
    parse_amount, stored_decimal,
};
use crate::db::{Args, Db, Tx, now_micros};

/// A credit to or a debit from one holder: currency entering or leaving the
/// in-game books (a reward from nowhere, an admin correction, a fee burnt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceChange {
    pub currency_code: String,
    pub holder: Holder,
    /// Decimal text, greater than 0, at most six places.
    pub amount: String,
    /// What the log calls this change, e.g. `credit`, `quest_reward`, `fee`.
    pub transfer_type: String,
}

/// What a credit or debit left behind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeReceipt {
    pub currency_code: String,
    #[serde(flatten)]
    pub holder: Holder,
    /// The amount as stored (six places).
    pub amount: String,
    /// The holder's balance after the change (`0.000000` when its row was deleted).
    pub balance: String,
    /// Its `xrpl_fungibletransferlog` row (from `MINT` or to `BURN`).
    pub transfer_log_id: i64,
}

/// A move of `amount` of a currency from one holder to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FungibleTransfer {
    pub currency_code: String,
    pub from: Holder,
    pub to: Holder,
    /// Decimal text, greater than 0, at most six places.
    pub amount: String,
    /// What the log calls this move, e.g. `pickup`, `trade`, `craft_input`.
    pub transfer_type: String,
}

/// What a transfer left behind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReceipt {
    /// The sender's balance after the move (`0.000000` when its row was deleted).
    pub from_balance: String,
    /// The receiver's balance after the move.
    pub to_balance: String,
    /// The `xrpl_fungibletransferlog` row, absent for a move inside one wallet.
    pub transfer_log_id: Option<i64>,
}

/// A holder's balance row: `$1` currency, `$2` wallet, `$3` location, `$4`
/// character key (`''` for none), as [`holder_args`] binds them.
pub(crate) const HOLDER_ROW: &str = "SELECT id, CAST(balance AS TEXT) FROM xrpl_fungiblegamestate
     WHERE currency_code = $1 AND wallet_address = $2 AND location = $3
       AND COALESCE(character_key, '') = $4";

pub(crate) fn holder_args(currency: &str, holder: &Holder) -> Args {
    let mut args = Args::new();
    args.push(currency);
    args.push(holder.wallet_address.as_str());
    args.push(holder.location.as_str());
    args.push(holder.key_or_empty());
    args
}

/// Inside a write transaction: the holder's row id and balance, locked until
/// the commit (see [`Dialect::for_update`](crate::db::Dialect::for_update)).
async fn lock_holder(
    tx: &mut Tx,
    currency: &str,
    holder: &Holder,
) -> Result<Option<(i64, Decimal)>, XrplError> {
    let sql = format!("{HOLDER_ROW}{}", tx.dialect().for_update());
    let row: Option<(i64, String)> = tx
        .fetch_optional(&sql, holder_args(currency, holder))
        .await?;
    row.map(|(id, text)| Ok((id, stored_decimal(&text)?)))
        .transpose()
}

async fn set_balance(
    tx: &mut Tx,
    id: i64,
    balance: Decimal,
    now: DateTime<Utc>,
) -> Result<(), XrplError> {
    let d = tx.dialect();
    let mut args = Args::new();
    let sql = format!(
        "UPDATE xrpl_fungiblegamestate SET balance = {}, updated_at = {} WHERE id = {}",
        d.numeric(&args.push(amount_text(balance))),
        args.push(now),
        args.push(id)
    );
    tx.execute(&sql, args).await?;
    Ok(())
}

/// Inside a write transaction: lock the holder's row, refuse an overdraft
/// (naming the holder and its request `field`), subtract, delete the row at
/// zero. Returns the remaining balance.
pub(crate) async fn debit_row(
    tx: &mut Tx,
    currency: &str,
    holder: &Holder,
    field: &'static str,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Result<Decimal, XrplError> {
    let (id, available) = lock_holder(tx, currency, holder)
        .await?
        .unwrap_or((0, Decimal::ZERO));
    if available < amount {
        return Err(XrplError::InsufficientFunds {
            currency_code: currency.to_owned(),
            holder: holder.to_string(),
            field,
            available: amount_text(available),
            requested: amount_text(amount),
        });
    }
    let remaining = available - amount;
    if remaining.is_zero() {
        let mut args = Args::new();
        args.push(id);
        tx.execute("DELETE FROM xrpl_fungiblegamestate WHERE id = $1", args)
            .await?;
    } else {
        set_balance(tx, id, remaining, now).await?;
    }
    Ok(remaining)
}

/// How often a credit tries to insert its holder's row. A try fails only
/// when the row it met on the unique index was emptied and deleted by a
/// concurrent debit before it could read it; a third such miss in a row
/// means something else deletes the row, reported rather than looped on.
const CREDIT_ATTEMPTS: usize = 3;

/// Inside a write transaction: add to the holder's row, creating it when
/// missing. Returns the new balance. `ON CONFLICT DO NOTHING` makes two
/// concurrent first credits meet on the unique index instead of failing.
pub(crate) async fn credit_row(
    tx: &mut Tx,
    currency: &str,
    holder: &Holder,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Result<Decimal, XrplError> {
    let d = tx.dialect();
    for _ in 0..CREDIT_ATTEMPTS {
        let mut args = Args::new();
        let sql = format!(
            "INSERT INTO xrpl_fungiblegamestate
               (currency_code, wallet_address, location, character_key, balance, created_at, updated_at)
             VALUES ({}, {}, {}, {}, {}, {now}, {now}) ON CONFLICT DO NOTHING",
            args.push(currency),
            args.push(holder.wallet_address.as_str()),
            args.push(holder.location.as_str()),
            args.push(holder.character_key.clone()),
            d.numeric(&args.push(amount_text(amount))),
            now = args.push(now),
        );
        if tx.execute(&sql, args).await? == 1 {
            return Ok(amount);
        }
        // The row we collided with was emptied and deleted meanwhile: insert again.
        let Some((id, balance)) = lock_holder(tx, currency, holder).await? else {
            continue;
        };
        let total = balance
            .checked_add(amount)
            .ok_or_else(|| XrplError::invalid("amount", "the balance would overflow"))?;
        set_balance(tx, id, total, now).await?;
        return Ok(total);
    }
    Err(XrplError::Corrupt(format!(
        "balance row of {currency} for {} keeps vanishing",
        holder.wallet_address
    )))
}

/// Inside a write transaction: debit `from` and credit `to`, locking the two
/// rows in a fixed order (the holders' order), so opposite moves running at
/// once cannot deadlock. Returns the two balances after the move, `from`'s
/// first.
pub(crate) async fn move_between(
    tx: &mut Tx,
    currency: &str,
    from: &Holder,
    from_field: &'static str,
    to: &Holder,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Result<(Decimal, Decimal), XrplError> {
    if from < to {
        let from_balance = debit_row(tx, currency, from, from_field, amount, now).await?;
        let to_balance = credit_row(tx, currency, to, amount, now).await?;
        Ok((from_balance, to_balance))
    } else {
        let to_balance = credit_row(tx, currency, to, amount, now).await?;
        let from_balance = debit_row(tx, currency, from, from_field, amount, now).await?;
        Ok((from_balance, to_balance))
    }
}

/// Inside a transaction: write one `xrpl_fungibletransferlog` row. Returns its id.
pub(crate) async fn log_fungible_transfer(
    tx: &mut Tx,
    currency: &str,
    from: &str,
    to: &str,
    amount: Decimal,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<i64, XrplError> {
    let d = tx.dialect();
    let mut args = Args::new();
    let sql = format!(
        "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type, timestamp)
         VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
        args.push(currency),
        args.push(from),
        args.push(to),
        d.numeric(&args.push(amount_text(amount))),
        args.push(kind),
        args.push(now)
    );
    let (id,): (i64,) = tx.fetch_one(&sql, args).await?;
    Ok(id)
}

/// Inside a transaction: refuse a currency code missing from the catalogue.
pub(crate) async fn ensure_currency(tx: &mut Tx, currency: &str) -> Result<(), XrplError> {
    let mut args = Args::new();
    args.push(currency);
    let known: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM xrpl_currencytype WHERE currency_code = $1",
            args,
        )
        .await?;
    match known {
        Some(_) => Ok(()),
        None => Err(XrplError::UnknownCurrency(currency.to_owned())),
    }
}

pub(crate) fn check_currency(code: &str) -> Result<(), XrplError> {
    check_text("currency_code", code, CURRENCY_MAX)
}

impl BalanceChange {
    fn check(&self) -> Result<Decimal, XrplError> {
        check_currency(&self.currency_code)?;
        self.holder.check(HOLDER)?;
        check_text("transfer_type", &self.transfer_type, TRANSFER_TYPE_MAX)?;
        parse_amount("amount", &self.amount)
    }

    fn receipt(&self, amount: Decimal, balance: Decimal, transfer_log_id: i64) -> ChangeReceipt {
        ChangeReceipt {
            currency_code: self.currency_code.clone(),
            holder: self.holder.clone(),
            amount: amount_text(amount),
            balance: amount_text(balance),
            transfer_log_id,
        }
    }
}

/// Add to the holder's balance (creating its row), logged as a transfer from `MINT`.
pub async fn credit_in(tx: &mut Tx, c: &BalanceChange) -> Result<ChangeReceipt, XrplError> {
    let amount = c.check()?;
    let now = now_micros();
    let currency = c.currency_code.as_str();
    ensure_currency(tx, currency).await?;
    let balance = credit_row(tx, currency, &c.holder, amount, now).await?;
    let to = &c.holder.wallet_address;
    let log_id =
        log_fungible_transfer(tx, currency, MINT, to, amount, &c.transfer_type, now).await?;
    Ok(c.receipt(amount, balance, log_id))
}

/// Subtract from the holder's balance, logged as a transfer to `BURN`. An
/// overdraft is refused with [`XrplError::InsufficientFunds`] and changes
/// nothing; a row reaching zero is deleted.
pub async fn debit_in(tx: &mut Tx, c: &BalanceChange) -> Result<ChangeReceipt, XrplError> {
    let amount = c.check()?;
    let now = now_micros();
    let currency = c.currency_code.as_str();
    ensure_currency(tx, currency).await?;
    let balance = debit_row(tx, currency, &c.holder, HOLDER.holder, amount, now).await?;
    let from = &c.holder.wallet_address;
    let log_id =
        log_fungible_transfer(tx, currency, from, BURN, amount, &c.transfer_type, now).await?;
    Ok(c.receipt(amount, balance, log_id))
}

/// Move an amount between two holders: debit, credit, and (between different
/// wallets) the transfer log row. Nothing is written when any step fails. The
/// two rows are locked in a fixed order, so opposite transfers running at
/// once cannot deadlock.
pub async fn transfer_in(tx: &mut Tx, t: &FungibleTransfer) -> Result<TransferReceipt, XrplError> {
    check_currency(&t.currency_code)?;
    t.from.check(FROM)?;
    t.to.check(TO)?;
    check_text("transfer_type", &t.transfer_type, TRANSFER_TYPE_MAX)?;
    if t.from == t.to {
        return Err(XrplError::invalid(
            "to",
            "the sender and the receiver are the same holder",
        ));
    }
    let amount = parse_amount("amount", &t.amount)?;
    let now = now_micros();
    let currency = t.currency_code.as_str();
    ensure_currency(tx, currency).await?;
    let (from_balance, to_balance) =
        move_between(tx, currency, &t.from, FROM.holder, &t.to, amount, now).await?;
    let (from, to) = (&t.from.wallet_address, &t.to.wallet_address);
    let transfer_log_id = if from != to {
        Some(log_fungible_transfer(tx, currency, from, to, amount, &t.transfer_type, now).await?)
    } else {
        None
    };
    Ok(TransferReceipt {
        from_balance: amount_text(from_balance),
        to_balance: amount_text(to_balance),
        transfer_log_id,
    })
}

fn plain_change(currency_code: &str, holder: &Holder, amount: &str, kind: &str) -> BalanceChange {
    BalanceChange {
        currency_code: currency_code.to_owned(),
        holder: holder.clone(),
        amount: amount.to_owned(),
        transfer_type: kind.to_owned(),
    }
}

/// [`credit_in`] in a transaction of its own, logged as `credit`. Returns the new balance.
pub async fn credit(
    db: &Db,
    currency_code: &str,
    holder: &Holder,
    amount: &str,
) -> Result<String, XrplError> {
    let c = plain_change(currency_code, holder, amount, "credit");
    let receipt = write(db, async |tx| credit_in(tx, &c).await).await?;
    Ok(receipt.balance)
}

/// [`debit_in`] in a transaction of its own, logged as `debit`. Returns the remaining balance.
pub async fn debit(
    db: &Db,
    currency_code: &str,
    holder: &Holder,
    amount: &str,
) -> Result<String, XrplError> {
    let c = plain_change(currency_code, holder, amount, "debit");
    let receipt = write(db, async |tx| debit_in(tx, &c).await).await?;
    Ok(receipt.balance)
}

/// [`transfer_in`] in a transaction of its own.
pub async fn transfer(db: &Db, t: &FungibleTransfer) -> Result<TransferReceipt, XrplError> {
    write(db, async |tx| transfer_in(tx, t).await).await
}
