//! In-game fungible balances (`xrpl_fungiblegamestate`) and their transfer log.
//!
//! One row per (currency, wallet, location) — per character key too for
//! CHARACTER — with a balance above zero: a debit that empties a row deletes it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    CHARACTER_KEY_MAX, CURRENCY_MAX, FungibleLocation, TRANSFER_TYPE_MAX, WALLET_MAX, XrplError,
    amount_text, check_text, parse_amount,
};
use crate::db::{Alias, Db, now_micros};
use crate::with_pool;

/// Who holds a balance: a wallet at a location, and for CHARACTER the character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holder {
    pub wallet_address: String,
    pub location: FungibleLocation,
    /// Set exactly when `location` is CHARACTER.
    pub character_key: Option<String>,
}

impl Holder {
    /// A holder at a location other than CHARACTER.
    pub fn new(wallet_address: impl Into<String>, location: FungibleLocation) -> Self {
        Self {
            wallet_address: wallet_address.into(),
            location,
            character_key: None,
        }
    }

    /// A character's purse.
    pub fn character(wallet_address: impl Into<String>, character_key: impl Into<String>) -> Self {
        Self {
            wallet_address: wallet_address.into(),
            location: FungibleLocation::Character,
            character_key: Some(character_key.into()),
        }
    }

    /// The character key as matched in SQL (`COALESCE(character_key, '')`).
    pub(crate) fn key_or_empty(&self) -> &str {
        self.character_key.as_deref().unwrap_or("")
    }

    pub(crate) fn check(&self, fields: HolderFields) -> Result<(), XrplError> {
        check_text(fields.wallet, &self.wallet_address, WALLET_MAX)?;
        match (&self.location, &self.character_key) {
            (FungibleLocation::Character, Some(key)) => {
                check_text(fields.character_key, key, CHARACTER_KEY_MAX)
            }
            (FungibleLocation::Character, None) => Err(XrplError::invalid(
                fields.character_key,
                "a CHARACTER balance needs a character key",
            )),
            (_, Some(_)) => Err(XrplError::invalid(
                fields.character_key,
                format!(
                    "only CHARACTER balances have a character key, not {}",
                    self.location
                ),
            )),
            (_, None) => Ok(()),
        }
    }
}

/// Field names a holder's errors report.
#[derive(Clone, Copy)]
pub(crate) struct HolderFields {
    pub wallet: &'static str,
    pub character_key: &'static str,
}

pub(crate) const HOLDER: HolderFields = HolderFields {
    wallet: "wallet_address",
    character_key: "character_key",
};
const FROM: HolderFields = HolderFields {
    wallet: "from.wallet_address",
    character_key: "from.character_key",
};
const TO: HolderFields = HolderFields {
    wallet: "to.wallet_address",
    character_key: "to.character_key",
};

/// One balance row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Balance {
    pub id: i64,
    pub currency_code: String,
    pub wallet_address: String,
    pub location: String,
    pub character_key: Option<String>,
    /// Decimal text with six places.
    pub balance: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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

/// Inside a write transaction: lock the holder's row, refuse an overdraft,
/// subtract, delete the row at zero. Evaluates to the remaining balance. On
/// SQLite the transaction's `BEGIN IMMEDIATE` already serialises writers.
macro_rules! debit_row {
    ($p:ident, $tx:ident, $currency:expr, $holder:expr, $amount:expr, $now:expr) => {{
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

/// Add `amount` to the holder's balance (creating the row). Returns the new balance.
pub async fn credit(
    db: &Db,
    currency_code: &str,
    holder: &Holder,
    amount: &str,
) -> Result<String, XrplError> {
    check_currency(currency_code)?;
    holder.check(HOLDER)?;
    let amount = parse_amount("amount", amount)?;
    let now = now_micros();
    let total = with_pool!(db.pool(Alias::Xrpl), |p| {
        let mut tx = p.begin_write().await?;
        ensure_currency!(tx, currency_code);
        let total = credit_row!(p, tx, currency_code, holder, amount, now);
        tx.commit().await?;
        total
    });
    Ok(amount_text(total))
}

/// Subtract `amount` from the holder's balance, refusing an overdraft with
/// [`XrplError::InsufficientFunds`]; the row is deleted when it reaches zero.
/// Returns the remaining balance.
pub async fn debit(
    db: &Db,
    currency_code: &str,
    holder: &Holder,
    amount: &str,
) -> Result<String, XrplError> {
    check_currency(currency_code)?;
    holder.check(HOLDER)?;
    let amount = parse_amount("amount", amount)?;
    let now = now_micros();
    let remaining = with_pool!(db.pool(Alias::Xrpl), |p| {
        let mut tx = p.begin_write().await?;
        let remaining = debit_row!(p, tx, currency_code, holder, amount, now);
        tx.commit().await?;
        remaining
    });
    Ok(amount_text(remaining))
}

/// Move an amount between two holders in one transaction: debit, credit, and
/// (between different wallets) the transfer log row. Nothing is written when
/// any step fails. The two rows are locked in a fixed order, so opposite
/// transfers running at once cannot deadlock.
pub async fn transfer(db: &Db, t: &FungibleTransfer) -> Result<TransferReceipt, XrplError> {
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
    let receipt = with_pool!(db.pool(Alias::Xrpl), |p| {
        let mut tx = p.begin_write().await?;
        ensure_currency!(tx, currency);
        let (from_balance, to_balance) = if debit_first {
            let from_balance = debit_row!(p, tx, currency, &t.from, amount, now);
            (
                from_balance,
                credit_row!(p, tx, currency, &t.to, amount, now),
            )
        } else {
            let to_balance = credit_row!(p, tx, currency, &t.to, amount, now);
            (
                debit_row!(p, tx, currency, &t.from, amount, now),
                to_balance,
            )
        };
        let transfer_log_id = if logged {
            Some(log_fungible_transfer!(
                p,
                tx,
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
        tx.commit().await?;
        TransferReceipt {
            from_balance: amount_text(from_balance),
            to_balance: amount_text(to_balance),
            transfer_log_id,
        }
    });
    Ok(receipt)
}

const BALANCE_SELECT: &str = "SELECT id, currency_code, wallet_address, location, character_key,
        CAST(balance AS TEXT) AS balance, created_at, updated_at
     FROM xrpl_fungiblegamestate";

/// The holder's balance of a currency (`0.000000` when it has none).
pub async fn balance(db: &Db, currency_code: &str, holder: &Holder) -> Result<String, XrplError> {
    holder.check(HOLDER)?;
    let row: Option<(i64, String)> = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as(holder_row_sql!())
            .bind(currency_code)
            .bind(&holder.wallet_address)
            .bind(holder.location.as_str())
            .bind(holder.key_or_empty())
            .fetch_optional(p)
            .await?
    });
    match row {
        Some((_, text)) => Ok(amount_text(super::stored_decimal(&text)?)),
        None => Ok(amount_text(Decimal::ZERO)),
    }
}

async fn balances_where(
    db: &Db,
    condition: &'static str,
    value: &str,
) -> Result<Vec<Balance>, XrplError> {
    let rows = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, Balance>(sqlx::AssertSqlSafe(format!(
            "{BALANCE_SELECT} WHERE {condition} ORDER BY id"
        )))
        .bind(value)
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

/// Every balance of a wallet, at every location.
pub async fn balances_by_wallet(db: &Db, wallet_address: &str) -> Result<Vec<Balance>, XrplError> {
    balances_where(db, "wallet_address = $1", wallet_address).await
}

/// Every balance at a location.
pub async fn balances_by_location(
    db: &Db,
    location: FungibleLocation,
) -> Result<Vec<Balance>, XrplError> {
    balances_where(db, "location = $1", location.as_str()).await
}

/// Every balance a character carries.
pub async fn balances_by_character(
    db: &Db,
    character_key: &str,
) -> Result<Vec<Balance>, XrplError> {
    balances_where(
        db,
        "location = 'CHARACTER' AND character_key = $1",
        character_key,
    )
    .await
}
