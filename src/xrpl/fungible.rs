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

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::holder::{FROM, HOLDER, TO};
use super::tx::{XrplTx, with_tx, write};
use super::{
    BURN, CURRENCY_MAX, Holder, MINT, TRANSFER_TYPE_MAX, XrplError, amount_text, check_text,
    parse_amount,
};
use crate::db::{Db, now_micros};

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

macro_rules! holder_row_sql {
    () => {
        "SELECT id, CAST(balance AS TEXT) FROM xrpl_fungiblegamestate
         WHERE currency_code = $1 AND wallet_address = $2 AND location = $3
           AND COALESCE(character_key, '') = $4"
    };
}

/// Inside a write transaction: lock the holder's row, refuse an overdraft
/// (naming the holder and its request `field`), subtract, delete the row at
/// zero. Evaluates to the remaining balance. On SQLite the transaction's
/// `BEGIN IMMEDIATE` already serialises writers.
macro_rules! debit_row {
    ($p:ident, $tx:ident, $currency:expr, $holder:expr, $field:expr, $amount:expr, $now:expr) => {{
        let currency: &str = $currency;
        let holder: &$crate::xrpl::Holder = $holder;
        let amount: rust_decimal::Decimal = $amount;
        let row: Option<(i64, String)> = sqlx::query_as($p.pick(
            $crate::xrpl::fungible::holder_row_sql!(),
            concat!($crate::xrpl::fungible::holder_row_sql!(), " FOR UPDATE"),
        ))
        .bind(currency)
        .bind(&holder.wallet_address)
        .bind(holder.location.as_str())
        .bind(holder.key_or_empty())
        .fetch_optional(&mut *$tx)
        .await?;
        let (id, available) = match row {
            Some((id, text)) => (id, $crate::xrpl::stored_decimal(&text)?),
            None => (0, rust_decimal::Decimal::ZERO),
        };
        if available < amount {
            return Err($crate::xrpl::XrplError::InsufficientFunds {
                currency_code: currency.to_owned(),
                holder: holder.to_string(),
                field: $field,
                available: $crate::xrpl::amount_text(available),
                requested: $crate::xrpl::amount_text(amount),
            });
        }
        let remaining = available - amount;
        if remaining.is_zero() {
            sqlx::query("DELETE FROM xrpl_fungiblegamestate WHERE id = $1")
                .bind(id)
                .execute(&mut *$tx)
                .await?;
        } else {
            sqlx::query($p.pick(
                "UPDATE xrpl_fungiblegamestate SET balance = $1, updated_at = $2 WHERE id = $3",
                "UPDATE xrpl_fungiblegamestate SET balance = CAST($1 AS NUMERIC), updated_at = $2 WHERE id = $3",
            ))
            .bind($crate::xrpl::amount_text(remaining))
            .bind($now)
            .bind(id)
            .execute(&mut *$tx)
            .await?;
        }
        remaining
    }};
}

/// Inside a write transaction: add to the holder's row, creating it when
/// missing. Evaluates to the new balance. `ON CONFLICT DO NOTHING` makes two
/// concurrent first credits meet on the unique index instead of failing.
macro_rules! credit_row {
    ($p:ident, $tx:ident, $currency:expr, $holder:expr, $amount:expr, $now:expr) => {{
        let currency: &str = $currency;
        let holder: &$crate::xrpl::Holder = $holder;
        let amount: rust_decimal::Decimal = $amount;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let inserted = sqlx::query($p.pick(
                "INSERT INTO xrpl_fungiblegamestate
                   (currency_code, wallet_address, location, character_key, balance, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                "INSERT INTO xrpl_fungiblegamestate
                   (currency_code, wallet_address, location, character_key, balance, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, CAST($5 AS NUMERIC), $6, $6) ON CONFLICT DO NOTHING",
            ))
            .bind(currency)
            .bind(&holder.wallet_address)
            .bind(holder.location.as_str())
            .bind(holder.character_key.as_deref())
            .bind($crate::xrpl::amount_text(amount))
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            if inserted.rows_affected() == 1 {
                break amount;
            }
            let row: Option<(i64, String)> = sqlx::query_as($p.pick(
                $crate::xrpl::fungible::holder_row_sql!(),
                concat!($crate::xrpl::fungible::holder_row_sql!(), " FOR UPDATE"),
            ))
            .bind(currency)
            .bind(&holder.wallet_address)
            .bind(holder.location.as_str())
            .bind(holder.key_or_empty())
            .fetch_optional(&mut *$tx)
            .await?;
            // The row we collided with was emptied and deleted meanwhile: insert again.
            let Some((id, text)) = row else {
                if attempts < 3 {
                    continue;
                }
                return Err($crate::xrpl::XrplError::Corrupt(format!(
                    "balance row of {currency} for {} keeps vanishing",
                    holder.wallet_address
                )));
            };
            let total = $crate::xrpl::stored_decimal(&text)?
                .checked_add(amount)
                .ok_or_else(|| $crate::xrpl::XrplError::invalid("amount", "the balance would overflow"))?;
            sqlx::query($p.pick(
                "UPDATE xrpl_fungiblegamestate SET balance = $1, updated_at = $2 WHERE id = $3",
                "UPDATE xrpl_fungiblegamestate SET balance = CAST($1 AS NUMERIC), updated_at = $2 WHERE id = $3",
            ))
            .bind($crate::xrpl::amount_text(total))
            .bind($now)
            .bind(id)
            .execute(&mut *$tx)
            .await?;
            break total;
        }
    }};
}

/// Inside a transaction: write one `xrpl_fungibletransferlog` row, evaluating to its id.
macro_rules! log_fungible_transfer {
    ($p:ident, $tx:ident, $currency:expr, $from:expr, $to:expr, $amount:expr, $kind:expr, $now:expr) => {{
        let (id,): (i64,) = sqlx::query_as($p.pick(
            "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type, timestamp)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type, timestamp)
             VALUES ($1, $2, $3, CAST($4 AS NUMERIC), $5, $6) RETURNING id",
        ))
        .bind($currency)
        .bind($from)
        .bind($to)
        .bind($crate::xrpl::amount_text($amount))
        .bind($kind)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        id
    }};
}

/// Inside a transaction: refuse a currency code missing from the catalogue.
macro_rules! ensure_currency {
    ($tx:ident, $currency:expr) => {{
        let currency: &str = $currency;
        let known: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM xrpl_currencytype WHERE currency_code = $1")
                .bind(currency)
                .fetch_optional(&mut *$tx)
                .await?;
        if known.is_none() {
            return Err($crate::xrpl::XrplError::UnknownCurrency(
                currency.to_owned(),
            ));
        }
    }};
}

pub(crate) use {credit_row, debit_row, ensure_currency, holder_row_sql, log_fungible_transfer};

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
pub async fn credit_in(tx: &mut XrplTx, c: &BalanceChange) -> Result<ChangeReceipt, XrplError> {
    let amount = c.check()?;
    let now = now_micros();
    let currency = c.currency_code.as_str();
    let (balance, log_id) = with_tx!(tx, |p, conn| {
        ensure_currency!(conn, currency);
        let balance = credit_row!(p, conn, currency, &c.holder, amount, now);
        let log_id = log_fungible_transfer!(
            p,
            conn,
            currency,
            MINT,
            &c.holder.wallet_address,
            amount,
            &c.transfer_type,
            now
        );
        (balance, log_id)
    });
    Ok(c.receipt(amount, balance, log_id))
}

/// Subtract from the holder's balance, logged as a transfer to `BURN`. An
/// overdraft is refused with [`XrplError::InsufficientFunds`] and changes
/// nothing; a row reaching zero is deleted.
pub async fn debit_in(tx: &mut XrplTx, c: &BalanceChange) -> Result<ChangeReceipt, XrplError> {
    let amount = c.check()?;
    let now = now_micros();
    let currency = c.currency_code.as_str();
    let (balance, log_id) = with_tx!(tx, |p, conn| {
        ensure_currency!(conn, currency);
        let balance = debit_row!(p, conn, currency, &c.holder, HOLDER.holder, amount, now);
        let log_id = log_fungible_transfer!(
            p,
            conn,
            currency,
            &c.holder.wallet_address,
            BURN,
            amount,
            &c.transfer_type,
            now
        );
        (balance, log_id)
    });
    Ok(c.receipt(amount, balance, log_id))
}

/// Move an amount between two holders: debit, credit, and (between different
/// wallets) the transfer log row. Nothing is written when any step fails. The
/// two rows are locked in a fixed order, so opposite transfers running at
/// once cannot deadlock.
pub async fn transfer_in(
    tx: &mut XrplTx,
    t: &FungibleTransfer,
) -> Result<TransferReceipt, XrplError> {
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
    let debit_first = t.from < t.to;
    let logged = t.from.wallet_address != t.to.wallet_address;
    let currency = t.currency_code.as_str();
    let receipt = with_tx!(tx, |p, conn| {
        ensure_currency!(conn, currency);
        let (from_balance, to_balance) = if debit_first {
            let from_balance = debit_row!(p, conn, currency, &t.from, FROM.holder, amount, now);
            (
                from_balance,
                credit_row!(p, conn, currency, &t.to, amount, now),
            )
        } else {
            let to_balance = credit_row!(p, conn, currency, &t.to, amount, now);
            (
                debit_row!(p, conn, currency, &t.from, FROM.holder, amount, now),
                to_balance,
            )
        };
        let transfer_log_id = if logged {
            Some(log_fungible_transfer!(
                p,
                conn,
                currency,
                &t.from.wallet_address,
                &t.to.wallet_address,
                amount,
                &t.transfer_type,
                now
            ))
        } else {
            None
        };
        TransferReceipt {
            from_balance: amount_text(from_balance),
            to_balance: amount_text(to_balance),
            transfer_log_id,
        }
    });
    Ok(receipt)
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
