//! Reading fungible balances: one holder's, or pages of rows filtered by
//! wallet, location, character and currency.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::fungible::{HOLDER_ROW, holder_args};
use super::holder::HOLDER;
use super::{FungibleLocation, Holder, XrplError, amount_text, check_page, stored_decimal};
use crate::db::{Alias, Args, Db};

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

/// Which balance rows to list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceFilter {
    pub wallet_address: Option<String>,
    pub location: Option<FungibleLocation>,
    pub character_key: Option<String>,
    pub currency_code: Option<String>,
}

/// The holder's balance of a currency (`0.000000` when it has none).
pub async fn balance(db: &Db, currency_code: &str, holder: &Holder) -> Result<String, XrplError> {
    holder.check(HOLDER)?;
    let row: Option<(i64, String)> = db
        .pool(Alias::Xrpl)
        .fetch_optional(HOLDER_ROW, holder_args(currency_code, holder))
        .await?;
    match row {
        Some((_, text)) => Ok(amount_text(stored_decimal(&text)?)),
        None => Ok(amount_text(Decimal::ZERO)),
    }
}

/// Rows matching `filter` with an id above `after`, by id, at most `limit`
/// (all of them when `None`).
async fn select(
    db: &Db,
    filter: &BalanceFilter,
    after: i64,
    limit: Option<i64>,
) -> Result<Vec<Balance>, XrplError> {
    let mut args = Args::new();
    args.push(after);
    args.push(filter.wallet_address.clone());
    args.push(filter.location.map(|l| l.as_str().to_owned()));
    args.push(filter.character_key.clone());
    args.push(filter.currency_code.clone());
    args.push(limit.unwrap_or(i64::MAX));
    let rows = db
        .pool(Alias::Xrpl)
        .fetch_all(
            "SELECT id, currency_code, wallet_address, location, character_key,
                    CAST(balance AS TEXT) AS balance, created_at, updated_at
             FROM xrpl_fungiblegamestate
             WHERE id > $1
               AND ($2 IS NULL OR wallet_address = $2)
               AND ($3 IS NULL OR location = $3)
               AND ($4 IS NULL OR character_key = $4)
               AND ($5 IS NULL OR currency_code = $5)
             ORDER BY id LIMIT $6",
            args,
        )
        .await?;
    Ok(rows)
}

/// A page of balance rows matching `filter`: ids above `after`, at most `limit`.
pub async fn balances(
    db: &Db,
    filter: &BalanceFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<Balance>, XrplError> {
    check_page(limit)?;
    select(db, filter, after, Some(limit)).await
}

/// Every balance of a wallet, at every location.
pub async fn balances_by_wallet(db: &Db, wallet_address: &str) -> Result<Vec<Balance>, XrplError> {
    let filter = BalanceFilter {
        wallet_address: Some(wallet_address.to_owned()),
        ..BalanceFilter::default()
    };
    select(db, &filter, 0, None).await
}

/// Every balance at a location.
pub async fn balances_by_location(
    db: &Db,
    location: FungibleLocation,
) -> Result<Vec<Balance>, XrplError> {
    let filter = BalanceFilter {
        location: Some(location),
        ..BalanceFilter::default()
    };
    select(db, &filter, 0, None).await
}

/// Every balance a character carries.
pub async fn balances_by_character(
    db: &Db,
    character_key: &str,
) -> Result<Vec<Balance>, XrplError> {
    let filter = BalanceFilter {
        location: Some(FungibleLocation::Character),
        character_key: Some(character_key.to_owned()),
        ..BalanceFilter::default()
    };
    select(db, &filter, 0, None).await
}
